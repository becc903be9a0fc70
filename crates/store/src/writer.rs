//! The group-commit writer: one dedicated thread owns every write to the store.
//!
//! It blocks for the first request, then drains whatever else is already waiting (up to a
//! count and a byte cap), applies all their commands to one `WriteBatch` through the state
//! machine, writes it once (with a WAL fsync if any request in the batch asked for
//! durability) and answers every requester. There is no timer: while one fsync runs the next
//! batch builds up, so batching follows load and an idle store adds no latency. Between
//! batches, and while idle, it removes deleted queues' entries a chunk at a time (`reap.rs`).

use crate::apply::{Cfs, StateMachine};
use crate::command::Command;
use crate::error::StoreError;
use crate::pending::PendingWatch;
use rocksdb::{WriteBatch, WriteOptions, DB};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// The reply to a submitted request.
pub type Reply = oneshot::Receiver<Result<(), StoreError>>;

/// One submission: its commands are applied together, in order, in one batch.
pub(crate) struct Request {
    pub cmds: Vec<Command>,
    pub durable: bool,
    pub bytes: usize,
    pub reply: Option<oneshot::Sender<Result<(), StoreError>>>,
}

/// What the store and its writer share.
pub(crate) struct Shared {
    pub db: DB,
    /// The transient area (`transient.rs`), a database of its own.
    pub transient_db: DB,
    pub path: PathBuf,
    pub stats: Counters,
    /// Who hears when `stats.pending_bytes` crosses a limit.
    pub pending_watch: PendingWatch,
}

/// Group-commit limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_requests: usize,
    pub max_bytes: usize,
    /// Added before every synced write (tests: a slow disk).
    pub sync_delay: std::time::Duration,
}

/// Counters the writer keeps (read through `Store::stats`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub commands: AtomicU64,
    pub batches: AtomicU64,
    pub syncs: AtomicU64,
    pub sync_micros: AtomicU64,
    pub ignored: AtomicU64,
    pub bytes_written: AtomicU64,
    pub largest_batch: AtomicU64,
    pub pending_requests: AtomicU64,
    pub pending_bytes: AtomicU64,
}

/// A snapshot of the writer's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Requests answered.
    pub requests: u64,
    /// Commands applied.
    pub commands: u64,
    /// WriteBatches written (one per group commit).
    pub batches: u64,
    /// Batches written with a WAL fsync (plus explicit syncs of an empty durable request).
    pub syncs: u64,
    /// Total time spent in synced writes, in microseconds.
    pub sync_micros: u64,
    /// Commands or targets skipped as invalid (see `Command`).
    pub ignored: u64,
    /// Bytes of WriteBatches written.
    pub bytes_written: u64,
    /// Most requests in one batch.
    pub largest_batch: u64,
    /// Requests submitted and not yet answered (a backpressure signal for the server).
    pub pending_requests: u64,
    /// Approximate bytes of those requests.
    pub pending_bytes: u64,
}

impl Counters {
    pub fn snapshot(&self) -> StoreStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StoreStats {
            requests: r(&self.requests),
            commands: r(&self.commands),
            batches: r(&self.batches),
            syncs: r(&self.syncs),
            sync_micros: r(&self.sync_micros),
            ignored: r(&self.ignored),
            bytes_written: r(&self.bytes_written),
            largest_batch: r(&self.largest_batch),
            pending_requests: r(&self.pending_requests),
            pending_bytes: r(&self.pending_bytes),
        }
    }
}

