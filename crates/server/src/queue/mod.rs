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
//!
//! The queue knows nothing above it (no vhost, no routing). Messages that leave it for its
//! dead-letter exchange go to a [`DeadLetterSink`] it is given at construction (the vhost,
//! held weakly) and they are handed over explicitly: every operation that can produce them
//! runs under [`Queue::locked`], which passes them on after releasing the lock (routing may
//! enqueue into this very queue), and the persistent publish, which holds several queues'
//! locks, does so once it has released them all. We chose this over returning the dead
//! letters to the callers: the expiry timer produces them too and has no caller, and a dozen
//! call sites in the connection and vhost code stay as they were.

mod bands;
mod cold;
mod consumers;
mod dead_letters;
pub(crate) mod delivery;
mod dispatch;
#[cfg(test)]
mod dispatch_tests;
mod durable;
mod entry;
mod expiry;
mod limits;
#[cfg(test)]
mod model_tests;
mod paging;
mod pending_acks;
mod settings;
mod settle;
mod spill;
#[cfg(test)]
mod spill_tests;
mod state;

pub(crate) use consumers::Consumer;
pub(crate) use dead_letters::DeadLetterSink;
use dead_letters::{DeadLetters, NoSink};
pub use durable::StoredQueue;
use entry::Entry;
use settings::Settings;
pub(crate) use spill::Spill;
use state::State;

use crate::clock::now_ms;
use crate::error::{AmqpError, AmqpResult};
use crate::ids::ConnectionId;
use crate::message::{Message, Slot};
use crate::stats::QueueStats;
use crate::tasks::Tasks;
use delivery::ConnEvent;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use warren_codec::FieldValue;
use warren_store::Command;

static NEXT_QUEUE_ID: AtomicU64 = AtomicU64::new(1);

/// Entries freed at once from at least this many go to a blocking thread (`Queue::free`).
const FREE_OFF_WORKERS: usize = 4096;

/// Declared properties (kept with the other definitions in `meta`, which stores them).
pub use crate::meta::QueueOptions;

#[derive(Debug)]
pub struct Queue {
    id: u64,
    pub(crate) name: Arc<str>,
    pub(crate) vhost: Arc<str>,
    pub(crate) options: QueueOptions,
    /// Set for durable queues when the broker has a store.
    stored: Option<StoredQueue>,
    /// Where unstored bodies go under memory pressure (set when the broker has a store).
    spill: Option<Spill>,
    /// Ready entries at the head that never spill (`paging::HEAD_WINDOW`; tests lower it).
    spill_window: usize,
    /// Fewest paged-out entries that leave memory at once (`cold.rs`; tests lower it).
    freeze_min: usize,
    /// `x-single-active-consumer`: only the earliest registered consumer gets messages.
    single_active: bool,
    /// `x-max-priority`: a priority queue (message priorities above it count as it).
    max_priority: Option<u8>,
    /// TTL, length limits, overflow, `x-expires`, consumer timeout and dead-letter target:
    /// the declared arguments with the policies in force folded in.
    settings: Settings,
    /// When the queue was last used (declared, consumed from, read with basic.get, or lost its
    /// last consumer), in ms since the epoch: `x-expires` counts from here.
    last_used: AtomicU64,
    /// A task watches this queue's `x-expires` (the vhost's; at most one), woken early when
    /// a policy changes it.
    expiry_watched: AtomicBool,
    expiry_changed: Arc<tokio::sync::Notify>,
    /// Where this queue's dead letters go (the vhost).
    dead_letter_sink: Weak<dyn DeadLetterSink>,
    /// Every `Enqueue` of this queue below this seq has been written (its reply resolved):
    /// only those bodies may be paged out, since only they can be read back.
    persisted_below: AtomicU64,
    /// The broker's detached tasks, where the expiry timer runs.
    tasks: Tasks,
    /// `message_stats`: bumped outside the state lock.
    pub(crate) counters: QueueStats,
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
    /// A transient queue whose dead letters go nowhere (for tests and benchmarks).
    pub fn new(name: &str, vhost: Arc<str>, options: QueueOptions) -> Arc<Queue> {
        Self::with_store(
            name,
            vhost,
            options,
            (None, None),
            Weak::<NoSink>::new(),
            Tasks::default(),
        )
    }

