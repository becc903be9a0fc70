//! Recovery at open: reads every definition, scans the queue index once (keys and 14-byte
//! values, never message bodies) to get each queue's count and sequence bounds and to rebuild
//! the reference counts of shared messages, and finds the next free ids.

use crate::apply::QueueMeta;
use crate::command::{MessageId, QueueId, Seq};
use crate::error::StoreError;
use crate::keys::{self, DefKind, IndexValue};
use bytes::Bytes;
use rocksdb::{ReadOptions, DB};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A durable exchange as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredExchange {
    pub vhost: String,
    pub name: String,
    pub def: Bytes,
}

/// A binding as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBinding {
    pub vhost: String,
    pub key: Bytes,
    pub def: Bytes,
}

/// A vhost or a user as stored: its name and record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub name: String,
    pub def: Bytes,
}

/// A user's permissions (or topic permissions) in a vhost, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGrant {
    pub vhost: String,
    pub user: String,
    pub def: Bytes,
}

/// A policy (or operator policy) of a vhost, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    pub vhost: String,
    pub name: String,
    pub def: Bytes,
}

/// A durable queue as recovered: its definition and what its index holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredQueue {
    pub id: QueueId,
    pub vhost: String,
    pub name: String,
    pub def: Bytes,
    /// Index entries (ready and delivered-unacked alike).
    pub messages: u64,
    /// Lowest seq held, if any.
    pub first_seq: Option<Seq>,
    /// Highest seq held, if any; new entries must use higher seqs.
    pub last_seq: Option<Seq>,
}

/// Everything `Store::open` found.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    pub exchanges: Vec<StoredExchange>,
    /// Sorted by id.
    pub queues: Vec<RecoveredQueue>,
    pub bindings: Vec<StoredBinding>,
    pub vhosts: Vec<StoredRecord>,
    pub users: Vec<StoredRecord>,
    pub permissions: Vec<StoredGrant>,
    pub topic_permissions: Vec<StoredGrant>,
    pub policies: Vec<StoredPolicy>,
    pub operator_policies: Vec<StoredPolicy>,
    /// Index entries over all queues.
    pub index_entries: u64,
    /// Distinct messages those entries reference.
    pub messages: u64,
    /// Index entries of deleted queues not yet removed when the store last stopped; they are
    /// removed in the background (`reap.rs`).
    pub orphan_entries: u64,
    /// Time `Store::open` took in all: RocksDB's open with its WAL replay, plus the scan.
    pub elapsed: Duration,
    /// Of which the definitions and index scan.
    pub scan_elapsed: Duration,
}

/// Recovery output plus what the store itself needs.
pub(crate) struct Recovery {
    pub recovered: Recovered,
    pub queue_state: HashMap<QueueId, QueueMeta>,
    pub refs: HashMap<MessageId, u32>,
    pub next_message: MessageId,
    pub next_queue: QueueId,
    /// Deleted queues with entries left on disk, for the reaper.
    pub reaping: Vec<QueueId>,
}

