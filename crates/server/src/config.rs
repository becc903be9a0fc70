//! Broker configuration: listeners, TLS, authentication, limits, the default user and the
//! resource thresholds, with RabbitMQ 3.10's defaults. The settings layer fills it from files,
//! the environment and flags; each field names the `rabbitmq.conf` key it comes from
//! (docs/configuration.md lists them all).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The largest `max_message_size` (and `frame_max`) the broker accepts: 512 MiB, RabbitMQ's cap
/// on message sizes. A message is held in one allocation with 32-bit lengths (`message/mod.rs`).
pub const MESSAGE_SIZE_LIMIT: u64 = 512 << 20;

#[derive(Debug, Clone)]
pub struct Config {
    /// `listeners.tcp.*`: addresses to listen on. Empty means `[::]:5672` (dual-stack), falling
    /// back to `0.0.0.0:5672` where IPv6 is unavailable.
    pub listen: Vec<SocketAddr>,
    /// `listeners.ssl.*`: AMQPS addresses (RabbitMQ's port is 5671). None by default; they
    /// need `ssl_options` with a certificate and key.
    pub tls_listen: Vec<SocketAddr>,
    /// `ssl_options.*`: the certificate, key and client-certificate policy of every TLS
    /// listener (AMQPS now, the HTTP listeners later).
    pub tls: TlsOptions,
    /// `auth_mechanisms.*`: the SASL mechanisms offered, in order (RabbitMQ: PLAIN, AMQPLAIN;
    /// EXTERNAL is added by its `rabbitmq_auth_mechanism_ssl` plugin).
    pub auth_mechanisms: Vec<String>,
    /// `ssl_cert_login_from`: which part of a client certificate is the EXTERNAL user name.
    pub ssl_cert_login_from: CertLoginFrom,
    /// `load_definitions`: a RabbitMQ definitions JSON file imported at boot.
    pub load_definitions: Option<PathBuf>,
    /// Where durable state lives (used by the store).
    pub data_dir: PathBuf,
    pub default_user: String,
    pub default_pass: String,
    pub default_vhost: String,
    /// `default_user_tags.*` (RabbitMQ: administrator).
    pub default_user_tags: Vec<String>,
    /// `default_permissions.*`: the default user's permissions in the default vhost.
    pub default_permissions: PermissionPatterns,
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
    /// `management.tcp.port` (RabbitMQ: 15672).
    pub management_port: u16,
    /// `prometheus.tcp.port` (RabbitMQ: 15692).
    pub prometheus_port: u16,
    /// `vm_memory_high_watermark.*`: above it, publishers are blocked (RabbitMQ: 0.4 of RAM).
    pub memory_high_watermark: MemoryWatermark,
    /// `vm_memory_high_watermark_paging_ratio`: past this fraction of the watermark, queues
    /// page message bodies out to the store (RabbitMQ: 0.5).
    pub memory_paging_ratio: f64,
    /// `disk_free_limit.*`: below it, publishers are blocked (RabbitMQ: 50 MB).
    pub disk_free_limit: DiskFreeLimit,
    /// `consumer_timeout`: how long a delivery may stay unacknowledged before its channel is
    /// closed with 406 (RabbitMQ 3.10: 30 minutes). `None`: never.
    pub consumer_timeout: Option<Duration>,
    /// `listeners.tcp = none`: no plain AMQP listener at all (TLS ones only), rather than the
    /// default `[::]:5672` an empty `listen` stands for.
    pub no_tcp_listeners: bool,
    /// `management.enabled` (Warren's; RabbitMQ disables its plugin instead): `false` starts
    /// no management HTTP API.
    pub management_enabled: bool,
    /// `management.ssl.port`: the management API over HTTPS too (RabbitMQ: usually 15671),
    /// with `management.ssl.*` as its TLS options.
    pub management_ssl_port: Option<u16>,
    pub management_tls: TlsOptions,
    /// `prometheus.ssl.port`: the metrics over HTTPS too (RabbitMQ: usually 15691), with
    /// `prometheus.ssl.*` as its TLS options.
    pub prometheus_ssl_port: Option<u16>,
    pub prometheus_tls: TlsOptions,
    /// The console log: `log.console` (on), `log.console.level` / `log.default.level`
    /// (info), `log.console.formatter` (plaintext or json), `log.console.use_colors`.
    pub log: LogOptions,
}

