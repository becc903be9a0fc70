//! The state machine: the one place where commands become RocksDB writes.
//!
//! `StateMachine::apply` turns a `Command` into puts and deletes on a `WriteBatch`, using and
//! updating a small amount of derived state kept in memory: which durable queues exist (and
//! their last sequence), and reference counts of messages held by more than one queue. That
//! state is rebuilt from disk at recovery (`recovery.rs`), so it needs no persistence of its
//! own. Only the writer thread owns a `StateMachine`; a replicated log will later feed the
//! same commands through the same path.
//!
//! Within one batch, later commands must see earlier ones (an `Ack` right after its `Enqueue`)
//! although nothing is in RocksDB yet: the `overlay` (index entries written in this batch) and
//! `cleared` (seq ranges range-deleted in this batch) answer those reads until the batch is
//! written and `end_batch` resets them.

use crate::command::{Command, MessageId, QueueId, Seq};
use crate::error::StoreError;
use crate::keys::{self, DefKind, IndexValue};
use bytes::Bytes;
use rocksdb::{ColumnFamily, WriteBatch, DB};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// What the state machine remembers about a declared durable queue.
#[derive(Debug, Clone)]
pub(crate) struct QueueMeta {
    pub vhost: String,
    pub name: String,
    /// Highest seq ever enqueued (or recovered); new entries must be above it.
    pub last_seq: Option<Seq>,
}

/// Derived in-memory state plus the per-batch read overlay.
#[derive(Debug, Default)]
pub(crate) struct StateMachine {
    pub queues: HashMap<QueueId, QueueMeta>,
    names: HashMap<(String, String), QueueId>,
    /// Live index entries per message, for messages enqueued to more than one queue only.
    /// A message with one target is deleted with its only entry and is never counted.
    pub refs: HashMap<MessageId, u32>,
    overlay: BTreeMap<(QueueId, Seq), Option<IndexValue>>,
    cleared: HashMap<QueueId, Vec<(Seq, Seq)>>,
    /// Commands or targets skipped as invalid (unknown queue, stale seq, unknown entry).
    pub ignored: u64,
    /// Deleted queues whose entries are still on disk, and the seq each goes on from
    /// (`reap.rs`).
    pub(crate) reaping: BTreeMap<QueueId, Seq>,
}

/// The column families, borrowed from the DB for one batch.
pub(crate) struct Cfs<'a> {
    pub db: &'a DB,
    pub path: &'a Path,
    pub defs: &'a ColumnFamily,
    pub msgs: &'a ColumnFamily,
    pub qidx: &'a ColumnFamily,
}

impl<'a> Cfs<'a> {
    pub fn new(db: &'a DB, path: &'a Path) -> Cfs<'a> {
        let cf = |name| {
            db.cf_handle(name)
                .expect("column family checked when the store was opened")
        };
        Cfs {
            db,
            path,
            defs: cf(keys::CF_DEFS),
            msgs: cf(keys::CF_MSGS),
            qidx: cf(keys::CF_QIDX),
        }
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.to_path_buf(),
            detail,
        }
    }
}

impl StateMachine {
    /// `reaping`: ids of deleted queues whose entries recovery found (`reap.rs`).
    pub fn new(
        queues: HashMap<QueueId, QueueMeta>,
        refs: HashMap<MessageId, u32>,
        reaping: impl IntoIterator<Item = QueueId>,
    ) -> Self {
        let names = queues
            .iter()
            .map(|(id, m)| ((m.vhost.clone(), m.name.clone()), *id))
            .collect();
        StateMachine {
            queues,
            names,
            refs,
            reaping: reaping.into_iter().map(|q| (q, 0)).collect(),
            ..Default::default()
        }
    }

    /// Forgets the per-batch overlay once the batch is written.
    pub fn end_batch(&mut self) {
        self.overlay.clear();
        self.cleared.clear();
    }

