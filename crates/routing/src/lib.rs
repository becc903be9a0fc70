//! warren-routing: which queues a published message reaches, with RabbitMQ's semantics.
//!
//! One [`Router`] per vhost holds the exchanges (direct, fanout, topic, headers), the queues
//! they can deliver to and the bindings between them, including exchange-to-exchange
//! bindings and alternate exchanges. [`Router::route`] is the publish hot path; it runs on
//! an immutable snapshot of the topology without taking a lock.
//!
//! Module map:
//! - [`router`]: the `Router`, snapshot publication and the per-thread snapshot cache, and
//!   the routing walk (e2e traversal, cycle protection, dedup).
//! - [`state`]: one immutable version of the topology and the transaction ([`Tx`]) that
//!   derives the next one.
//! - [`topic`]: the topic pattern trie and matcher.
//! - [`headers`]: headers-exchange argument parsing and matching.
//! - [`dest`]: binding destinations and per-match-point destination sets.
//! - [`pmap`]: the persistent hash map everything above is built from.
//!
//! Design and measurements: docs/routing.md at the repository root.

mod dest;
mod headers;
mod pmap;
mod router;
mod state;
mod topic;

pub use router::Router;
pub use state::Tx;

use std::fmt;
use std::str::FromStr;

/// The exchange types of AMQP 0-9-1 that RabbitMQ ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeKind {
    Direct,
    Fanout,
    Topic,
    Headers,
}

impl ExchangeKind {
    /// The name used on the wire in `exchange.declare`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
        }
    }
}

impl fmt::Display for ExchangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An exchange type name this broker does not implement (RabbitMQ closes the connection
/// with 503 command-invalid for these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown exchange type '{0}'")]
pub struct UnknownExchangeKind(pub String);

impl FromStr for ExchangeKind {
    type Err = UnknownExchangeKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "direct" => Ok(ExchangeKind::Direct),
            "fanout" => Ok(ExchangeKind::Fanout),
            "topic" => Ok(ExchangeKind::Topic),
            "headers" => Ok(ExchangeKind::Headers),
            other => Err(UnknownExchangeKind(other.to_string())),
        }
    }
}

/// The exchanges RabbitMQ declares in every vhost, besides the default exchange `""`.
pub const PREDECLARED: &[(&str, ExchangeKind)] = &[
    ("amq.direct", ExchangeKind::Direct),
    ("amq.fanout", ExchangeKind::Fanout),
    ("amq.topic", ExchangeKind::Topic),
    ("amq.headers", ExchangeKind::Headers),
    ("amq.match", ExchangeKind::Headers),
];

/// What happened to a published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOutcome {
    /// The exchange published to does not exist (RabbitMQ: channel error 404).
    NoSuchExchange,
    /// No queue was reached: return it if mandatory, otherwise drop it.
    Unroutable,
    /// This many distinct queues were reached (the length of the output vector).
    Routed(usize),
}

/// Whether a binding's destination is a queue or an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    Queue,
    Exchange,
}

/// A binding as declared, for listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub source: String,
    pub destination: String,
    pub destination_kind: DestinationKind,
    pub routing_key: String,
    pub arguments: warren_codec::FieldTable,
}

/// Why a binding operation was refused. The comments give RabbitMQ's reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// 404 not-found.
    #[error("no exchange '{0}'")]
    NoSuchExchange(String),
    /// 404 not-found.
    #[error("no queue '{0}'")]
    NoSuchQueue(String),
    /// 403 access-refused: the default exchange cannot be bound to or from.
    #[error("operation not permitted on the default exchange")]
    DefaultExchange,
    /// 406 precondition-failed: invalid headers-exchange binding arguments (`x-match`); the
    /// string is RabbitMQ's reply text.
    #[error("invalid binding: {0}")]
    InvalidBinding(String),
}
