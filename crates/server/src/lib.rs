//! warren-server: the Warren broker.
//!
//! The public API is small: [`Server`] (start, addresses, shutdown), [`Config`], the
//! [`Admin`] facade (`server.admin()`) and its plain-data [`admin::types`], and [`AmqpError`].
//! Everything else is private to the crate.
//!
//! Module map:
//! - [`admin`]: the administration facade for the management crate, the CLI and tests.
//! - [`server`]: binds the listeners, accepts connections, shuts down cleanly.
//! - `connection`: one task per client connection: handshake, frames, channels, methods.
//! - `broker`: vhosts, users and live connections.
//! - `vhost`: exchanges, queues and bindings of one virtual host, with RabbitMQ's checks.
//! - `queue`: ready and unacked messages, consumers, round-robin dispatch with credit.
//! - `events`: what queues send to connections (deliveries, cancels) and prefetch credit.
//! - `flow`: whether connections read from publishers now (store backlog; alarms later).
//! - `publish`: the one fan-out of a routed message into its queues.
//! - `message`: a published message shared by every queue it reached.
//! - `sender_selected`: the `CC` and `BCC` headers' extra routing keys.
//! - `meta`: what goes to the durable store (formats), the one seam every definition write
//!   goes through, and the recovery at startup.
//! - [`error`]: the AMQP error value and its mapping to channel/connection close.
//! - [`config`]: settings with RabbitMQ's defaults.
//! - `clock`: the time TTLs and expiry read (ms since the epoch, on tokio's clock).
//! - `ids`: identifiers shared by the rooms (`ConnectionId`).

pub mod admin;
mod arguments;
mod broker;
mod clock;
pub mod config;
mod connection;
mod dead_letter;
mod delayed;
pub mod error;
mod events;
mod flow;
mod ids;
mod message;
mod meta;
mod publish;
mod queue;
mod sender_selected;
pub mod server;
mod vhost;

/// Internals a benchmark drives directly (the queue without a network), re-exported only
/// for crates/server/benches/queue.rs: no stable API, not for other users.
#[doc(hidden)]
pub mod testing {
    pub use crate::message::{Message, Route};
    pub use crate::queue::{Queue, QueueOptions};
}

pub use admin::Admin;
pub use config::Config;
pub use error::{AmqpError, AmqpResult};
pub use server::Server;