    /// Applies one command to `wb`. Errors are read failures only (fatal for the store);
    /// invalid commands are skipped and counted in `ignored`.
    pub fn apply(&mut self, c: &Cfs, wb: &mut WriteBatch, cmd: &Command) -> Result<(), StoreError> {
        match cmd {
            Command::DeclareExchange { vhost, name, def } => {
                let key = keys::def_key(DefKind::Exchange, vhost, name.as_bytes());
                wb.put_cf(c.defs, key, keys::def_value(def));
            }
            Command::DeleteExchange { vhost, name } => {
                wb.delete_cf(
                    c.defs,
                    keys::def_key(DefKind::Exchange, vhost, name.as_bytes()),
                );
            }
            Command::Bind { vhost, key, def } => {
                wb.put_cf(
                    c.defs,
                    keys::def_key(DefKind::Binding, vhost, key),
                    keys::def_value(def),
                );
            }
            Command::Unbind { vhost, key } => {
                wb.delete_cf(c.defs, keys::def_key(DefKind::Binding, vhost, key));
            }
            Command::DeclareQueue {
                vhost,
                name,
                queue,
                def,
            } => {
                if let Some(m) = self.queues.get(queue) {
                    if m.vhost != *vhost || m.name != *name {
                        tracing::warn!(
                            queue,
                            vhost,
                            name,
                            "queue id already belongs to '{}' in '{}'; declare ignored",
                            m.name,
                            m.vhost
                        );
                        self.ignored += 1;
                        return Ok(());
                    }
                }
                // An id is not declared again once deleted (ids only grow); if one were, what
                // is left of the old queue goes first, so none of it joins the new one.
                while self.reaping.contains_key(queue) {
                    self.reap(c, wb, *queue)?;
                }
                let name_key = (vhost.clone(), name.clone());
                if let Some(&old) = self.names.get(&name_key) {
                    if old != *queue {
                        self.drop_queue(c, wb, old)?;
                    }
                }
                wb.put_cf(
                    c.defs,
                    keys::def_key(DefKind::Queue, vhost, name.as_bytes()),
                    keys::queue_value(*queue, def),
                );
                self.queues.entry(*queue).or_insert_with(|| QueueMeta {
                    vhost: vhost.clone(),
                    name: name.clone(),
                    last_seq: None,
                });
                self.names.insert(name_key, *queue);
            }
            Command::DeleteQueue { queue } => {
                if self.queues.contains_key(queue) {
                    self.drop_queue(c, wb, *queue)?;
                } else {
                    self.ignored += 1;
                }
            }
            Command::Enqueue {
                message,
                body,
                targets,
            } => self.enqueue(c, wb, *message, body, targets),
            Command::Ack { queue, seqs } => {
                let stored = self.read_entries(c, *queue, seqs)?;
                for (&seq, stored) in seqs.iter().zip(stored) {
                    // An earlier command of this batch, or an earlier seq of this very ack
                    // (a repeat), decides over what was read before the loop.
                    let current = match self.overlay.get(&(*queue, seq)) {
                        Some(v) => *v,
                        None if self.is_cleared(*queue, seq) => None,
                        None => stored,
                    };
                    match current {
                        Some(v) => {
                            wb.delete_cf(c.qidx, keys::idx_key(*queue, seq));
                            self.overlay.insert((*queue, seq), None);
                            self.release(c, wb, v);
                        }
                        None => self.ignored += 1,
                    }
                }
            }
            Command::SetDeliveryCount { queue, seq, count } => {
                match self.lookup(c, *queue, *seq)? {
                    Some(mut v) => {
                        v.delivery_count = *count;
                        wb.put_cf(c.qidx, keys::idx_key(*queue, *seq), v.encode());
                        self.overlay.insert((*queue, *seq), Some(v));
                    }
                    None => self.ignored += 1,
                }
            }
            Command::Purge { queue, keep } => {
                if self.queues.contains_key(queue) {
                    self.purge(c, wb, *queue, keep)?;
                } else {
                    self.ignored += 1;
                }
            }
            Command::DeleteVhost { name } => self.drop_vhost(c, wb, name)?,
            Command::PutVhost { name, def } => {
                put_record(c, wb, DefKind::Vhost, name, "", Some(def))
            }
            Command::PutUser { name, def } => put_record(c, wb, DefKind::User, "", name, Some(def)),
            Command::DeleteUser { name } => put_record(c, wb, DefKind::User, "", name, None),
            Command::SetPermissions { vhost, user, def } => {
                put_record(c, wb, DefKind::Permission, vhost, user, Some(def))
            }
            Command::ClearPermissions { vhost, user } => {
                put_record(c, wb, DefKind::Permission, vhost, user, None)
            }
            Command::SetTopicPermissions { vhost, user, def } => {
                put_record(c, wb, DefKind::TopicPermission, vhost, user, Some(def))
            }
            Command::ClearTopicPermissions { vhost, user } => {
                put_record(c, wb, DefKind::TopicPermission, vhost, user, None)
            }
            Command::SetPolicy {
                vhost,
                name,
                operator,
                def,
            } => put_record(c, wb, policy_kind(*operator), vhost, name, Some(def)),
            Command::ClearPolicy {
                vhost,
                name,
                operator,
            } => put_record(c, wb, policy_kind(*operator), vhost, name, None),
        }
        Ok(())
    }

