//! Durable metadata: what the broker writes to the store about exchanges, queues and bindings,
//! and how it reads it back. [`formats`] holds the definitions' byte formats (messages' are
//! `message::stored`), [`store`] is the one seam every definition write goes through.
//! Rebuilding the broker from the store at startup is `broker::recovery`'s.

pub(crate) mod formats;
pub(crate) mod store;

use crate::ids::ConnectionId;
use warren_codec::FieldTable;
use warren_routing::ExchangeKind;

/// An exchange's definition: what is stored, and what a redeclare is compared with.
#[derive(Debug, Clone)]
pub(crate) struct ExchangeMeta {
    /// How it routes (for a delayed exchange: its `x-delayed-type`).
    pub(crate) kind: ExchangeKind,
    pub(crate) durable: bool,
    pub(crate) auto_delete: bool,
    pub(crate) internal: bool,
    pub(crate) arguments: FieldTable,
    /// Declared as `x-delayed-message` (`vhost::delayed`).
    pub(crate) delayed: bool,
}

impl ExchangeMeta {
    /// A `topic` exchange, the only type topic permissions apply to (a delayed exchange
    /// routing as topic is of type `x-delayed-message`).
    pub(crate) fn is_topic(&self) -> bool {
        self.kind == ExchangeKind::Topic && !self.delayed
    }
}

/// A queue's declared properties: what is stored, and what a redeclare is compared with.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    pub durable: bool,
    pub exclusive_owner: Option<ConnectionId>,
    pub auto_delete: bool,
    pub arguments: FieldTable,
}
