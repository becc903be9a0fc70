//! Broker configuration: listen addresses, limits and the default user, with RabbitMQ's
//! defaults. Filled from command-line flags and `WARREN_*` environment variables by `main.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The largest `max_message_size` (and `frame_max`) the broker accepts: 512 MiB, RabbitMQ's cap
/// on message sizes. A message is held in one allocation with 32-bit lengths (`message/mod.rs`).
pub const MESSAGE_SIZE_LIMIT: u64 = 512 << 20;

#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses to listen on. Empty means `[::]:5672` (dual-stack), falling back to
    /// `0.0.0.0:5672` where IPv6 is unavailable.
    pub listen: Vec<SocketAddr>,
    /// Where durable state lives (used by the store).
    pub data_dir: PathBuf,
    pub default_user: String,
    pub default_pass: String,
    pub default_vhost: String,
    /// Like RabbitMQ's `loopback_users`: these users may only log in from a loopback address.
    pub loopback_users: Vec<String>,
    /// Largest frame we accept and offer in connection.tune (RabbitMQ: 131072).
    pub frame_max: u32,
    /// Most channels per connection (RabbitMQ: 2047).
    pub channel_max: u16,
    /// Heartbeat we propose in seconds (RabbitMQ: 60).
    pub heartbeat: u16,
    /// Largest message body accepted (RabbitMQ 3.10: 128 MiB; at most
    /// [`MESSAGE_SIZE_LIMIT`]).
    pub max_message_size: u64,
    /// How long a client may take to finish the handshake (RabbitMQ: 10 s).
    pub handshake_timeout: Duration,
    /// How long a closing connection waits for the client's close-ok, and a closed one for
    /// the client to close its socket (RabbitMQ: 30 s).
    pub closing_timeout: Duration,
    /// Flow control: connections stop reading while the store has more than this many bytes
    /// submitted and not yet written.
    pub store_pending_max: u64,
    /// RocksDB and group-commit tuning of the store (docs/storage.md).
    pub store_options: warren_store::StoreOptions,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: Vec::new(),
            data_dir: PathBuf::from("./data"),
            default_user: "guest".into(),
            default_pass: "guest".into(),
            default_vhost: "/".into(),
            loopback_users: vec!["guest".into()],
            frame_max: 131_072,
            channel_max: 2047,
            heartbeat: 60,
            max_message_size: 128 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            closing_timeout: Duration::from_secs(30),
            store_pending_max: 64 * 1024 * 1024,
            store_options: warren_store::StoreOptions::default(),
        }
    }
}