    /// Everything stored in `vhost` goes: its queues with their messages, then one range
    /// delete per kind of record (a put earlier in this batch is covered: a write batch
    /// applies in order).
    fn drop_vhost(&mut self, c: &Cfs, wb: &mut WriteBatch, vhost: &str) -> Result<(), StoreError> {
        let queues: Vec<QueueId> = self
            .queues
            .iter()
            .filter(|(_, m)| m.vhost == vhost)
            .map(|(id, _)| *id)
            .collect();
        for q in queues {
            self.drop_queue(c, wb, q)?;
        }
        for kind in DefKind::IN_VHOST {
            let (start, end) = keys::vhost_range(kind, vhost);
            wb.delete_range_cf(c.defs, start, end);
        }
        Ok(())
    }

    fn enqueue(
        &mut self,
        c: &Cfs,
        wb: &mut WriteBatch,
        message: MessageId,
        body: &[u8],
        targets: &[(QueueId, Seq)],
    ) {
        let mut valid = Vec::with_capacity(targets.len());
        for &(q, seq) in targets {
            match self.queues.get_mut(&q) {
                Some(m) if m.last_seq.is_none_or(|last| seq > last) => {
                    m.last_seq = Some(seq);
                    valid.push((q, seq));
                }
                Some(m) => {
                    tracing::warn!(queue = q, seq, last = ?m.last_seq, "enqueue at a stale seq ignored");
                    self.ignored += 1;
                }
                None => {
                    tracing::debug!(
                        queue = q,
                        seq,
                        "enqueue to a queue not in the store ignored"
                    );
                    self.ignored += 1;
                }
            }
        }
        if valid.is_empty() {
            return;
        }
        let shared = valid.len() > 1;
        if self.refs.contains_key(&message) {
            tracing::warn!(message, "message id already in use; enqueue ignored");
            self.ignored += 1;
            return;
        }
        wb.put_cf(c.msgs, keys::msg_key(message), keys::msg_value(body));
        let v = IndexValue {
            message,
            shared,
            delivery_count: 0,
        };
        for &(q, seq) in &valid {
            wb.put_cf(c.qidx, keys::idx_key(q, seq), v.encode());
            self.overlay.insert((q, seq), Some(v));
        }
        if shared {
            self.refs.insert(message, valid.len() as u32);
        }
    }

