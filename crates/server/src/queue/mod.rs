//! A queue: its ready messages, the messages delivered but not yet acked, its consumers, and
//! the dispatch that hands ready messages to consumers with prefetch credit, round-robin.
//!
//! The state sits behind one `std::sync::Mutex` held only for in-memory work (never across an
//! `.await`): publish, dispatch, ack and requeue are each a short critical section. See
//! docs/server.md for why we chose a locked queue over a task per queue.
//!
//! A durable queue also mirrors its persistent messages into the store: it assigns each one
//! its sequence number and submits the `Enqueue` under the same lock, so the store sees every
//! queue's changes in the order the queue made them. Past a small in-memory budget the bodies
//! of stored messages are dropped from memory (paged out) and read back from the store, a
//! page at a time, just before they reach the head (docs/storage.md, "Paging").

mod consumers;
mod dispatch;
mod durable;
mod entry;
mod expiry;
mod limits;
mod paging;
mod settle;
mod state;

pub use consumers::{Consumer, ConsumerRemoval};
pub use durable::StoredQueue;
use entry::Entry;
use limits::Overflow;
use state::{DeadLetters, State};

use crate::clock::now_ms;
use crate::dead_letter::DeadLetterTarget;
use crate::error::{AmqpError, AmqpResult};
use crate::events::ConnEvent;
use crate::ids::ConnectionId;
use crate::message::{Message, Slot};
use crate::vhost::Vhost;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use warren_codec::{FieldTable, FieldValue};
use warren_store::Command;

static NEXT_QUEUE_ID: AtomicU64 = AtomicU64::new(1);

/// Declared properties, compared on redeclare.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    pub durable: bool,
    pub exclusive_owner: Option<ConnectionId>,
    pub auto_delete: bool,
    pub arguments: FieldTable,
}

#[derive(Debug)]
pub struct Queue {
    id: u64,
    pub name: Arc<str>,
    pub vhost: Arc<str>,
    pub options: QueueOptions,
    /// Set for durable queues when the broker has a store.
    stored: Option<StoredQueue>,
    /// `x-single-active-consumer`: only the earliest registered consumer gets messages.
    single_active: bool,
    /// `x-message-ttl` in ms.
    message_ttl: Option<u64>,
    /// `x-max-length` / `x-max-length-bytes`: ready messages and their body bytes.
    max_length: Option<u64>,
    max_length_bytes: Option<u64>,
    /// `x-overflow`: what happens past a length limit.
    overflow: Overflow,
    /// `x-expires` in ms: the queue is deleted after being unused this long.
    pub expires: Option<u64>,
    /// `x-max-priority`: a priority queue (message priorities above it count as it).
    max_priority: Option<u8>,
    /// When the queue was last used (declared, consumed from, read with basic.get, or lost its
    /// last consumer), in ms since the epoch: `x-expires` counts from here.
    last_used: AtomicU64,
    /// `x-dead-letter-exchange` / `x-dead-letter-routing-key`.
    dead_letter: Option<DeadLetterTarget>,
    /// The vhost that routes this queue's dead letters (set once, right after creation).
    vhost_link: OnceLock<Weak<Vhost>>,
    /// Every `Enqueue` of this queue below this seq has been written (its reply resolved):
    /// only those bodies may be paged out, since only they can be read back.
    persisted_below: AtomicU64,
    state: Mutex<State>,
}

impl PartialEq for Queue {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Queue {}

impl Hash for Queue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl Queue {
    pub fn new(name: &str, vhost: Arc<str>, options: QueueOptions) -> Arc<Queue> {
        Self::with_store(name, vhost, options, None)
    }