    /// A queue whose persistent messages go to the store (`stored`), or a transient one, and
    /// whose other bodies spill under memory pressure (`spill`); its dead letters go to
    /// `dead_letter_sink`; its expiry timer runs among `tasks`.
    pub(crate) fn with_store(
        name: &str,
        vhost: Arc<str>,
        options: QueueOptions,
        (stored, spill): (Option<StoredQueue>, Option<Spill>),
        dead_letter_sink: Weak<dyn DeadLetterSink>,
        tasks: Tasks,
    ) -> Arc<Queue> {
        let single_active = matches!(
            options.arguments.get("x-single-active-consumer"),
            Some(FieldValue::Bool(true))
        );
        let max_priority = options
            .arguments
            .get("x-max-priority")
            .and_then(FieldValue::as_i64)
            .filter(|&p| p > 0)
            .map(|p| u8::try_from(p).unwrap_or(u8::MAX));
        let settings = Settings::new(&options.arguments);
        Arc::new(Queue {
            id: NEXT_QUEUE_ID.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            vhost,
            options,
            stored,
            spill,
            spill_window: paging::HEAD_WINDOW,
            freeze_min: paging::PAGE_IN,
            single_active,
            max_priority,
            settings,
            last_used: AtomicU64::new(now_ms()),
            expiry_watched: AtomicBool::new(false),
            expiry_changed: Arc::default(),
            dead_letter_sink,
            persisted_below: AtomicU64::new(0),
            tasks,
            counters: QueueStats::default(),
            state: Mutex::new(State::default()),
        })
    }