    /// One index entry of `message` is gone: delete the message if it was the last.
    pub(crate) fn release(&mut self, c: &Cfs, wb: &mut WriteBatch, v: IndexValue) {
        if !v.shared {
            wb.delete_cf(c.msgs, keys::msg_key(v.message));
            return;
        }
        match self.refs.get_mut(&v.message) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                self.refs.remove(&v.message);
                wb.delete_cf(c.msgs, keys::msg_key(v.message));
            }
            None => {
                // Should not happen: keep the message rather than risk losing a live one.
                tracing::error!(
                    message = v.message,
                    "shared message without a reference count"
                );
            }
        }
    }

    /// The entry at (queue, seq) as of everything applied so far, this batch included.
    fn lookup(&self, c: &Cfs, queue: QueueId, seq: Seq) -> Result<Option<IndexValue>, StoreError> {
        if let Some(v) = self.overlay.get(&(queue, seq)) {
            return Ok(*v);
        }
        if self.is_cleared(queue, seq) {
            return Ok(None);
        }
        let raw =
            c.db.get_pinned_cf(c.qidx, keys::idx_key(queue, seq))
                .map_err(|e| StoreError::db(c.path, "reading the queue index", e))?;
        match raw {
            None => Ok(None),
            Some(raw) => IndexValue::decode(&raw)
                .map(Some)
                .ok_or_else(|| c.corrupt(format!("bad index value at queue {queue} seq {seq}"))),
        }
    }

    /// The stored index entries of `seqs` in one RocksDB `MultiGet`, which shares the index
    /// and filter lookups between the keys instead of one point get per seq (docs/storage.md,
    /// "RocksDB options").
    fn read_entries(
        &self,
        c: &Cfs,
        queue: QueueId,
        seqs: &[Seq],
    ) -> Result<Vec<Option<IndexValue>>, StoreError> {
        if let [seq] = seqs {
            return Ok(vec![self.lookup(c, queue, *seq)?]);
        }
        let keys: Vec<[u8; 16]> = seqs.iter().map(|&s| keys::idx_key(queue, s)).collect();
        let ascending = seqs.windows(2).all(|w| w[0] < w[1]);
        let found = c.db.batched_multi_get_cf(c.qidx, keys.iter(), ascending);
        seqs.iter()
            .zip(found)
            .map(|(&seq, raw)| {
                let raw = raw.map_err(|e| StoreError::db(c.path, "reading the queue index", e))?;
                raw.map(|raw| {
                    IndexValue::decode(&raw).ok_or_else(|| {
                        c.corrupt(format!("bad index value at queue {queue} seq {seq}"))
                    })
                })
                .transpose()
            })
            .collect()
    }

    fn is_cleared(&self, queue: QueueId, seq: Seq) -> bool {
        self.cleared
            .get(&queue)
            .is_some_and(|ranges| ranges.iter().any(|&(a, b)| a <= seq && seq <= b))
    }

    /// The first `limit` live entries of `queue` from seq `from` on, in seq order, as of
    /// everything applied so far.
    pub(crate) fn live_entries(
        &self,
        c: &Cfs,
        queue: QueueId,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, IndexValue)>, StoreError> {
        let mut out = Vec::new();
        let mut opts = rocksdb::ReadOptions::default();
        opts.set_iterate_upper_bound(keys::idx_queue_end(queue).to_vec());
        let mut it = c.db.raw_iterator_cf_opt(c.qidx, opts);
        it.seek(keys::idx_key(queue, from));
        while it.valid() && out.len() < limit {
            let (k, v) = (it.key().unwrap_or_default(), it.value().unwrap_or_default());
            let (q, seq) = keys::parse_idx_key(k)
                .ok_or_else(|| c.corrupt(format!("bad index key {k:02x?}")))?;
            debug_assert_eq!(q, queue);
            if !self.overlay.contains_key(&(queue, seq)) && !self.is_cleared(queue, seq) {
                let v = IndexValue::decode(v).ok_or_else(|| {
                    c.corrupt(format!("bad index value at queue {queue} seq {seq}"))
                })?;
                out.push((seq, v));
            }
            it.next();
        }
        it.status()
            .map_err(|e| StoreError::db(c.path, "scanning the queue index", e))?;
        let pending: Vec<_> = self
            .overlay
            .range((queue, from)..=(queue, Seq::MAX))
            .filter_map(|(&(_, seq), v)| v.map(|v| (seq, v)))
            .collect();
        if !pending.is_empty() {
            out.extend(pending);
            out.sort_unstable_by_key(|e| e.0);
            // What is cut is above every entry kept: with `limit` read from disk, at least
            // `limit` entries are at or below the last of them.
            out.truncate(limit);
        }
        Ok(out)
    }

    /// Range-deletes seqs `from..=to` of `queue` (entries' messages must be released by the
    /// caller).
    pub(crate) fn clear_range(
        &mut self,
        c: &Cfs,
        wb: &mut WriteBatch,
        queue: QueueId,
        from: Seq,
        to: Seq,
    ) {
        let end = match to.checked_add(1) {
            Some(next) => keys::idx_key(queue, next).to_vec(),
            None => keys::idx_queue_end(queue).to_vec(),
        };
        wb.delete_range_cf(c.qidx, keys::idx_key(queue, from).to_vec(), end);
        let stale: Vec<_> = self
            .overlay
            .range((queue, from)..=(queue, to))
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            self.overlay.remove(&k);
        }
        self.cleared.entry(queue).or_default().push((from, to));
    }

    /// The queue's definition goes now; its entries, and the messages only they held, go a
    /// chunk at a time, the first in this batch (`reap.rs`).
    fn drop_queue(
        &mut self,
        c: &Cfs,
        wb: &mut WriteBatch,
        queue: QueueId,
    ) -> Result<(), StoreError> {
        if let Some(m) = self.queues.remove(&queue) {
            wb.delete_cf(
                c.defs,
                keys::def_key(DefKind::Queue, &m.vhost, m.name.as_bytes()),
            );
            self.names.remove(&(m.vhost, m.name));
        }
        self.reaping.insert(queue, 0);
        self.reap(c, wb, queue)
    }

    fn purge(
        &mut self,
        c: &Cfs,
        wb: &mut WriteBatch,
        queue: QueueId,
        keep: &[Seq],
    ) -> Result<(), StoreError> {
        let keep: HashSet<Seq> = keep.iter().copied().collect();
        let mut kept: Vec<Seq> = keep.iter().copied().collect();
        kept.sort_unstable();
        // Entries go by range deletes over the gaps between kept seqs; a gap is written only
        // if it holds something.
        let mut gaps_used: Vec<usize> = Vec::new();
        for (seq, v) in self.live_entries(c, queue, 0, usize::MAX)? {
            if keep.contains(&seq) {
                continue;
            }
            self.release(c, wb, v);
            let gap = kept.partition_point(|&k| k < seq);
            if gaps_used.last() != Some(&gap) {
                gaps_used.push(gap);
            }
        }
        for gap in gaps_used {
            let from = if gap == 0 { 0 } else { kept[gap - 1] + 1 };
            let to = if gap == kept.len() {
                Seq::MAX
            } else {
                kept[gap] - 1
            };
            self.clear_range(c, wb, queue, from, to);
        }
        Ok(())
    }
}

fn policy_kind(operator: bool) -> DefKind {
    match operator {
        true => DefKind::OperatorPolicy,
        false => DefKind::Policy,
    }
}

/// An access record (vhost, user, permissions, policy): a plain put, or a delete without
/// `def`.
fn put_record(
    c: &Cfs,
    wb: &mut WriteBatch,
    kind: DefKind,
    vhost: &str,
    name: &str,
    def: Option<&Bytes>,
) {
    let key = keys::def_key(kind, vhost, name.as_bytes());
    match def {
        Some(def) => wb.put_cf(c.defs, key, keys::def_value(def)),
        None => wb.delete_cf(c.defs, key),
    }
}