pub(crate) fn recover(db: &DB, path: &Path) -> Result<Recovery, StoreError> {
    let started = Instant::now();
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let cf = |name| db.cf_handle(name).expect("opened with this column family");

    let mut rec = Recovered::default();
    let mut queue_state = HashMap::new();
    let mut by_id: HashMap<QueueId, usize> = HashMap::new();
    let mut it = db.raw_iterator_cf(cf(keys::CF_DEFS));
    it.seek_to_first();
    while it.valid() {
        let (k, v) = (it.key().unwrap_or_default(), it.value().unwrap_or_default());
        let (kind, vhost, name) = keys::parse_def_key(k)
            .ok_or_else(|| corrupt(format!("bad definition key {k:02x?}")))?;
        let bad = || {
            corrupt(format!(
                "bad {kind:?} definition for {name:02x?} in '{vhost}'"
            ))
        };
        let utf8 = |n: &[u8]| String::from_utf8(n.to_vec()).map_err(|_| bad());
        let def = || {
            keys::parse_def_value(v)
                .map(Bytes::copy_from_slice)
                .ok_or_else(bad)
        };
        match kind {
            DefKind::Meta => {}
            DefKind::Exchange => rec.exchanges.push(StoredExchange {
                name: utf8(name)?,
                def: Bytes::copy_from_slice(keys::parse_def_value(v).ok_or_else(bad)?),
                vhost,
            }),
            DefKind::Binding => rec.bindings.push(StoredBinding {
                key: Bytes::copy_from_slice(name),
                def: Bytes::copy_from_slice(keys::parse_def_value(v).ok_or_else(bad)?),
                vhost,
            }),
            DefKind::Queue => {
                let (id, def) = keys::parse_queue_value(v).ok_or_else(bad)?;
                let name = utf8(name)?;
                queue_state.insert(
                    id,
                    QueueMeta {
                        vhost: vhost.clone(),
                        name: name.clone(),
                        last_seq: None,
                    },
                );
                by_id.insert(id, rec.queues.len());
                rec.queues.push(RecoveredQueue {
                    id,
                    vhost,
                    name,
                    def: Bytes::copy_from_slice(def),
                    messages: 0,
                    first_seq: None,
                    last_seq: None,
                });
            }
            DefKind::Vhost => rec.vhosts.push(StoredRecord {
                def: def()?,
                name: vhost,
            }),
            DefKind::User => rec.users.push(StoredRecord {
                name: utf8(name)?,
                def: def()?,
            }),
            DefKind::Permission => rec.permissions.push(StoredGrant {
                user: utf8(name)?,
                def: def()?,
                vhost,
            }),
            DefKind::TopicPermission => rec.topic_permissions.push(StoredGrant {
                user: utf8(name)?,
                def: def()?,
                vhost,
            }),
            DefKind::Policy => rec.policies.push(StoredPolicy {
                name: utf8(name)?,
                def: def()?,
                vhost,
            }),
            DefKind::OperatorPolicy => rec.operator_policies.push(StoredPolicy {
                name: utf8(name)?,
                def: def()?,
                vhost,
            }),
        }
        it.next();
    }
    it.status()
        .map_err(|e| StoreError::db(path, "reading definitions", e))?;
    drop(it);

    // One ordered pass over the index: entries of a queue are contiguous and ascending.
    let mut refs: HashMap<MessageId, u32> = HashMap::new();
    let mut single_ref_messages = 0u64;
    let mut max_queue_in_index = 0;
    let mut reaping = Vec::new();
    let mut ro = ReadOptions::default();
    ro.set_readahead_size(2 << 20);
    let mut it = db.raw_iterator_cf_opt(cf(keys::CF_QIDX), ro);
    it.seek_to_first();
    while it.valid() {
        let (k, v) = (it.key().unwrap_or_default(), it.value().unwrap_or_default());
        let (queue, seq) =
            keys::parse_idx_key(k).ok_or_else(|| corrupt(format!("bad index key {k:02x?}")))?;
        let val = IndexValue::decode(v)
            .ok_or_else(|| corrupt(format!("bad index value at queue {queue} seq {seq}")))?;
        rec.index_entries += 1;
        max_queue_in_index = max_queue_in_index.max(queue);
        match by_id.get(&queue) {
            Some(&i) => {
                let q = &mut rec.queues[i];
                q.messages += 1;
                q.first_seq.get_or_insert(seq);
                q.last_seq = Some(seq);
            }
            None => {
                rec.orphan_entries += 1;
                if reaping.last() != Some(&queue) {
                    reaping.push(queue);
                }
            }
        }
        if val.shared {
            *refs.entry(val.message).or_insert(0) += 1;
        } else {
            single_ref_messages += 1;
        }
        it.next();
    }
    it.status()
        .map_err(|e| StoreError::db(path, "scanning the queue index", e))?;
    drop(it);
    rec.messages = single_ref_messages + refs.len() as u64;
    for q in &rec.queues {
        if let Some(m) = queue_state.get_mut(&q.id) {
            m.last_seq = q.last_seq;
        }
    }
    if rec.orphan_entries > 0 {
        tracing::info!(
            path = %path.display(),
            entries = rec.orphan_entries,
            queues = reaping.len(),
            "deleted queues still have entries on disk; removing them in the background"
        );
    }

    let mut it = db.raw_iterator_cf(cf(keys::CF_MSGS));
    it.seek_to_last();
    let max_message = if it.valid() {
        let k = it.key().unwrap_or_default();
        Some(keys::parse_msg_key(k).ok_or_else(|| corrupt(format!("bad message key {k:02x?}")))?)
    } else {
        None
    };
    it.status()
        .map_err(|e| StoreError::db(path, "reading messages", e))?;
    let max_queue = rec.queues.iter().map(|q| q.id).max().unwrap_or(0);

    rec.queues.sort_by_key(|q| q.id);
    rec.scan_elapsed = started.elapsed();
    Ok(Recovery {
        recovered: rec,
        queue_state,
        refs,
        next_message: max_message.map_or(1, |m| m + 1),
        next_queue: max_queue.max(max_queue_in_index) + 1,
        reaping,
    })
}
