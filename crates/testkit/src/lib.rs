//! The one test kit for Warren's tests: the end-to-end tests in `tests/`, the lapin interop
//! scenarios in `interop/lapin-suite` and the perf tool's tests all use it, so each helper
//! exists once.
//!
//! - [`start_broker`] and friends: an in-process broker on an ephemeral loopback port over a
//!   temporary RocksDB dir; [`connect`] gives a lapin connection to it, [`open_channel`] a
//!   channel too, [`broker_with_channel`] all three.
//! - [`RawClient`]: a byte-level AMQP client for what no client library sends.
//! - lapin helpers: declarations, confirmed publishes, gets, consumers ([`publish`], [`get_one`],
//!   [`next`]...), field tables ([`field_table`], [`long_str`]).
//! - probes: passive declares on a channel of their own ([`probe_queue`], [`queue_exists`]...).
//! - bounded waits: [`within`], [`within_for`], [`eventually`],
//!   [`eventually_some`]; nothing waits without a deadline.
//! - interop: [`on_each_broker`] runs a scenario against every broker in `WARREN_URL` /
//!   `RABBITMQ_URL`; [`Proxy`] relays (and can cut) a connection.
//! - process: [`spawn_warren`] and [`connect_when_up`] for tests that kill or signal the binary.
//! - [`tls`]: a CA and certificates made at test time, rustls client configurations, lapin
//!   over TLS.

mod broker;
mod interop;
mod lapin_helpers;
mod probes;
mod process;
mod proxy;
mod raw;
pub mod tls;
mod wait;

pub use broker::{
    broker_with_channel, connect, data_dir, open_channel, start_broker, start_broker_in,
    start_broker_with, url,
};
pub use interop::{brokers, on_each_broker, Broker, SCENARIO_LIMIT};
pub use lapin_helpers::*;
pub use probes::{exchange_exists, probe_exchange, probe_queue, probe_ready_count, queue_exists};
pub use process::{connect_when_up, free_port, spawn_warren};
pub use proxy::Proxy;
pub use raw::{Login, RawClient};
pub use wait::{eventually, eventually_some, within, within_for, WAIT};