    /// The queue's lock, for work that produces no dead letters (no dispatch, expiry, limits
    /// or discard); everything else goes through [`Queue::locked`].
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug; keep serving rather than poisoning forever.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `x-consumer-timeout` in ms, if the queue has one (else the broker's `consumer_timeout`).
    pub(crate) fn consumer_timeout(&self) -> Option<u64> {
        self.settings.consumer_timeout()
    }

    /// `x-expires` in ms, if the queue has one (from its arguments or a policy).
    pub(crate) fn expires(&self) -> Option<u64> {
        self.settings.expires()
    }

    /// Whether the queue has been deleted.
    pub(crate) fn is_deleted(&self) -> bool {
        self.lock().deleted
    }

    pub(crate) fn is_exclusive_to_other(&self, conn: ConnectionId) -> bool {
        matches!(self.options.exclusive_owner, Some(owner) if owner != conn)
    }

    pub(crate) fn locked_error(&self) -> AmqpError {
        AmqpError::resource_locked(format!(
            "cannot obtain exclusive access to locked queue '{}' in vhost '{}'. It could be \
             originally declared on another connection or the exclusive property value does not \
             match that of the original declaration.",
            self.name, self.vhost
        ))
    }

    /// (ready messages, consumers), as queue.declare-ok reports them.
    pub(crate) fn counts(&self) -> (u32, u32) {
        let st = self.lock();
        (st.ready_len() as u32, st.consumers.len() as u32)
    }

    /// (ready, unacked, consumers): what the admin facade reports.
    pub(crate) fn stats(&self) -> (usize, usize, usize) {
        let st = self.lock();
        (st.ready_len(), st.unacked.len(), st.consumers.len())
    }

    /// (ready messages, ready messages whose body is in memory): what paging keeps resident.
    pub fn memory_counts(&self) -> (usize, usize) {
        let st = self.lock();
        (st.ready_len(), st.ready_len() - st.paged)
    }

    /// Ready entries held in memory (the rest are the cold run's, only on disk).
    pub fn entries_in_memory(&self) -> usize {
        self.lock().ready.len()
    }

    /// What the management API shows of the queue's messages in memory and paged out.
    pub(crate) fn memory_stats(&self) -> crate::info::QueueMemory {
        let st = self.lock();
        let (mut unacked_bytes, mut unacked_ram, mut unacked_bytes_ram) = (0, 0, 0);
        for e in st.unacked.values() {
            let bytes = e.body_len() as u64;
            unacked_bytes += bytes;
            if e.body.is_resident() {
                unacked_ram += 1;
                unacked_bytes_ram += bytes;
            }
        }
        crate::info::QueueMemory {
            ready_bytes: st.ready_bytes,
            unacked_bytes,
            unacked_ram,
            unacked_bytes_ram,
            ready_ram: (st.ready_len() - st.paged) as u64,
            ready_bytes_ram: st.ready_bytes_in_memory(),
            paged_out: st.paged as u64,
            bytes_paged_out: st.paged_bytes,
        }
    }

    /// Appends a message and hands it on if a consumer has room. `false`: refused by a
    /// length limit with `x-overflow` reject-publish(-dlx); a confirming publisher gets a nack.
    pub fn publish(self: &Arc<Self>, message: Message) -> bool {
        let expires_at = self.expiry_for(&message);
        self.locked(|st| {
            if st.deleted {
                return true;
            }
            if self.refuses(st, &message) {
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
            self.dispatch(st);
            self.drop_head_over_limit(st);
            // Dropping the head may uncover one with a TTL that no timer watches yet.
            self.arm_expiry_timer(st);
            if self.under_pressure() {
                self.spill_out(st);
            }
            true
        })
    }

    /// Removes all ready messages; returns how many. Delivered, unacked ones stay.
    pub(crate) fn purge(&self) -> u32 {
        let mut st = self.lock();
        let n = st.ready_len() as u32;
        if let Some((stored, store)) = self.stored_with_store() {
            if st.cold.is_some() || st.ready.iter().any(|e| e.stored()) {
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
        self.clear_spilled(&st);
        let ready = st.take_ready();
        st.resident = 0;
        st.resident_bytes = 0;
        drop(st);
        self.free(ready);
        n
    }

    /// Frees a queue's worth of entries; a large one off the async workers.
    fn free<T: Send + 'static>(&self, entries: (usize, T)) {
        if entries.0 >= FREE_OFF_WORKERS {
            self.tasks.drop_off_workers(entries.1);
        }
    }

    /// Marks the queue deleted and notifies its consumers. Returns the ready count.
    pub(crate) fn delete(&self, if_unused: bool, if_empty: bool) -> AmqpResult<u32> {
        let mut st = self.lock();
        if if_unused && !st.consumers.is_empty() {
            return Err(AmqpError::precondition_failed(format!(
                "queue '{}' in vhost '{}' in use",
                self.name, self.vhost
            )));
        }
        if if_empty && st.ready_len() > 0 {
            return Err(AmqpError::precondition_failed(format!(
                "queue '{}' in vhost '{}' not empty",
                self.name, self.vhost
            )));
        }
        st.deleted = true;
        let n = st.ready_len() as u32;
        // The definition's removal from the store is the vhost's (`meta::store`), once the queue
        // is out of its registry: nothing is enqueued here after `deleted` is set.
        self.clear_spilled(&st);
        let ready = st.take_ready();
        st.resident = 0;
        st.resident_bytes = 0;
        let unacked = std::mem::take(&mut st.unacked);
        for c in st.consumers.drain(..) {
            let _ = c.tx.send(ConnEvent::ConsumerCancelled {
                channel: c.channel,
                tag: c.tag.clone(),
            });
        }
        drop(st);
        self.free(ready);
        self.free((unacked.len(), unacked));
        Ok(n)
    }
}
