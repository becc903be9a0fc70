//! Durable metadata: what the broker writes to the store about exchanges, queues and bindings,
//! and how it reads it back. [`formats`] holds the byte formats (messages' too), [`store`] is
//! the one seam every definition write goes through, [`recovery`] rebuilds the broker from the
//! store at startup.

pub mod formats;
pub mod recovery;
pub mod store;

use warren_codec::FieldTable;
use warren_routing::ExchangeKind;

/// An exchange's definition: what is stored, and what a redeclare is compared with.
#[derive(Debug, Clone)]
pub struct ExchangeMeta {
    /// How it routes (for a delayed exchange: its `x-delayed-type`).
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    /// Declared as `x-delayed-message` (crate::delayed).
    pub delayed: bool,
}
