//! warren-server: the Warren broker.
//!
//! Module map:
//! - [`server`]: binds the listeners, accepts connections, shuts down cleanly.
//! - `connection`: one task per client connection: handshake, frames, channels, methods.
//! - [`broker`]: vhosts, users and live connections.
//! - [`vhost`]: exchanges, queues and bindings of one virtual host, with RabbitMQ's checks.
//! - [`queue`]: ready and unacked messages, consumers, round-robin dispatch with credit.
//! - [`events`]: what queues send to connections (deliveries, cancels) and prefetch credit.
//! - `flow`: whether connections read from publishers now (store backlog; alarms later).
//! - [`publish`]: the one fan-out of a routed message into its queues.
//! - [`message`]: a published message shared by every queue it reached.
//! - [`sender_selected`]: the `CC` and `BCC` headers' extra routing keys.
//! - [`meta`]: what goes to the durable store (formats), the one seam every definition write
//!   goes through, and the recovery at startup.
//! - [`error`]: the AMQP error value and its mapping to channel/connection close.
//! - [`config`]: settings with RabbitMQ's defaults.
//! - `clock`: the time TTLs and expiry read (ms since the epoch, on tokio's clock).
//! - `ids`: identifiers shared by the rooms (`ConnectionId`).
//! - `tasks`: the broker's detached tasks, cancelled and waited for at shutdown.

pub mod arguments;
pub mod broker;
mod clock;
pub mod config;
mod connection;
pub mod dead_letter;
pub mod delayed;
pub mod error;
pub mod events;
mod flow;
mod ids;
pub mod message;
pub(crate) mod meta;
pub(crate) mod publish;
pub mod queue;
pub mod sender_selected;
pub mod server;
mod tasks;
pub(crate) mod vhost;

pub use config::Config;
pub use server::Server;
