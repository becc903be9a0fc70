//! `Store`: opening (and refusing) a data directory, RocksDB options, the submit API in front
//! of the writer thread, paging reads of a queue, and clean or abrupt shutdown.

use crate::apply::StateMachine;
use crate::command::{Command, MessageId, QueueId, Seq};
use crate::error::StoreError;
use crate::keys::{self, IndexValue};
use crate::options::{check_column_families, rocks_options};
use crate::recovery::{self, Recovered};
use crate::transient::TransientWriter;
use crate::writer::{self, Limits, Reply, Request, Shared, StoreStats};
use bytes::Bytes;
use rocksdb::{ColumnFamilyDescriptor, ReadOptions, DB};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// Tuning knobs; the defaults suit a broker (see docs/storage.md).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most requests folded into one group commit.
    pub max_batch_requests: usize,
    /// Most approximate bytes folded into one group commit.
    pub max_batch_bytes: usize,
    /// The store's memory bound: the block cache shared by all column families (index and
    /// filter blocks included), to which the memtables are charged too; they are flushed once
    /// together they pass half of it.
    pub block_cache_bytes: usize,
    /// Memtable size of the message column family (two may exist at once).
    pub msgs_write_buffer_bytes: usize,
    /// Memtable size of the queue index column family (two may exist at once).
    pub qidx_write_buffer_bytes: usize,
    /// Memtable size of the transient area (paged-out transient bodies; three may exist at
    /// once, so paging goes on while one is flushed).
    pub transient_write_buffer_bytes: usize,
    /// Extra time before every synced write, simulating a slow disk (tests that must see what
    /// happens while a sync is outstanding). Zero in production.
    pub simulated_sync_delay: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_batch_requests: 4096,
            max_batch_bytes: 16 << 20,
            block_cache_bytes: 64 << 20,
            msgs_write_buffer_bytes: 32 << 20,
            qidx_write_buffer_bytes: 16 << 20,
            transient_write_buffer_bytes: 8 << 20,
            simulated_sync_delay: std::time::Duration::ZERO,
        }
    }
}

/// One queue entry read back from the store, with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub seq: Seq,
    pub message_id: MessageId,
    /// How often the entry was delivered (as last recorded by `SetDeliveryCount`).
    pub delivery_count: u32,
    /// The message bytes exactly as enqueued.
    pub message: Bytes,
}

/// One queue index entry without its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub seq: Seq,
    pub message_id: MessageId,
    pub delivery_count: u32,
}