/// A user's configure, write and read permission patterns (regular expressions), as
/// RabbitMQ's `set_permissions` takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionPatterns {
    pub configure: String,
    pub write: String,
    pub read: String,
}

impl Default for PermissionPatterns {
    /// RabbitMQ's `default_permissions`: everything.
    fn default() -> Self {
        PermissionPatterns {
            configure: ".*".into(),
            write: ".*".into(),
            read: ".*".into(),
        }
    }
}

/// `ssl_options.*`, as RabbitMQ names them (PEM files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `ssl_options.cacertfile`: the CAs client certificates are verified against.
    pub cacertfile: Option<PathBuf>,
    /// `ssl_options.certfile`: the server's certificate chain.
    pub certfile: Option<PathBuf>,
    /// `ssl_options.keyfile`: the server's private key.
    pub keyfile: Option<PathBuf>,
    /// `ssl_options.verify`: `verify_peer` asks for a client certificate and checks it.
    pub verify_peer: bool,
    /// `ssl_options.fail_if_no_peer_cert`: with `verify_peer`, refuse clients without one.
    pub fail_if_no_peer_cert: bool,
    /// `ssl_options.versions.*`: allowed TLS versions; empty means TLS 1.2 and 1.3.
    pub versions: Vec<TlsVersion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// `ssl_cert_login_from`: RabbitMQ's default is the whole distinguished name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CertLoginFrom {
    #[default]
    DistinguishedName,
    CommonName,
}

/// `vm_memory_high_watermark.relative` or `.absolute`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryWatermark {
    /// A fraction of the machine's (or cgroup's) memory.
    Relative(f64),
    /// Bytes.
    Absolute(u64),
}

/// `disk_free_limit.absolute` or `.relative` (to the machine's memory).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiskFreeLimit {
    Absolute(u64),
    MemRelative(f64),
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: Vec::new(),
            tls_listen: Vec::new(),
            tls: TlsOptions::default(),
            auth_mechanisms: vec!["PLAIN".into(), "AMQPLAIN".into()],
            ssl_cert_login_from: CertLoginFrom::default(),
            load_definitions: None,
            data_dir: PathBuf::from("./data"),
            default_user: "guest".into(),
            default_pass: "guest".into(),
            default_vhost: "/".into(),
            default_user_tags: vec!["administrator".into()],
            default_permissions: PermissionPatterns::default(),
            loopback_users: vec!["guest".into()],
            frame_max: 131_072,
            channel_max: 2047,
            heartbeat: 60,
            max_message_size: 128 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            closing_timeout: Duration::from_secs(30),
            store_pending_max: 64 * 1024 * 1024,
            store_options: warren_store::StoreOptions::default(),
            management_port: 15672,
            prometheus_port: 15692,
            memory_high_watermark: MemoryWatermark::Relative(0.4),
            memory_paging_ratio: 0.5,
            disk_free_limit: DiskFreeLimit::Absolute(50_000_000),
            consumer_timeout: Some(Duration::from_secs(30 * 60)),
            no_tcp_listeners: false,
            management_enabled: true,
            management_ssl_port: None,
            management_tls: TlsOptions::default(),
            prometheus_ssl_port: None,
            prometheus_tls: TlsOptions::default(),
            log: LogOptions::default(),
        }
    }
}

/// How the broker logs to its console (stderr): RabbitMQ's `log.console.*` keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// `log.console`: `false` logs nothing.
    pub enabled: bool,
    /// `log.console.level`: RabbitMQ's level names; `None`: `log.default.level`, else info.
    pub level: Option<LogLevel>,
    /// `log.default.level`.
    pub default_level: Option<LogLevel>,
    /// `log.console.formatter`.
    pub json: bool,
    /// `log.console.use_colors`: `None` = only on a terminal.
    pub colors: Option<bool>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            enabled: true,
            level: None,
            default_level: None,
            json: false,
            colors: None,
        }
    }
}

/// RabbitMQ's log levels, as `tracing` has them (`notice` is info, `critical` and above are
/// error, `none` logs nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    None,
}
