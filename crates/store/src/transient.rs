//! The transient area: bodies of messages that are not otherwise on disk (transient messages,
//! persistent ones in non-durable queues), paged out by their queues under memory pressure.
//!
//! It is a RocksDB database of its own (in `transient/` inside the data directory, one column
//! family keyed by the queue's runtime id and seq), wiped and recreated at every open: nothing
//! in it may outlive the process, and runtime ids start again at each start. Its own
//! database, so that its write stalls never hold up the durable writer. Writes skip the WAL
//! (a crash loses nothing anyone needs) and go through one thread of their own in submission
//! order, so a queue's put, its deletes and its clear land in the order the queue made them
//! under its lock; the durable writer and its fsyncs never wait for them, nor they for it. Reads run on the caller's thread, as
//! `Store::read_queue` does. docs/storage.md, "Paging", says how the server uses it.

use crate::command::Seq;
use crate::error::StoreError;
use crate::keys;
use crate::writer::Shared;
use bytes::Bytes;
use rocksdb::{ReadOptions, WriteBatch, WriteOptions};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};

/// Produces the (seq, bytes) pairs of a put; runs on the transient writer's thread, so the
/// copying and encoding of bodies happens there, not under the caller's lock.
pub type TransientFill = Box<dyn FnOnce() -> Vec<(Seq, Bytes)> + Send>;
/// Told the outcome once a put is in RocksDB (readable by `transient_read`).
pub type TransientDone = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// Ops, and bytes, the transient writer folds into one WriteBatch at most.
const MAX_OPS_PER_BATCH: usize = 256;
const MAX_BATCH_BYTES: usize = 32 << 20;

enum Op {
    Put {
        owner: u64,
        fill: TransientFill,
        done: TransientDone,
    },
    Delete {
        owner: u64,
        seqs: Vec<Seq>,
    },
    Clear {
        owner: u64,
    },
}

/// Counters of the transient area (tests and diagnostics).
#[derive(Debug, Default)]
pub(crate) struct TransientCounters {
    pub puts: AtomicU64,
    pub bytes: AtomicU64,
    pub deletes: AtomicU64,
}

/// The transient writer: its channel and thread.
pub(crate) struct TransientWriter {
    tx: Option<Sender<Op>>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
    pub(crate) counters: Arc<TransientCounters>,
}

impl TransientWriter {
    pub(crate) fn start(shared: Arc<Shared>) -> std::io::Result<TransientWriter> {
        let (tx, rx) = channel();
        let counters = Arc::new(TransientCounters::default());
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("warren-store-transient".into())
            .spawn(move || run(&shared, rx, &c))?;
        Ok(TransientWriter {
            tx: Some(tx),
            thread_id: thread.thread().id(),
            thread: Some(thread),
            counters,
        })
    }

    fn send(&self, op: Op) {
        let Some(tx) = &self.tx else {
            return closed(op);
        };
        if let Err(e) = tx.send(op) {
            closed(e.0);
        }
    }

    /// Stops the thread once it has done what was sent. A `done` callback may drop the last
    /// handle on the store on that very thread: then it is left to end by itself.
    pub(crate) fn stop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            if std::thread::current().id() != self.thread_id && t.join().is_err() {
                tracing::error!("the store's transient writer thread panicked");
            }
        }
    }
}

/// What happens to an op sent after the store closed.
fn closed(op: Op) {
    if let Op::Put { done, .. } = op {
        done(Err(StoreError::Closed));
    }
}