/// The durable store. Cheap to share behind an `Arc`; every method takes `&self`.
///
/// Dropping it stops the writer (after it answers what was already submitted) and closes
/// RocksDB without flushing memtables: exactly what a kill -9 leaves behind, as the WAL
/// already holds every write. `close` is the clean shutdown.
pub struct Store {
    pub(crate) shared: Arc<Shared>,
    tx: Option<mpsc::UnboundedSender<Request>>,
    writer: Option<JoinHandle<()>>,
    pub(crate) transient: TransientWriter,
    next_message: AtomicU64,
    next_queue: AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store in `path`, creating it if the directory is missing or empty, and
    /// recovers it: definitions, per-queue counts and sequence bounds (no message bodies are
    /// read). Refuses a directory holding anything else, and corrupt or truncated files, with
    /// an error naming the path.
    pub fn open(
        path: impl AsRef<Path>,
        options: StoreOptions,
    ) -> Result<(Store, Recovered), StoreError> {
        let started = std::time::Instant::now();
        let path = path.as_ref().to_path_buf();
        let is_new = check_dir(&path)?;
        let (db_opts, mut cfs, transient_opts) = rocks_options(&options, is_new);
        let had_transient = !is_new && check_column_families(&db_opts, &path)?;
        if had_transient {
            cfs.push(ColumnFamilyDescriptor::new(
                keys::CF_TRANSIENT,
                transient_opts.clone(),
            ));
        }
        let mut db =
            DB::open_cf_descriptors(&db_opts, &path, cfs).map_err(|e| open_error(&path, e))?;
        // Stores written before the transient area had a database of its own kept it here.
        if had_transient {
            db.drop_cf(keys::CF_TRANSIENT)
                .map_err(|e| StoreError::db(&path, "wiping the old transient area", e))?;
        }
        // Opened after the main database, whose lock keeps another process off both.
        let transient_db = open_transient(&path, &transient_opts)?;
        let format_key = keys::meta_format_key();
        let defs = db
            .cf_handle(keys::CF_DEFS)
            .expect("opened with this column family");
        if is_new {
            let mut wo = rocksdb::WriteOptions::default();
            wo.set_sync(true);
            db.put_cf_opt(defs, &format_key, keys::meta_format_value(), &wo)
                .map_err(|e| StoreError::db(&path, "writing the format marker", e))?;
        } else {
            let marker = db
                .get_cf(defs, &format_key)
                .map_err(|e| StoreError::db(&path, "reading the format marker", e))?;
            match marker.as_deref().map(keys::parse_meta_format) {
                None => {
                    return Err(StoreError::NotAStore {
                        path,
                        reason: "no Warren format marker".into(),
                    })
                }
                Some(None) => {
                    return Err(StoreError::Corrupt {
                        path,
                        detail: "unreadable format marker".into(),
                    })
                }
                Some(Some(v)) if v != keys::FORMAT_VERSION => {
                    return Err(StoreError::Version {
                        path,
                        found: v,
                        supported: keys::FORMAT_VERSION,
                    })
                }
                Some(Some(_)) => {}
            }
        }

        let mut rec = recovery::recover(&db, &path)?;
        rec.recovered.elapsed = started.elapsed();
        tracing::info!(
            path = %path.display(),
            queues = rec.recovered.queues.len(),
            messages = rec.recovered.messages,
            index_entries = rec.recovered.index_entries,
            elapsed_ms = rec.recovered.elapsed.as_millis() as u64,
            scan_ms = rec.recovered.scan_elapsed.as_millis() as u64,
            "store recovered"
        );
        let state = StateMachine::new(rec.queue_state, rec.refs, rec.reaping);
        let shared = Arc::new(Shared {
            db,
            transient_db,
            path,
            stats: Default::default(),
            pending_watch: Default::default(),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let limits = Limits {
            max_requests: options.max_batch_requests.max(1),
            max_bytes: options.max_batch_bytes.max(1),
            sync_delay: options.simulated_sync_delay,
        };
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("warren-store-writer".into())
            .spawn(move || writer::run(writer_shared, rx, state, limits))
            .map_err(|e| StoreError::io(&shared.path, e))?;
        let transient =
            TransientWriter::start(shared.clone()).map_err(|e| StoreError::io(&shared.path, e))?;
        let store = Store {
            shared,
            tx: Some(tx),
            writer: Some(writer),
            transient,
            next_message: AtomicU64::new(rec.next_message),
            next_queue: AtomicU64::new(rec.next_queue),
        };
        Ok((store, rec.recovered))
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// A fresh message id (unique in this store, also across restarts).
    pub fn allocate_message_id(&self) -> MessageId {
        self.next_message.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh queue id (unique among live queues, also across restarts).
    pub fn allocate_queue_id(&self) -> QueueId {
        self.next_queue.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues `cmds` for the writer; they are applied together in one batch, in order. The
    /// receiver resolves once they are written, and, if `durable`, once the WAL is synced
    /// (which also makes everything submitted earlier durable). Never blocks: usable from
    /// async code (`.await` the receiver) or sync code (`blocking_recv`).
    pub fn submit(&self, cmds: Vec<Command>, durable: bool) -> Reply {
        let (tx, rx) = oneshot::channel();
        self.send(cmds, durable, Some(tx));
        rx
    }

    /// Fire and forget, without sync: for acks and delivery counts. Failures are logged.
    pub fn submit_detached(&self, cmds: Vec<Command>) {
        self.send(cmds, false, None);
    }

    /// `submit` and wait on the calling thread. Not for async contexts (it would block a
    /// runtime worker; tokio panics if called there).
    pub fn submit_blocking(&self, cmds: Vec<Command>, durable: bool) -> Result<(), StoreError> {
        self.submit(cmds, durable)
            .blocking_recv()
            .unwrap_or(Err(StoreError::Closed))
    }

    fn send(
        &self,
        cmds: Vec<Command>,
        durable: bool,
        reply: Option<oneshot::Sender<Result<(), StoreError>>>,
    ) {
        let bytes = cmds.iter().map(Command::approx_size).sum::<usize>() + 64;
        let c = &self.shared.stats;
        c.pending_requests.fetch_add(1, Ordering::Relaxed);
        let before = c.pending_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        let watch = &self.shared.pending_watch;
        watch.changed(&c.pending_bytes, before, before + bytes as u64);
        let req = Request {
            cmds,
            durable,
            bytes,
            reply,
        };
        let sent = match &self.tx {
            Some(tx) => tx.send(req).map_err(|e| e.0),
            None => Err(req),
        };
        if let Err(req) = sent {
            c.pending_requests.fetch_sub(1, Ordering::Relaxed);
            let before = c.pending_bytes.fetch_sub(bytes as u64, Ordering::Relaxed);
            watch.changed(
                &c.pending_bytes,
                before,
                before.saturating_sub(bytes as u64),
            );
            if let Some(reply) = req.reply {
                let _ = reply.send(Err(StoreError::Closed));
            }
        }
    }

    /// Bytes submitted and not yet written: the backpressure signal (one atomic load).
    pub fn pending_bytes(&self) -> u64 {
        self.shared.stats.pending_bytes.load(Ordering::Relaxed)
    }

    /// Calls `notify(true)` when [`Store::pending_bytes`] goes above `limit` and
    /// `notify(false)` when it falls back to `limit` or below; once now, too, with where it is.
    /// Replaces an earlier watcher. `notify` runs on the thread that crossed (a submitter or
    /// the writer thread), under a lock: it must be quick and must not submit.
    pub fn watch_pending(&self, limit: u64, notify: impl Fn(bool) + Send + Sync + 'static) {
        let pending = &self.shared.stats.pending_bytes;
        self.shared
            .pending_watch
            .set(pending, limit, Box::new(notify));
    }

    /// The writer's counters.
    pub fn stats(&self) -> StoreStats {
        self.shared.stats.snapshot()
    }

    /// Up to `limit` entries of `queue` with seq above `after` (all if `None`), in order, with
    /// their messages, from one consistent snapshot. Sees every request whose reply has
    /// resolved. Blocking disk I/O: call it from a blocking thread (`spawn_blocking`).
    pub fn read_queue(
        &self,
        queue: QueueId,
        after: Option<Seq>,
        limit: usize,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let snapshot = self.shared.db.snapshot();
        let index = self.scan_index(queue, after, limit, Some(&snapshot))?;
        self.with_messages(queue, index, &snapshot)
    }

    /// The entries of `queue` at exactly these seqs, with their messages, in the order asked
    /// (a seq the queue does not hold is left out), from one consistent snapshot. For a queue
    /// whose ready order is not seq order (a priority queue), where the next page is a set of
    /// seqs rather than a range. Blocking disk I/O, like `read_queue`.
    pub fn read_queue_seqs(
        &self,
        queue: QueueId,
        seqs: &[Seq],
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let db = &self.shared.db;
        let snapshot = db.snapshot();
        let qidx = db
            .cf_handle(keys::CF_QIDX)
            .expect("opened with this column family");
        let mut ro = ReadOptions::default();
        ro.set_snapshot(&snapshot);
        let idx_keys: Vec<[u8; 16]> = seqs.iter().map(|s| keys::idx_key(queue, *s)).collect();
        let values = db.batched_multi_get_cf_opt(qidx, &idx_keys, false, &ro);
        let mut index = Vec::with_capacity(seqs.len());
        for (seq, v) in seqs.iter().zip(values) {
            let v = v.map_err(|err| self.db_error("reading the queue index", err))?;
            let Some(v) = v else { continue };
            let val = IndexValue::decode(&v).ok_or_else(|| StoreError::Corrupt {
                path: self.shared.path.clone(),
                detail: format!("bad index entry for queue {queue} seq {seq}"),
            })?;
            index.push(IndexEntry {
                seq: *seq,
                message_id: val.message,
                delivery_count: val.delivery_count,
            });
        }
        self.with_messages(queue, index, &snapshot)
    }

    /// Joins index entries with their messages, read from the same snapshot.
    fn with_messages(
        &self,
        queue: QueueId,
        index: Vec<IndexEntry>,
        snapshot: &rocksdb::Snapshot<'_>,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        if index.is_empty() {
            return Ok(Vec::new());
        }
        let db = &self.shared.db;
        let msgs = db
            .cf_handle(keys::CF_MSGS)
            .expect("opened with this column family");
        let mut ro = ReadOptions::default();
        ro.set_snapshot(snapshot);
        // A message is read back once, just before delivery: caching its blocks would only
        // evict the queue index blocks that every delivery count and ack looks up, and a
        // drain of a large backlog then re-reads them from disk per ack (docs/storage.md).
        ro.fill_cache(false);
        let msg_keys: Vec<[u8; 8]> = index.iter().map(|e| keys::msg_key(e.message_id)).collect();
        let values = db.batched_multi_get_cf_opt(msgs, &msg_keys, false, &ro);
        let mut out = Vec::with_capacity(index.len());
        for (e, v) in index.into_iter().zip(values) {
            let v = v.map_err(|err| self.db_error("reading messages", err))?;
            let Some(v) = v else {
                return Err(StoreError::MissingMessage {
                    path: self.shared.path.clone(),
                    queue,
                    seq: e.seq,
                    message: e.message_id,
                });
            };
            let body = keys::parse_def_value(&v).ok_or_else(|| StoreError::Corrupt {
                path: self.shared.path.clone(),
                detail: format!("bad message value for message {}", e.message_id),
            })?;
            out.push(StoredEntry {
                seq: e.seq,
                message_id: e.message_id,
                delivery_count: e.delivery_count,
                message: Bytes::copy_from_slice(body),
            });
        }
        Ok(out)
    }

    /// Like `read_queue` without the messages: cheap, for counting or scanning a queue.
    pub fn read_index(
        &self,
        queue: QueueId,
        after: Option<Seq>,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        self.scan_index(queue, after, limit, None)
    }

    fn scan_index(
        &self,
        queue: QueueId,
        after: Option<Seq>,
        limit: usize,
        snapshot: Option<&rocksdb::Snapshot<'_>>,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let start = match after {
            None => 0,
            Some(Seq::MAX) => return Ok(Vec::new()),
            Some(s) => s + 1,
        };
        let db = &self.shared.db;
        let qidx = db
            .cf_handle(keys::CF_QIDX)
            .expect("opened with this column family");
        let mut ro = ReadOptions::default();
        if let Some(s) = snapshot {
            ro.set_snapshot(s);
        }
        ro.set_iterate_upper_bound(keys::idx_queue_end(queue).to_vec());
        let mut it = db.raw_iterator_cf_opt(qidx, ro);
        it.seek(keys::idx_key(queue, start));
        let mut out = Vec::with_capacity(limit.min(4096));
        while it.valid() && out.len() < limit {
            let (k, v) = (it.key().unwrap_or_default(), it.value().unwrap_or_default());
            let seq = keys::parse_idx_key(k).map(|(_, s)| s);
            let val = IndexValue::decode(v);
            let (Some(seq), Some(val)) = (seq, val) else {
                return Err(StoreError::Corrupt {
                    path: self.shared.path.clone(),
                    detail: format!("bad index entry {k:02x?}"),
                });
            };
            out.push(IndexEntry {
                seq,
                message_id: val.message,
                delivery_count: val.delivery_count,
            });
            it.next();
        }
        it.status()
            .map_err(|e| self.db_error("scanning the queue index", e))?;
        Ok(out)
    }

    fn db_error(&self, op: &'static str, e: rocksdb::Error) -> StoreError {
        StoreError::db(&self.shared.path, op, e)
    }

    /// Clean shutdown: answers what was submitted, then flushes memtables and syncs the WAL
    /// so the next start has nothing to replay.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.stop_writer();
        let db = &self.shared.db;
        for name in [keys::CF_DEFS, keys::CF_MSGS, keys::CF_QIDX] {
            let cf = db.cf_handle(name).expect("opened with this column family");
            db.flush_cf(cf)
                .map_err(|e| self.db_error("flushing memtables", e))?;
        }
        db.flush_wal(true)
            .map_err(|e| self.db_error("syncing the WAL", e))
    }

    /// Clean-shutdown work that needs no exclusive handle: waits until everything submitted so
    /// far is written and synced, then flushes memtables, so the next start replays little.
    /// The store stays usable.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.submit_blocking(Vec::new(), true)?;
        let db = &self.shared.db;
        for name in [keys::CF_DEFS, keys::CF_MSGS, keys::CF_QIDX] {
            let cf = db.cf_handle(name).expect("opened with this column family");
            db.flush_cf(cf)
                .map_err(|e| self.db_error("flushing memtables", e))?;
        }
        Ok(())
    }

    fn stop_writer(&mut self) {
        self.transient.stop();
        self.tx.take();
        if let Some(w) = self.writer.take() {
            if w.join().is_err() {
                tracing::error!("the store writer thread panicked");
            }
        }
    }

    /// Test support: the ids of every stored message (reads the whole message column family).
    #[doc(hidden)]
    pub fn debug_message_ids(&self) -> Result<Vec<MessageId>, StoreError> {
        let db = &self.shared.db;
        let msgs = db
            .cf_handle(keys::CF_MSGS)
            .expect("opened with this column family");
        let mut it = db.raw_iterator_cf(msgs);
        it.seek_to_first();
        let mut out = Vec::new();
        while it.valid() {
            out.extend(it.key().and_then(keys::parse_msg_key));
            it.next();
        }
        it.status()
            .map_err(|e| self.db_error("scanning messages", e))?;
        Ok(out)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop_writer();
    }
}

/// Opens the transient area's database in [`keys::TRANSIENT_DIR`], empty: what it held
/// belonged to queues and messages of an earlier run. A database of its own, not a column
/// family of the main one, because RocksDB stalls and stops writes for the whole database when
/// one column family is behind on flushes: a paging flood then held up the durable writer,
/// and every publisher waiting for a confirm (docs/storage.md, "Under memory pressure").
fn open_transient(path: &Path, options: &rocksdb::Options) -> Result<DB, StoreError> {
    let dir = path.join(keys::TRANSIENT_DIR);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(StoreError::io(&dir, e));
        }
        _ => {}
    }
    let cf = ColumnFamilyDescriptor::new(keys::CF_TRANSIENT, options.clone());
    DB::open_cf_descriptors(options, &dir, [cf]).map_err(|e| open_error(&dir, e))
}

/// Creates a missing directory; returns whether the store is new. A non-empty directory
/// without RocksDB's CURRENT file is refused.
fn check_dir(path: &Path) -> Result<bool, StoreError> {
    if !path.exists() {
        std::fs::create_dir_all(path).map_err(|e| StoreError::io(path, e))?;
        return Ok(true);
    }
    let mut others = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| StoreError::io(path, e))? {
        let entry = entry.map_err(|e| StoreError::io(path, e))?;
        let name = entry.file_name();
        if name == "CURRENT" {
            return Ok(false);
        }
        if name != "lost+found" {
            others.push(name.to_string_lossy().into_owned());
        }
    }
    if others.is_empty() {
        return Ok(true);
    }
    others.sort();
    others.truncate(5);
    Err(StoreError::NotAStore {
        path: path.to_path_buf(),
        reason: format!(
            "the directory is not empty and has no RocksDB CURRENT file (a damaged store, or \
             another program's data); found {others:?}"
        ),
    })
}

pub(crate) fn open_error(path: &Path, e: rocksdb::Error) -> StoreError {
    if e.kind() == rocksdb::ErrorKind::Corruption {
        StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }
    } else {
        StoreError::Open {
            path: path.to_path_buf(),
            source: e,
        }
    }
}
