//! warren-server: the Warren broker.
//!
//! The crate is in rooms, and dependencies point down (`scripts/room-deps` checks it; the
//! picture is in docs/server.md, "Rooms"):
//! - leaves: [`config`] (settings with RabbitMQ's defaults), [`error`] (the AMQP error value
//!   and its mapping to channel/connection close), `clock` (the time TTLs and expiry read),
//!   `ids` (`ConnectionId`), [`message`] (a published message shared by every queue it
//!   reached, and its stored format), `flow` (whether connections read from publishers now),
//!   `credit` (prefetch credit and the delivery window).
//! - pure logic: [`arguments`] (queue and exchange arguments), [`dead_letter`] (x-death and
//!   dead-letter targets), [`sender_selected`] (the `CC` and `BCC` headers' rules).
//! - `meta`: definitions' byte formats and the one seam every definition write goes through.
//! - [`queue`]: ready and unacked messages, consumers, round-robin dispatch with credit, and
//!   what queues send to connections (`queue::delivery`).
//! - `vhost`: exchanges (the delayed-message one too), queues and bindings of one virtual
//!   host, with RabbitMQ's checks; `publish`: the one fan-out of a routed message.
//! - [`broker`]: vhosts, users and live connections; `broker::recovery` rebuilds them at
//!   startup.
//! - `connection`: one task per client connection; [`server`]: the listeners and shutdown.

pub mod arguments;
pub mod broker;
mod clock;
pub mod config;
mod connection;
pub(crate) mod credit;
pub mod dead_letter;
pub mod error;
mod flow;
mod ids;
pub mod message;
pub(crate) mod meta;
pub(crate) mod publish;
pub mod queue;
pub mod sender_selected;
pub mod server;
pub(crate) mod vhost;

pub use config::Config;
pub use server::Server;