fn run(shared: &Shared, rx: Receiver<Op>, counters: &TransientCounters) {
    let mut wo = WriteOptions::default();
    wo.disable_wal(true);
    let cf = shared
        .transient_db
        .cf_handle(keys::CF_TRANSIENT)
        .expect("created when the store was opened");
    while let Ok(first) = rx.recv() {
        let mut wb = WriteBatch::default();
        let mut dones = Vec::new();
        let mut next = Some(first);
        let mut n = 0;
        while let Some(op) = next.take() {
            n += 1;
            add(&mut wb, cf, op, &mut dones, counters);
            if n < MAX_OPS_PER_BATCH && wb.size_in_bytes() < MAX_BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        let result = shared
            .transient_db
            .write_opt(wb, &wo)
            .map_err(|e| StoreError::db(&shared.path, "writing the transient area", e));
        if let Err(e) = &result {
            tracing::error!(error = %e, "cannot write to the transient area");
        }
        for done in dones {
            done(result.clone());
        }
    }
}

/// Adds one op to the batch; a put's `done` waits in `dones` for the write.
fn add(
    wb: &mut WriteBatch,
    cf: &rocksdb::ColumnFamily,
    op: Op,
    dones: &mut Vec<TransientDone>,
    counters: &TransientCounters,
) {
    match op {
        Op::Put { owner, fill, done } => {
            // No version byte: nothing written here is ever read by another build.
            for (seq, bytes) in fill() {
                counters.puts.fetch_add(1, Ordering::Relaxed);
                counters
                    .bytes
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                wb.put_cf(cf, keys::idx_key(owner, seq), &bytes);
            }
            dones.push(done);
        }
        Op::Delete { owner, seqs } => {
            counters
                .deletes
                .fetch_add(seqs.len() as u64, Ordering::Relaxed);
            for seq in seqs {
                wb.delete_cf(cf, keys::idx_key(owner, seq));
            }
        }
        Op::Clear { owner } => {
            let (start, end) = (keys::idx_key(owner, 0), keys::idx_queue_end(owner));
            wb.delete_range_cf(cf, &start[..], &end[..]);
        }
    }
}

impl crate::Store {
    /// Writes the (seq, bytes) pairs `fill` produces under `owner` (a queue's runtime id) in
    /// the transient area, then calls `done`. Never blocks; the write skips the WAL.
    pub fn transient_put(&self, owner: u64, fill: TransientFill, done: TransientDone) {
        self.transient.send(Op::Put { owner, fill, done });
    }

    /// Removes entries of `owner` (after ones sent earlier are written).
    pub fn transient_delete(&self, owner: u64, seqs: Vec<Seq>) {
        if !seqs.is_empty() {
            self.transient.send(Op::Delete { owner, seqs });
        }
    }

    /// Removes every entry of `owner` (a purge or a deletion of its queue).
    pub fn transient_clear(&self, owner: u64) {
        self.transient.send(Op::Clear { owner });
    }

    /// Up to `limit` entries of `owner` from seq `from` on, in order. Sees every put whose
    /// `done` has been called. Blocking disk I/O, as `read_queue`.
    pub fn transient_read(
        &self,
        owner: u64,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, Bytes)>, StoreError> {
        let (cf, mut ro) = self.transient_reads();
        ro.set_iterate_upper_bound(keys::idx_queue_end(owner).to_vec());
        let mut it = self.shared.transient_db.raw_iterator_cf_opt(cf, ro);
        it.seek(keys::idx_key(owner, from));
        let mut out = Vec::with_capacity(limit.min(4096));
        while it.valid() && out.len() < limit {
            let (k, v) = (it.key().unwrap_or_default(), it.value().unwrap_or_default());
            let Some((_, seq)) = keys::parse_idx_key(k) else {
                return Err(StoreError::Corrupt {
                    path: self.shared.path.clone(),
                    detail: format!("bad transient key {k:02x?}"),
                });
            };
            out.push((seq, Bytes::copy_from_slice(v)));
            it.next();
        }
        it.status()
            .map_err(|e| StoreError::db(&self.shared.path, "reading the transient area", e))?;
        Ok(out)
    }

    /// The entries of `owner` at exactly these seqs, in the order asked (one not in the area
    /// is left out): `transient_read` for a queue whose ready order is not seq order (a
    /// priority queue). Blocking disk I/O, as `read_queue`.
    pub fn transient_read_seqs(
        &self,
        owner: u64,
        seqs: &[Seq],
    ) -> Result<Vec<(Seq, Bytes)>, StoreError> {
        let (cf, ro) = self.transient_reads();
        let keys: Vec<[u8; 16]> = seqs.iter().map(|s| keys::idx_key(owner, *s)).collect();
        let values = self
            .shared
            .transient_db
            .batched_multi_get_cf_opt(cf, &keys, false, &ro);
        let mut out = Vec::with_capacity(seqs.len());
        for (seq, v) in seqs.iter().zip(values) {
            let v =
                v.map_err(|e| StoreError::db(&self.shared.path, "reading the transient area", e))?;
            if let Some(v) = v {
                out.push((*seq, Bytes::copy_from_slice(&v)));
            }
        }
        Ok(out)
    }

    /// The area's column family, and options for reading it: an entry is read once, then
    /// deleted, so not worth a place in the block cache.
    fn transient_reads(&self) -> (&rocksdb::ColumnFamily, ReadOptions) {
        let cf = self
            .shared
            .transient_db
            .cf_handle(keys::CF_TRANSIENT)
            .expect("created when the store was opened");
        let mut ro = ReadOptions::default();
        ro.fill_cache(false);
        (cf, ro)
    }

    /// Entries written to the transient area and entries deleted from it so far (puts,
    /// bytes, deletes; a clear is not counted).
    pub fn transient_counts(&self) -> (u64, u64, u64) {
        let c = &self.transient.counters;
        (
            c.puts.load(Ordering::Relaxed),
            c.bytes.load(Ordering::Relaxed),
            c.deletes.load(Ordering::Relaxed),
        )
    }

    /// Test support: how many entries the transient area holds now (a full scan).
    #[doc(hidden)]
    pub fn debug_transient_len(&self) -> Result<usize, StoreError> {
        let db = &self.shared.transient_db;
        let cf = db
            .cf_handle(keys::CF_TRANSIENT)
            .expect("created when the store was opened");
        let mut it = db.raw_iterator_cf(cf);
        it.seek_to_first();
        let mut n = 0;
        while it.valid() {
            n += 1;
            it.next();
        }
        it.status()
            .map_err(|e| StoreError::db(&self.shared.path, "scanning the transient area", e))?;
        Ok(n)
    }
}
