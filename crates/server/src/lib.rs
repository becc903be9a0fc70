//! warren-server: the Warren broker.
//!
//! The public API is small: [`Server`] (start, addresses, shutdown), [`Config`], the
//! [`Admin`] facade (`server.admin()`) and the plain data it returns ([`info`]), [`AmqpError`],
//! and [`set_freed_memory_release`] (how the binary's allocator hands freed pages back).
//! Everything else is private to the crate.
//!
//! The crate is in rooms, and dependencies point down (`scripts/room-deps` checks it; the
//! picture is in docs/server.md, "Rooms"):
//! - leaves: [`config`] (settings with RabbitMQ's defaults), [`error`] (the AMQP error value
//!   and its mapping to channel/connection close), `clock` (the time TTLs and expiry read),
//!   `ids` (`ConnectionId`), `message` (a published message shared by every queue it
//!   reached, and its stored format), `flow` (whether connections read from publishers now),
//!   `credit` (prefetch credit and the delivery window), `tasks` (the broker's detached
//!   tasks, cancelled and waited for at shutdown), [`info`] (the plain-data descriptions
//!   the admin facade returns), `alarms` (the memory and disk alarms, raised through `flow`), `stats` (message and
//!   lifecycle counters: relaxed atomics the hot path bumps).
//! - pure logic: `arguments` (queue and exchange arguments), `dead_letter` (x-death and
//!   dead-letter targets), `sender_selected` (the `CC` and `BCC` headers' rules), [`tls`]
//!   (the rustls configuration from `ssl_options`, client certificate subjects), `policy`
//!   (policies and operator policies: validation, matching, how they combine).
//! - [`access`]: users, password hashes, permissions, topic permissions and limits, and the
//!   pure checks on them.
//! - `meta`: definitions' byte formats and the one seam every definition write goes through.
//! - `queue`: ready and unacked messages, consumers, round-robin dispatch with credit, and
//!   what queues send to connections (`queue::delivery`).
//! - `vhost`: exchanges (the delayed-message one too), queues and bindings of one virtual
//!   host, with RabbitMQ's checks; `publish`: the one fan-out of a routed message.
//! - `broker`: vhosts, users and live connections; `broker::recovery` rebuilds them at
//!   startup.
//! - `connection`: one task per client connection; [`server`]: the listeners and shutdown;
//!   [`admin`]: the administration facade for the management crate, the CLI and tests;
//!   [`settings`]: the one settings layer (defaults, TOML and `rabbitmq.conf` files, the
//!   environment, flags) that builds a [`Config`] for the binary.

pub mod access;
pub mod admin;
mod alarms;
mod arguments;
mod broker;
mod clock;
pub mod config;
mod connection;
mod credit;
mod dead_letter;
pub mod error;
mod flow;
mod ids;
pub mod info;
mod message;
mod meta;
mod policy;
mod publish;
mod queue;
mod sender_selected;
pub mod server;
pub mod settings;
mod stats;
mod tasks;
pub mod tls;
mod vhost;

/// Internals a benchmark drives directly (the queue without a network), re-exported only
/// for crates/server/benches/queue.rs: no stable API, not for other users.
#[doc(hidden)]
pub mod testing {
    pub use crate::message::{Message, Route};
    pub use crate::queue::{Queue, QueueOptions};
}

pub use admin::Admin;
pub use alarms::{set_freed_memory_release, FreedMemoryRelease};
pub use config::Config;
pub use error::{AmqpError, AmqpResult};
pub use server::Server;
