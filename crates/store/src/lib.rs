//! Warren's durable store (`warren-store`): durable definitions, persistent messages and
//! queue indexes in RocksDB.
//!
//! Every change is a [`Command`] submitted to the [`Store`]; one writer thread applies commands
//! through a single state machine and group-commits them (one WAL fsync for all the durable
//! requests waiting at that moment). Reads page a queue back in order. The store works in ids
//! and opaque bytes: it never looks inside definitions or messages. docs/storage.md describes
//! the layout, recovery, and how the server should use it.

mod apply;
mod command;
mod error;
mod keys;
mod options;
mod pending;
mod reap;
mod recovery;
mod store;
mod transient;
mod writer;

#[cfg(test)]
mod tests;

pub use command::{
    decode_commands, encode_commands, Command, MessageId, QueueId, Seq, COMMAND_ENCODING_VERSION,
};
pub use error::StoreError;
pub use recovery::{
    Recovered, RecoveredQueue, StoredBinding, StoredExchange, StoredGrant, StoredPolicy,
    StoredRecord,
};
pub use store::{IndexEntry, Store, StoreOptions, StoredEntry};
pub use transient::{TransientDone, TransientFill};
pub use writer::{Reply, StoreStats};
