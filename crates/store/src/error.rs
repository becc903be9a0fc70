//! `StoreError`: every way the store can fail. Errors that concern the data directory name
//! its path, so an operator reading the broker's log knows which directory to look at.

use std::path::PathBuf;
use std::sync::Arc;

/// An error from the store. `Clone` because one failed group-commit batch answers every
/// requester in it with the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// RocksDB refused to open the directory for a reason other than corruption (locked by
    /// another process, permissions, unsupported options...).
    #[error("cannot open the Warren store in {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rocksdb::Error,
    },

    /// Store files are corrupt or truncated (CURRENT, MANIFEST, an .sst, the WAL) or a record
    /// does not decode. The broker must not start with an empty store instead.
    #[error(
        "the Warren store in {} is corrupt or truncated, refusing to start with it: {detail}",
        path.display()
    )]
    Corrupt { path: PathBuf, detail: String },

    /// The directory exists and holds something that is not a Warren store.
    #[error("{} is not a Warren store: {reason}", path.display())]
    NotAStore { path: PathBuf, reason: String },

    /// The store was written by a newer (or unknown) on-disk format.
    #[error(
        "the Warren store in {} has format version {found}; this build reads version {supported}",
        path.display()
    )]
    Version {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// A RocksDB read or write failed after the store was open.
    #[error("store error in {} during {op}: {source}", path.display())]
    Db {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: rocksdb::Error,
    },

    /// A filesystem error outside RocksDB (creating or listing the data directory).
    #[error("filesystem error for {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },

    /// An earlier write failed; the writer refuses everything after it (as RocksDB itself does
    /// after a background error). The broker should stop.
    #[error("the Warren store in {} stopped after an earlier failure: {cause}", path.display())]
    Failed { path: PathBuf, cause: String },

    /// An index entry points at a message that is not in the store.
    #[error(
        "the Warren store in {} lost message {message} referenced by queue {queue} seq {seq}",
        path.display()
    )]
    MissingMessage {
        path: PathBuf,
        queue: u64,
        seq: u64,
        message: u64,
    },

    /// The store was closed (or its writer thread is gone).
    #[error("the Warren store is closed")]
    Closed,

    /// Encoded commands that do not decode.
    #[error("cannot decode store commands: {0}")]
    Decode(String),
}

impl StoreError {
    /// Wraps a RocksDB error raised while the store is open, classifying corruption.
    pub(crate) fn db(path: &std::path::Path, op: &'static str, source: rocksdb::Error) -> Self {
        if source.kind() == rocksdb::ErrorKind::Corruption {
            StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("{op}: {source}"),
            }
        } else {
            StoreError::Db {
                path: path.to_path_buf(),
                op,
                source,
            }
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source: Arc::new(source),
        }
    }
}
