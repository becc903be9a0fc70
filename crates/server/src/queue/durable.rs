//! A durable queue's place in the store: `StoredQueue`, the persistent publish that assigns
//! seqs and submits the `Enqueue` under the queues' locks, and the store commands for acks and
//! delivery counts.

use super::{DeadLetters, Entry, Queue, State};
use crate::clock::now_ms;
use crate::message::stored as persist;
use crate::message::{Message, Slot};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, Weak};
use warren_store::{Command, QueueId, Reply, Store};

/// A durable queue's place in the store.
///
/// The store is held weakly: queue handles can outlive the broker (a routing snapshot cached
/// by a worker thread holds them until that thread routes again), and they must not keep the
/// store, and so the data dir's lock, open after the broker is gone.
#[derive(Debug, Clone)]
pub struct StoredQueue {
    store: Weak<Store>,
    pub id: QueueId,
}

impl StoredQueue {
    pub(crate) fn new(store: &Arc<Store>, id: QueueId) -> StoredQueue {
        StoredQueue {
            store: Arc::downgrade(store),
            id,
        }
    }

    /// The store, unless the broker has shut down.
    pub fn store(&self) -> Option<Arc<Store>> {
        self.store.upgrade()
    }
}

impl Queue {
    /// The store and id of a durable queue.
    pub fn stored(&self) -> Option<&StoredQueue> {
        self.stored.as_ref()
    }

    /// Records that every `Enqueue` to this queue up to `seq` has been written.
    pub(crate) fn mark_persisted(&self, seq: u64) {
        self.persisted_below.fetch_max(seq + 1, Ordering::Relaxed);
    }

    /// Appends a persistent message to durable queues, storing it once with an index entry
    /// per queue. Locks the queues in id order (no deadlock between publishers), assigns the
    /// seqs and submits the `Enqueue` before any lock is released, so each queue's seqs reach
    /// the store in order. Returns the store's reply (`None` if every queue was deleted) and
    /// pushes each (queue, seq) to `written` for [`Queue::mark_persisted`] once it resolves.
    pub(crate) fn publish_persistent(
        queues: &[Arc<Queue>],
        message: Message,
        store: &Store,
        sync: bool,
        written: &mut Vec<(Arc<Queue>, u64)>,
        refused: &mut bool,
    ) -> Option<Reply> {
        let mut order: Vec<&Arc<Queue>> = queues.iter().filter(|q| q.stored.is_some()).collect();
        order.sort_by_key(|q| q.id);
        let mut guards: Vec<(&Arc<Queue>, MutexGuard<'_, State>)> = Vec::with_capacity(order.len());
        let mut targets = Vec::with_capacity(order.len());
        // Dead letters are handed over only once every lock here is released (routing may
        // enqueue into one of these queues).
        let mut dead: Vec<(&Arc<Queue>, DeadLetters)> = Vec::new();
        for q in order {
            let mut st = q.lock();
            if st.deleted {
                continue;
            }
            if q.refuses(&mut st, &message) {
                *refused = true;
                if !st.dead.is_empty() {
                    dead.push((q, std::mem::take(&mut st.dead)));
                }
                continue;
            }
            let seq = st.next_seq;
            st.next_seq += 1;
            if let Some(s) = &q.stored {
                targets.push((s.id, seq));
            }
            guards.push((q, st));
        }
        if targets.is_empty() {
            drop(guards);
            for (q, items) in dead {
                q.hand_over_dead_letters(items);
            }
            return None;
        }
        let reply = store.submit(
            vec![Command::Enqueue {
                message: store.allocate_message_id(),
                body: persist::encode_message(&message, now_ms()),
                targets,
            }],
            sync,
        );
        for (q, st) in guards.iter_mut() {
            let seq = st.next_seq - 1;
            st.resident += 1;
            st.resident_bytes += message.body_len();
            let expires_at = q.expiry_for(&message);
            st.push_ready(Entry::new(
                seq,
                Slot::resident(message.clone()),
                q.priority_of(&message),
                true,
                expires_at,
            ));
            written.push(((*q).clone(), seq));
            q.dispatch(st);
            q.drop_head_over_limit(st);
            q.page_out(st);
        }
        dead.extend(
            guards
                .iter_mut()
                .filter(|(_, st)| !st.dead.is_empty())
                .map(|(q, st)| (*q, std::mem::take(&mut st.dead))),
        );
        drop(guards);
        for (q, items) in dead {
            q.hand_over_dead_letters(items);
        }
        Some(reply)
    }

    pub(super) fn ack_command(&self, seqs: Vec<u64>) -> Command {
        Command::Ack {
            queue: self.stored.as_ref().map_or(0, |s| s.id),
            seqs,
        }
    }

    /// Removes stored entries (ack, reject, no-ack delivery): not synced, see docs/storage.md.
    pub(super) fn submit_acks(&self, seqs: Vec<u64>) {
        let cmd = self.ack_command(seqs);
        self.submit_detached(vec![cmd]);
    }

    pub(super) fn delivery_count_command(&self, entry: &Entry) -> Option<Command> {
        let stored = self.stored.as_ref().filter(|_| entry.stored())?;
        Some(Command::SetDeliveryCount {
            queue: stored.id,
            seq: entry.seq,
            count: entry.delivery_count(),
        })
    }

    pub(super) fn submit_detached(&self, cmds: Vec<Command>) {
        if let Some((_, store)) = self.stored_with_store() {
            store.submit_detached(cmds);
        }
    }

    pub(super) fn stored_with_store(&self) -> Option<(&StoredQueue, Arc<Store>)> {
        let stored = self.stored.as_ref()?;
        Some((stored, stored.store()?))
    }
}