/// The writer thread's body; returns when every sender is gone and the queue is drained.
pub(crate) fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Request>,
    mut sm: StateMachine,
    limits: Limits,
) {
    let mut failed: Option<StoreError> = None;
    let mut batch: Vec<Request> = Vec::new();
    loop {
        // Deleted queues are reaped whenever nothing waits (`reap.rs`); once every sender is
        // gone, what is left of them waits for the next open.
        let first = if failed.is_none() && sm.is_reaping() {
            match rx.try_recv() {
                Ok(r) => r,
                Err(mpsc::error::TryRecvError::Empty) => {
                    reap(&shared, &mut sm, &mut failed);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        } else {
            match rx.blocking_recv() {
                Some(r) => r,
                None => break,
            }
        };
        let mut bytes = first.bytes;
        batch.push(first);
        while batch.len() < limits.max_requests && bytes < limits.max_bytes {
            match rx.try_recv() {
                Ok(r) => {
                    bytes += r.bytes;
                    batch.push(r);
                }
                Err(_) => break,
            }
        }
        let result = match &failed {
            Some(e) => Err(e.clone()),
            None => write(&shared, &mut sm, &batch, limits.sync_delay),
        };
        if let Err(e) = &result {
            fail(&shared, &mut failed, e);
        }
        let c = &shared.stats;
        c.requests.fetch_add(batch.len() as u64, Ordering::Relaxed);
        c.largest_batch
            .fetch_max(batch.len() as u64, Ordering::Relaxed);
        c.pending_requests
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);
        let before = c.pending_bytes.fetch_sub(bytes as u64, Ordering::Relaxed);
        shared.pending_watch.changed(
            &c.pending_bytes,
            before,
            before.saturating_sub(bytes as u64),
        );
        c.ignored.store(sm.ignored, Ordering::Relaxed);
        for r in batch.drain(..) {
            match r.reply {
                Some(tx) => {
                    let _ = tx.send(result.clone());
                }
                None => {
                    if let Err(e) = &result {
                        tracing::debug!(error = %e, "detached store request failed");
                    }
                }
            }
        }
        // One chunk per batch too, so a busy writer still gets through a deleted queue.
        if failed.is_none() && sm.is_reaping() {
            reap(&shared, &mut sm, &mut failed);
        }
    }
}

/// The first failure: logged, and every later write refused with it.
fn fail(shared: &Shared, failed: &mut Option<StoreError>, e: &StoreError) {
    if failed.is_none() {
        tracing::error!(error = %e, "store write failed; refusing further writes");
        *failed = Some(StoreError::Failed {
            path: shared.path.clone(),
            cause: e.to_string(),
        });
    }
}

/// Removes one chunk of a deleted queue in a batch of its own. Not synced: the next durable
/// write syncs it with itself, and a chunk lost to a crash is reaped again after recovery.
fn reap(shared: &Shared, sm: &mut StateMachine, failed: &mut Option<StoreError>) {
    let cfs = Cfs::new(&shared.db, &shared.path);
    let mut wb = WriteBatch::default();
    let applied = sm.reap_next(&cfs, &mut wb);
    sm.end_batch();
    let written = applied.and_then(|()| {
        shared
            .db
            .write(wb)
            .map_err(|e| StoreError::db(&shared.path, "removing a deleted queue's entries", e))
    });
    if let Err(e) = written {
        fail(shared, failed, &e);
    }
}

/// Applies and writes one group of requests.
fn write(
    shared: &Shared,
    sm: &mut StateMachine,
    batch: &[Request],
    sync_delay: std::time::Duration,
) -> Result<(), StoreError> {
    let cfs = Cfs::new(&shared.db, &shared.path);
    let mut wb = WriteBatch::default();
    let mut durable = false;
    let mut commands = 0u64;
    let applied = batch.iter().try_for_each(|r| {
        durable |= r.durable;
        commands += r.cmds.len() as u64;
        r.cmds
            .iter()
            .try_for_each(|cmd| sm.apply(&cfs, &mut wb, cmd))
    });
    sm.end_batch();
    applied?;
    let c = &shared.stats;
    c.commands.fetch_add(commands, Ordering::Relaxed);
    let started = Instant::now();
    if durable && !sync_delay.is_zero() {
        std::thread::sleep(sync_delay);
    }
    if wb.is_empty() {
        // Nothing to write; a durable request still means "everything before me is on disk".
        if durable {
            shared
                .db
                .flush_wal(true)
                .map_err(|e| StoreError::db(&shared.path, "syncing the WAL", e))?;
        }
    } else {
        c.bytes_written
            .fetch_add(wb.size_in_bytes() as u64, Ordering::Relaxed);
        let mut wo = WriteOptions::default();
        wo.set_sync(durable);
        shared
            .db
            .write_opt(wb, &wo)
            .map_err(|e| StoreError::db(&shared.path, "writing a batch", e))?;
        c.batches.fetch_add(1, Ordering::Relaxed);
    }
    if durable {
        c.syncs.fetch_add(1, Ordering::Relaxed);
        c.sync_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
    Ok(())
}