    /// A queue whose persistent messages go to the store (`stored`), or a transient one.
    pub fn with_store(
        name: &str,
        vhost: Arc<str>,
        options: QueueOptions,
        stored: Option<StoredQueue>,
    ) -> Arc<Queue> {
        let single_active = matches!(
            options.arguments.get("x-single-active-consumer"),
            Some(FieldValue::Bool(true))
        );
        let dead_letter = DeadLetterTarget::from_arguments(&options.arguments);
        // Validated at declare (crate::arguments): integers, not negative.
        let limit = |key: &str| {
            options
                .arguments
                .get(key)
                .and_then(FieldValue::as_i64)
                .map(|n| u64::try_from(n).unwrap_or(0))
        };
        let message_ttl = limit("x-message-ttl");
        let expires = limit("x-expires").filter(|&ms| ms > 0);
        let max_priority = limit("x-max-priority")
            .filter(|&p| p > 0)
            .map(|p| u8::try_from(p).unwrap_or(u8::MAX));
        let max_length = limit("x-max-length");
        let max_length_bytes = limit("x-max-length-bytes");
        let overflow = match options.arguments.get("x-overflow") {
            Some(FieldValue::LongStr(s)) if s.as_bytes() == b"reject-publish" => {
                Overflow::RejectPublish
            }
            Some(FieldValue::LongStr(s)) if s.as_bytes() == b"reject-publish-dlx" => {
                Overflow::RejectPublishDlx
            }
            _ => Overflow::DropHead,
        };
        Arc::new(Queue {
            id: NEXT_QUEUE_ID.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            vhost,
            options,
            stored,
            single_active,
            message_ttl,
            max_length,
            max_length_bytes,
            overflow,
            expires,
            max_priority,
            last_used: AtomicU64::new(now_ms()),
            dead_letter,
            vhost_link: OnceLock::new(),
            persisted_below: AtomicU64::new(0),
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> Locked<'_> {
        // A panic while holding the lock is a bug; keep serving rather than poisoning forever.
        Locked {
            queue: self,
            guard: Some(self.state.lock().unwrap_or_else(|p| p.into_inner())),
        }
    }

    /// Whether the queue has been deleted.
    pub fn is_deleted(&self) -> bool {
        self.lock().deleted
    }

    /// Sets the vhost that routes this queue's dead letters.
    pub fn link_vhost(&self, vhost: Weak<Vhost>) {
        let _ = self.vhost_link.set(vhost);
    }

    /// Sends messages that left this queue to its dead-letter exchange. Call with no queue
    /// lock held.
    fn route_dead_letters(&self, items: DeadLetters) {
        let vhost = self.vhost_link.get().and_then(Weak::upgrade);
        if let (Some(vhost), Some(target)) = (vhost, &self.dead_letter) {
            vhost.dead_letter(&self.name, target, items);
        }
    }

    pub fn is_exclusive_to_other(&self, conn: ConnectionId) -> bool {
        matches!(self.options.exclusive_owner, Some(owner) if owner != conn)
    }

    pub fn locked_error(&self) -> AmqpError {
        AmqpError::resource_locked(format!(
            "cannot obtain exclusive access to locked queue '{}' in vhost '{}'. It could be \
             originally declared on another connection or the exclusive property value does not \
             match that of the original declaration.",
            self.name, self.vhost
        ))
    }

    /// (ready messages, consumers), as queue.declare-ok reports them.
    pub fn counts(&self) -> (u32, u32) {
        let st = self.lock();
        (st.ready.len() as u32, st.consumers.len() as u32)
    }

    /// (ready messages, ready messages whose body is in memory): what paging keeps resident.
    pub fn memory_counts(&self) -> (usize, usize) {
        let st = self.lock();
        let in_memory = st.ready.iter().filter(|e| e.body.is_resident()).count();
        (st.ready.len(), in_memory)
    }

    /// Appends a message and hands it on if a consumer has room. `false`: refused by a
    /// length limit with `x-overflow` reject-publish(-dlx); a confirming publisher gets a nack.
    pub fn publish(self: &Arc<Self>, message: Message) -> bool {
        let expires_at = self.expiry_for(&message);
        let mut st = self.lock();
        if st.deleted {
            return true;
        }
        if self.refuses(&mut st, &message) {
            return false;
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        let priority = self.priority_of(&message);
        st.push_ready(Entry::new(
            seq,
            Slot::resident(message),
            priority,
            false,
            expires_at,
        ));
        self.dispatch(&mut st);
        self.drop_head_over_limit(&mut st);
        true
    }

    /// Removes all ready messages; returns how many. Delivered, unacked ones stay.
    pub fn purge(&self) -> u32 {
        let mut st = self.lock();
        let n = st.ready.len() as u32;
        if let Some((stored, store)) = self.stored_with_store() {
            if st.ready.iter().any(|e| e.stored()) {
                let mut keep: Vec<u64> = st
                    .unacked
                    .values()
                    .filter(|e| e.stored())
                    .map(|e| e.seq)
                    .collect();
                keep.sort_unstable();
                store.submit_detached(vec![Command::Purge {
                    queue: stored.id,
                    keep,
                }]);
            }
        }
        st.clear_ready();
        st.resident = 0;
        st.resident_bytes = 0;
        n
    }

    /// Marks the queue deleted and notifies its consumers. Returns the ready count.
    pub fn delete(&self, if_unused: bool, if_empty: bool) -> AmqpResult<u32> {
        let mut st = self.lock();
        if if_unused && !st.consumers.is_empty() {
            return Err(AmqpError::precondition_failed(format!(
                "queue '{}' in vhost '{}' in use",
                self.name, self.vhost
            )));
        }
        if if_empty && !st.ready.is_empty() {
            return Err(AmqpError::precondition_failed(format!(
                "queue '{}' in vhost '{}' not empty",
                self.name, self.vhost
            )));
        }
        st.deleted = true;
        let n = st.ready.len() as u32;
        if let Some((stored, store)) = self.stored_with_store() {
            // Synced (the definition goes), but nobody waits for it: delete-ok does not.
            drop(store.submit(vec![Command::DeleteQueue { queue: stored.id }], true));
        }
        st.clear_ready();
        st.resident = 0;
        st.resident_bytes = 0;
        st.unacked.clear();
        for c in st.consumers.drain(..) {
            let _ = c.tx.send(ConnEvent::ConsumerCancelled {
                channel: c.channel,
                tag: c.tag.clone(),
            });
        }
        Ok(n)
    }
}

/// The queue's lock. Dead letters collected while it was held are routed when it is
/// released: routing may enqueue into this very queue.
struct Locked<'a> {
    queue: &'a Queue,
    guard: Option<MutexGuard<'a, State>>,
}

impl Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        self.guard.as_ref().expect("held until drop")
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.guard.as_mut().expect("held until drop")
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let dead = match self.guard.as_mut() {
            Some(st) if !st.dead.is_empty() => std::mem::take(&mut st.dead),
            _ => return,
        };
        drop(self.guard.take());
        self.queue.route_dead_letters(dead);
    }
}
