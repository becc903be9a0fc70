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

use crate::dead_letter::{self, DeadLetterTarget, Reason};
use crate::error::{AmqpError, AmqpResult};
use crate::events::{window_cost, ConnEvent, Credit, Delivery};
use crate::message::{Message, Slot};
use crate::persist;
use crate::vhost::Vhost;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use warren_codec::{FieldTable, FieldValue, ShortStr};
use warren_store::{Command, QueueId, Reply, Store};

/// Stored messages whose bodies a queue keeps in memory before paging the rest out.
const RESIDENT_MAX_MESSAGES: usize = 4096;
/// Same, in body bytes.
const RESIDENT_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Entries at the head that always keep their bodies (they are about to be delivered).
const HEAD_WINDOW: usize = 256;
/// Messages read back from the store per page.
const PAGE_IN: usize = 256;
/// Ready-queue capacity above which a mostly empty queue gives memory back.
const SHRINK_ABOVE: usize = 4096;

/// Identifies a connection (for exclusive queues and consumers).
pub type ConnectionId = u64;

static NEXT_QUEUE_ID: AtomicU64 = AtomicU64::new(1);

/// Queue sequence numbers are unique and dense: hashing them is wasted work.
#[derive(Default)]
struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// How many bits of an entry's packed word hold its expiry time (ms since the epoch: enough
/// until the year 2527; later expiries are clamped).
const EXPIRY_BITS: u32 = 44;
/// `Entry::expires_at` of a recovered entry whose body (and so publish time) is not read yet.
const EXPIRY_UNKNOWN: u64 = (1 << EXPIRY_BITS) - 1;
const PRIORITY_SHIFT: u32 = EXPIRY_BITS;
const STORED_BIT: u64 = 1 << (PRIORITY_SHIFT + 8);
const DELIVERIES_SHIFT: u32 = PRIORITY_SHIFT + 9;
/// Delivery counts saturate here (11 bits): only "more than zero" (the redelivered flag) is
/// ever read back, and the store is told the saturated count.
const MAX_DELIVERIES: u64 = (1 << (64 - DELIVERIES_SHIFT)) - 1;

/// `x-overflow`: what a queue does when a publish would take it past a length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    DropHead,
    RejectPublish,
    RejectPublishDlx,
}

/// Messages on their way to the dead-letter exchange, with why they left.
type DeadLetters = Vec<(Message, Reason)>;

type SeqMap<V> = HashMap<u64, V, BuildHasherDefault<SeqHasher>>;

/// One message in a queue. 24 bytes: the ready list holds one per queued message, so its size
/// is part of every queued message's memory (docs/server.md, "Message layout in memory").
#[derive(Debug)]
struct Entry {
    seq: u64,
    /// Packed, low bits first: the expiry time (`EXPIRY_BITS`), the priority (8 bits), the
    /// stored flag, the delivery count (the rest). Read through the methods below.
    packed: u64,
    /// The message, or while it is only in the store (paged out, or recovered at startup) its
    /// body length; the body is read back before delivery.
    body: Slot,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 24);

impl Entry {
    /// `priority`: its place in an `x-max-priority` queue (0 elsewhere; ready entries are kept
    /// highest priority first, in publish order within a priority). `stored`: it has an index
    /// entry in the store under this queue. `expires_at`: when it expires (per-queue or
    /// per-message TTL), in ms since the Unix epoch; 0: never.
    fn new(seq: u64, body: Slot, priority: u8, stored: bool, expires_at: u64) -> Entry {
        let mut e = Entry {
            seq,
            packed: 0,
            body,
        };
        e.set_expires_at(expires_at);
        e.set_priority(priority);
        if stored {
            e.packed |= STORED_BIT;
        }
        e
    }

    fn expires_at(&self) -> u64 {
        self.packed & EXPIRY_UNKNOWN
    }

    fn set_expires_at(&mut self, at: u64) {
        self.packed = (self.packed & !EXPIRY_UNKNOWN) | at.min(EXPIRY_UNKNOWN);
    }

    fn priority(&self) -> u8 {
        (self.packed >> PRIORITY_SHIFT) as u8
    }

    fn set_priority(&mut self, priority: u8) {
        self.packed =
            (self.packed & !(0xff << PRIORITY_SHIFT)) | (u64::from(priority) << PRIORITY_SHIFT);
    }

    fn stored(&self) -> bool {
        self.packed & STORED_BIT != 0
    }

    fn delivery_count(&self) -> u32 {
        (self.packed >> DELIVERIES_SHIFT) as u32
    }

    fn set_delivery_count(&mut self, n: u32) {
        let n = u64::from(n).min(MAX_DELIVERIES);
        self.packed =
            (self.packed & !(MAX_DELIVERIES << DELIVERIES_SHIFT)) | (n << DELIVERIES_SHIFT);
    }

    /// The redelivered flag.
    fn redelivered(&self) -> bool {
        self.delivery_count() > 0
    }

    fn count_delivery(&mut self) {
        self.set_delivery_count(self.delivery_count() + 1);
    }

    fn mark_redelivered(&mut self) {
        self.set_delivery_count(self.delivery_count().max(1));
    }

    /// Body size, known even while the body is paged out (length limits count it).
    fn body_len(&self) -> usize {
        self.body.body_len() as usize
    }
}

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
    pub fn new(store: &Arc<Store>, id: QueueId) -> StoredQueue {
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

/// A consumer attached to this queue.
#[derive(Debug)]
pub struct Consumer {
    pub tag: ShortStr,
    pub connection: ConnectionId,
    pub channel: u16,
    pub no_ack: bool,
    pub exclusive: bool,
    pub tx: UnboundedSender<ConnEvent>,
    /// Per-consumer prefetch (basic.qos global=false).
    pub credit: Arc<Credit>,
    /// Per-channel prefetch (basic.qos global=true, RabbitMQ's reading).
    pub channel_credit: Arc<Credit>,
    /// RabbitMQ's consumer priority (`x-priority` consume argument, default 0): messages go to
    /// the highest-priority consumers that have credit, round-robin among equals.
    pub priority: i64,
    /// The connection's delivery window (`events::DELIVERY_WINDOW`), shared by its consumers.
    pub window: Arc<Credit>,
}

impl Consumer {
    fn has_credit(&self) -> bool {
        self.window.has_room()
            && (self.no_ack || (self.credit.has_room() && self.channel_credit.has_room()))
    }

    /// Takes one delivery's credit, all of it or none: `has_credit` only looked, and the
    /// channel credit (global qos) and the window are shared with queues dispatching on other
    /// threads. The window goes last: when it is what fails, the channel credit given back
    /// here is offered again once the window reopens (the connection kicks its queues then).
    fn try_take_credit(&self, cost: u32) -> bool {
        if !self.no_ack {
            if !self.credit.try_take(1) {
                return false;
            }
            if !self.channel_credit.try_take(1) {
                self.credit.give_back(1);
                return false;
            }
        }
        if self.window.try_take(cost) {
            return true;
        }
        if !self.no_ack {
            self.credit.give_back(1);
            self.channel_credit.give_back(1);
        }
        false
    }
}

/// Declared properties, compared on redeclare.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    pub durable: bool,
    pub exclusive_owner: Option<ConnectionId>,
    pub auto_delete: bool,
    pub arguments: FieldTable,
}

#[derive(Debug, Default)]
struct State {
    next_seq: u64,
    ready: VecDeque<Entry>,
    /// Body bytes of the ready entries (`x-max-length-bytes` counts these, as RabbitMQ does).
    ready_bytes: u64,
    /// Stored entries in `ready` whose body is in memory, and those bodies' bytes.
    resident: usize,
    resident_bytes: usize,
    /// Paging out has looked at every ready entry below this seq.
    evicted_below: u64,
    unacked: SeqMap<Entry>,
    consumers: Vec<Consumer>,
    next_consumer: usize,
    /// Set once a consumer has attached: auto-delete applies only after that.
    had_consumers: bool,
    /// Some consumer has a non-zero priority: dispatch must look for the highest.
    prioritized: bool,
    /// Messages that left (rejected or expired) for the dead-letter exchange; routed by
    /// [`Locked`]'s drop, once the lock is released (the target may be this very queue).
    dead: DeadLetters,
    /// The expiry timer armed for the head, if any (ms since the epoch).
    timer_at: Option<u64>,
    deleted: bool,
}

impl State {
    fn push_ready(&mut self, e: Entry) {
        self.ready_bytes += e.body_len() as u64;
        if e.priority() == 0
            || self
                .ready
                .back()
                .is_none_or(|last| last.priority() >= e.priority())
        {
            self.ready.push_back(e);
        } else {
            // A priority queue: after every entry of at least this priority. Near the front
            // for a high priority, so the deque shifts few entries.
            let pos = self.ready.partition_point(|x| x.priority() >= e.priority());
            self.ready.insert(pos, e);
        }
    }

    fn push_ready_front(&mut self, e: Entry) {
        self.ready_bytes += e.body_len() as u64;
        self.ready.push_front(e);
    }

    fn insert_ready(&mut self, pos: usize, e: Entry) {
        self.ready_bytes += e.body_len() as u64;
        self.ready.insert(pos, e);
    }

    fn pop_ready(&mut self) -> Option<Entry> {
        let e = self.ready.pop_front()?;
        self.ready_bytes = self.ready_bytes.saturating_sub(e.body_len() as u64);
        Some(e)
    }

    fn clear_ready(&mut self) {
        self.ready.clear();
        self.ready_bytes = 0;
    }
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

/// What `cancel` and `remove_consumers` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConsumerRemoval {
    pub removed: usize,
    /// The queue is auto-delete and just lost its last consumer: the vhost should delete it.
    pub auto_delete_now: bool,
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

    /// A durable queue rebuilt at startup: `entries` are the stored (seq, delivery count)
    /// pairs in order; their bodies stay on disk until they near the head.
    pub fn restore(
        name: &str,
        vhost: Arc<str>,
        options: QueueOptions,
        stored: StoredQueue,
        next_seq: u64,
        entries: Vec<(u64, u32)>,
    ) -> Arc<Queue> {
        let q = Self::with_store(name, vhost, options, Some(stored));
        let prioritized = q.max_priority.is_some();
        q.persisted_below.store(next_seq, Ordering::Relaxed);
        // Expiry times come from each message's publish time, stored with its body: unknown
        // until the body is read back (see `expire_head`).
        let expires_at = EXPIRY_UNKNOWN;
        {
            let mut st = q.lock();
            st.next_seq = next_seq;
            st.evicted_below = next_seq;
            st.ready = entries
                .into_iter()
                .map(|(seq, delivery_count)| {
                    // The body length is learnt when the body is read back (page_in).
                    let mut e = Entry::new(seq, Slot::paged(0), 0, true, expires_at);
                    e.set_delivery_count(delivery_count);
                    e
                })
                .collect();
            if prioritized {
                q.load_all_for_priorities(&mut st);
            }
        }
        q
    }

    /// At recovery of a priority queue: every body is read back (its priority is in the
    /// properties) and the entries are put in priority order. Such a queue is not paged.
    fn load_all_for_priorities(&self, st: &mut State) {
        let Some((stored, store)) = self.stored_with_store() else {
            return;
        };
        let mut after = None;
        let (mut loaded, mut bytes, mut last_route) = (0, 0, None);
        loop {
            let page = match store.read_queue(stored.id, after, PAGE_IN) {
                Ok(page) if !page.is_empty() => page,
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(queue = %self.name, vhost = %self.vhost, error = %e,
                        "cannot read a priority queue's messages back from the store");
                    break;
                }
            };
            after = page.last().map(|e| e.seq);
            for stored_entry in page {
                let Ok(i) = st.ready.binary_search_by_key(&stored_entry.seq, |e| e.seq) else {
                    continue;
                };
                if let Ok((m, published_at)) =
                    persist::decode_message_timed(&stored_entry.message, &mut last_route)
                {
                    let expires_at = self.expiry_since(&m, published_at);
                    let entry = &mut st.ready[i];
                    entry.set_priority(self.priority_of(&m));
                    if entry.expires_at() == EXPIRY_UNKNOWN {
                        entry.set_expires_at(expires_at);
                    }
                    loaded += 1;
                    bytes += m.body_len();
                    entry.body.set(m);
                }
            }
        }
        st.resident += loaded;
        st.resident_bytes += bytes;
        st.ready_bytes = st.ready.iter().map(|e| e.body_len() as u64).sum();
        // Stable: publish order within a priority is kept.
        st.ready
            .make_contiguous()
            .sort_by_key(|e| std::cmp::Reverse(e.priority()));
    }

    /// The store and id of a durable queue.
    pub fn stored(&self) -> Option<&StoredQueue> {
        self.stored.as_ref()
    }

    /// Records that every `Enqueue` to this queue up to `seq` has been written.
    pub fn mark_persisted(&self, seq: u64) {
        self.persisted_below.fetch_max(seq + 1, Ordering::Relaxed);
    }

    fn lock(&self) -> Locked<'_> {
        // A panic while holding the lock is a bug; keep serving rather than poisoning forever.
        Locked {
            queue: self,
            guard: Some(self.state.lock().unwrap_or_else(|p| p.into_inner())),
        }
    }

    /// Records a use of the queue for `x-expires` (declare, basic.get, consume, last cancel).
    pub fn touch(&self) {
        if self.expires.is_some() {
            self.last_used.store(now_ms(), Ordering::Relaxed);
        }
    }

    /// For `x-expires`: when the queue expires if nothing uses it meanwhile, or `None` while
    /// it has consumers (in use) or has been deleted.
    pub fn expires_at(&self) -> Option<u64> {
        let expires = self.expires?;
        let st = self.lock();
        if st.deleted || !st.consumers.is_empty() {
            return None;
        }
        Some(
            self.last_used
                .load(Ordering::Relaxed)
                .saturating_add(expires),
        )
    }

    /// Whether the queue has been deleted.
    pub fn is_deleted(&self) -> bool {
        self.lock().deleted
    }

    /// Sets the vhost that routes this queue's dead letters.
    pub fn link_vhost(&self, vhost: Weak<Vhost>) {
        let _ = self.vhost_link.set(vhost);
    }

    /// When a message enqueued now expires (0: never): the queue's TTL or the message's own
    /// `expiration`, whichever is shorter. Reads the properties only if the message has one.
    fn expiry_for(&self, message: &Message) -> u64 {
        self.expiry_since(message, None)
    }

    /// When a message published at `published_at` (ms since the epoch; `None`: now, for a
    /// publish being enqueued or an old record without the time) expires in this queue, 0 for
    /// never. The clock is read only when there is a TTL.
    fn expiry_since(&self, message: &Message, published_at: Option<u64>) -> u64 {
        let own = has_property(message.properties(), EXPIRATION_FLAG)
            .then(|| {
                warren_codec::BasicProperties::from_raw(message.properties())
                    .ok()
                    .and_then(|p| p.expiration)
                    .and_then(|e| dead_letter::parse_expiration(e.as_bytes()).ok())
            })
            .flatten();
        let ttl = match (self.message_ttl, own) {
            (Some(a), Some(b)) => a.min(b),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => return 0,
        };
        published_at
            .unwrap_or_else(now_ms)
            .saturating_add(ttl)
            .clamp(1, EXPIRY_UNKNOWN - 1)
    }

    /// A message's place in a priority queue: its `priority` property, capped at the queue's
    /// `x-max-priority` (0 in other queues; the property is read only if present).
    fn priority_of(&self, message: &Message) -> u8 {
        let Some(max) = self.max_priority else {
            return 0;
        };
        if !has_property(message.properties(), PRIORITY_FLAG) {
            return 0;
        }
        warren_codec::BasicProperties::from_raw(message.properties())
            .ok()
            .and_then(|p| p.priority)
            .map_or(0, |p| p.min(max))
    }

    /// Takes expired messages off the head (RabbitMQ expires only there: a long-lived message
    /// at the head keeps shorter-lived ones behind it, as RabbitMQ's do). Each goes to the
    /// dead-letter exchange if the queue has one.
    fn expire_head(&self, st: &mut State) {
        let Some(head) = st.ready.front() else {
            return;
        };
        if head.expires_at() == 0 {
            return;
        }
        let now = now_ms();
        while let Some(head) = st.ready.front() {
            if head.expires_at() == EXPIRY_UNKNOWN {
                // Recovered: its expiry is learnt when its body is read back.
                self.page_in(st);
                continue;
            }
            if head.expires_at() == 0 || head.expires_at() >= now {
                break;
            }
            if !self.remove_head(st, Reason::Expired) {
                break;
            }
        }
    }

    /// Takes the head entry out for `reason` (expired, or over a length limit): off the store,
    /// and to the dead-letter exchange if the queue has one (reading its body back first if it
    /// was paged out). `false` if the queue is empty.
    fn remove_head(&self, st: &mut State, reason: Reason) -> bool {
        while st.ready.front().is_some_and(|e| e.body.message().is_none())
            && self.dead_letter.is_some()
        {
            self.page_in(st);
        }
        let Some(entry) = st.pop_ready() else {
            return false;
        };
        if entry.stored() {
            if entry.body.is_resident() {
                st.resident = st.resident.saturating_sub(1);
                st.resident_bytes = st.resident_bytes.saturating_sub(entry.body_len());
            }
            self.submit_acks(vec![entry.seq]);
        }
        if let (Some(_), Some(message)) = (&self.dead_letter, entry.body.into_message()) {
            st.dead.push((message, reason));
        }
        true
    }

    /// Makes sure a timer will expire the head when its time comes, even with no consumer.
    /// One timer per queue at a time; it re-arms itself through `dispatch`.
    fn arm_expiry_timer(self: &Arc<Self>, st: &mut State) {
        let Some(at) = st.ready.front().map(|e| e.expires_at()).filter(|&t| t != 0) else {
            return;
        };
        // A recovered head whose expiry is not known yet: look (read its body) right away.
        let at = if at == EXPIRY_UNKNOWN { now_ms() } else { at };
        if st.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        st.timer_at = Some(at);
        let queue = Arc::downgrade(self);
        rt.spawn(async move {
            // Past the deadline: a message expires once its time is strictly behind us.
            let wait = at.saturating_sub(now_ms()) + 1;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let Some(q) = queue.upgrade() else {
                return;
            };
            let mut st = q.lock();
            if st.timer_at != Some(at) || st.deleted {
                return; // superseded by an earlier timer, or the queue is gone
            }
            st.timer_at = None;
            q.dispatch(&mut st);
        });
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

    /// With `x-overflow` reject-publish(-dlx): whether one more message would break a length
    /// limit (RabbitMQ counts ready messages only); a refused message goes to the dead-letter
    /// exchange under reject-publish-dlx.
    fn refuses(&self, st: &mut State, message: &Message) -> bool {
        if self.overflow == Overflow::DropHead {
            return false;
        }
        let over = self
            .max_length
            .is_some_and(|max| st.ready.len() as u64 + 1 > max)
            || self
                .max_length_bytes
                .is_some_and(|max| st.ready_bytes + message.body_len() as u64 > max);
        if over && self.overflow == Overflow::RejectPublishDlx && self.dead_letter.is_some() {
            st.dead.push((message.clone(), Reason::MaxLen));
        }
        over
    }

    /// With `x-overflow` drop-head (the default): drops (or dead-letters, reason `maxlen`)
    /// messages from the head until the queue is within its length limits.
    fn drop_head_over_limit(&self, st: &mut State) {
        if self.overflow != Overflow::DropHead
            || (self.max_length.is_none() && self.max_length_bytes.is_none())
        {
            return;
        }
        let over = |st: &State| {
            self.max_length
                .is_some_and(|max| st.ready.len() as u64 > max)
                || self
                    .max_length_bytes
                    .is_some_and(|max| st.ready_bytes > max)
        };
        while over(st) && self.remove_head(st, Reason::MaxLen) {}
    }

    /// Appends a persistent message to durable queues, storing it once with an index entry
    /// per queue. Locks the queues in id order (no deadlock between publishers), assigns the
    /// seqs and submits the `Enqueue` before any lock is released, so each queue's seqs reach
    /// the store in order. Returns the store's reply (`None` if every queue was deleted) and
    /// pushes each (queue, seq) to `written` for [`Queue::mark_persisted`] once it resolves.
    pub fn publish_persistent(
        queues: &[Arc<Queue>],
        message: Message,
        store: &Store,
        sync: bool,
        written: &mut Vec<(Arc<Queue>, u64)>,
        refused: &mut bool,
    ) -> Option<Reply> {
        let mut order: Vec<&Arc<Queue>> = queues.iter().filter(|q| q.stored.is_some()).collect();
        order.sort_by_key(|q| q.id);
        let mut guards: Vec<(&Arc<Queue>, Locked<'_>)> = Vec::with_capacity(order.len());
        let mut targets = Vec::with_capacity(order.len());
        for q in order {
            let mut st = q.lock();
            if st.deleted {
                continue;
            }
            if q.refuses(&mut st, &message) {
                *refused = true;
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
        // Dead letters are routed only once every lock here is released (routing may enqueue
        // into one of these queues).
        let dead: Vec<(&Arc<Queue>, DeadLetters)> = guards
            .iter_mut()
            .filter(|(_, st)| !st.dead.is_empty())
            .map(|(q, st)| (*q, std::mem::take(&mut st.dead)))
            .collect();
        drop(guards);
        for (q, items) in dead {
            q.route_dead_letters(items);
        }
        Some(reply)
    }

    /// Sends messages that left this queue to its dead-letter exchange. Call with no queue
    /// lock held.
    fn route_dead_letters(&self, items: DeadLetters) {
        let vhost = self.vhost_link.get().and_then(Weak::upgrade);
        if let (Some(vhost), Some(target)) = (vhost, &self.dead_letter) {
            vhost.dead_letter(&self.name, target, items);
        }
    }

    /// basic.get: the head message and how many remain.
    pub fn get(self: &Arc<Self>, no_ack: bool) -> Option<(u64, Message, bool, u32)> {
        self.touch();
        let mut st = self.lock();
        self.expire_head(&mut st);
        let (mut entry, message) = self.pop_loaded(&mut st)?;
        let seq = entry.seq;
        let remaining = st.ready.len() as u32;
        let redelivered = entry.redelivered();
        if no_ack {
            if entry.stored() {
                self.submit_acks(vec![seq]);
            }
        } else {
            entry.count_delivery();
            if let Some(cmd) = self.delivery_count_command(&entry) {
                self.submit_detached(vec![cmd]);
            }
            st.unacked.insert(seq, entry);
        }
        Some((seq, message, redelivered, remaining))
    }

    pub fn add_consumer(self: &Arc<Self>, consumer: Consumer) -> AmqpResult<()> {
        let mut st = self.lock();
        if st.deleted {
            return Err(AmqpError::not_found(format!(
                "no queue '{}' in vhost '{}'",
                self.name, self.vhost
            )));
        }
        if st.consumers.iter().any(|c| c.exclusive)
            || (consumer.exclusive && !st.consumers.is_empty())
        {
            return Err(AmqpError::access_refused(format!(
                "queue '{}' in vhost '{}' in exclusive use",
                self.name, self.vhost
            )));
        }
        self.touch();
        st.prioritized |= consumer.priority != 0;
        st.consumers.push(consumer);
        st.had_consumers = true;
        self.dispatch(&mut st);
        Ok(())
    }

    /// Removes one consumer (basic.cancel).
    pub fn cancel(
        self: &Arc<Self>,
        connection: ConnectionId,
        channel: u16,
        tag: &ShortStr,
    ) -> ConsumerRemoval {
        self.remove_where(|c| c.connection == connection && c.channel == channel && c.tag == *tag)
    }

    /// Removes every consumer of a channel (channel close) or connection (`channel` None).
    pub fn remove_consumers(
        self: &Arc<Self>,
        connection: ConnectionId,
        channel: Option<u16>,
    ) -> ConsumerRemoval {
        self.remove_where(|c| {
            c.connection == connection && channel.is_none_or(|ch| c.channel == ch)
        })
    }

    fn remove_where(self: &Arc<Self>, pred: impl Fn(&Consumer) -> bool) -> ConsumerRemoval {
        let mut st = self.lock();
        let before = st.consumers.len();
        st.consumers.retain(|c| !pred(c));
        let removed = before - st.consumers.len();
        if st.next_consumer >= st.consumers.len() {
            st.next_consumer = 0;
        }
        st.prioritized = st.consumers.iter().any(|c| c.priority != 0);
        if removed > 0 && st.consumers.is_empty() {
            self.touch(); // unused from now on: x-expires counts from here
        }
        if removed > 0 && !st.deleted {
            // The next single active consumer, or a lower-priority one, takes over now.
            self.dispatch(&mut st);
        }
        ConsumerRemoval {
            removed,
            auto_delete_now: removed > 0
                && self.options.auto_delete
                && st.consumers.is_empty()
                && !st.deleted,
        }
    }

    /// The consumer the next message goes to, or `None` if none can take one now.
    ///
    /// - Single active consumer (`x-single-active-consumer`): only the earliest registered
    ///   consumer, as RabbitMQ 3.10 chooses it; the others wait until it goes.
    /// - Consumer priorities: the highest priority among consumers with credit wins;
    ///   round-robin among equals. When the high ones are out of credit, lower ones get
    ///   messages (RabbitMQ's rule).
    fn pick_consumer(&self, st: &State) -> Option<usize> {
        let n = st.consumers.len();
        if self.single_active {
            return st.consumers[0].has_credit().then_some(0);
        }
        let start = st.next_consumer % n;
        let mut order = (0..n).map(|k| (start + k) % n);
        if !st.prioritized {
            return order.find(|&i| st.consumers[i].has_credit());
        }
        let best = st
            .consumers
            .iter()
            .filter(|c| c.has_credit())
            .map(|c| c.priority)
            .max()?;
        order.find(|&i| st.consumers[i].priority == best && st.consumers[i].has_credit())
    }

    /// Acknowledges delivered messages; frees them and lets dispatch continue.
    pub fn ack(self: &Arc<Self>, seqs: &[u64]) {
        let mut st = self.lock();
        let mut stored = Vec::new();
        for seq in seqs {
            if let Some(e) = st.unacked.remove(seq) {
                if e.stored() {
                    stored.push(e.seq);
                }
            }
        }
        if !stored.is_empty() {
            self.submit_acks(stored);
        }
        self.dispatch(&mut st);
    }

    /// Puts delivered messages back at their original position, marked redelivered. As in
    /// RabbitMQ, drop-head then trims the queue back to its length limits from the head (the
    /// requeued messages usually go first, dead-lettered `maxlen`); under reject-publish(-dlx)
    /// the queue may stay over its limit.
    pub fn requeue(self: &Arc<Self>, seqs: &[u64]) {
        let mut st = self.lock();
        let mut back: Vec<Entry> = seqs.iter().filter_map(|s| st.unacked.remove(s)).collect();
        back.sort_by_key(|e| e.seq);
        for mut entry in back {
            // Delivered at least once, whatever the count said (a no-ack get never requeues).
            entry.mark_redelivered();
            if entry.stored() && entry.body.is_resident() {
                st.resident += 1;
                st.resident_bytes += entry.body_len();
            }
            let pos = st.ready.partition_point(|e| {
                e.priority() > entry.priority()
                    || (e.priority() == entry.priority() && e.seq < entry.seq)
            });
            st.insert_ready(pos, entry);
        }
        if !st.deleted {
            self.drop_head_over_limit(&mut st);
            self.dispatch(&mut st);
        }
    }

    /// Drops delivered messages without requeueing (nack/reject with requeue=false); with a
    /// dead-letter exchange they go there, reason `rejected`.
    pub fn discard(self: &Arc<Self>, seqs: &[u64]) {
        if self.dead_letter.is_none() {
            return self.ack(seqs);
        }
        let mut st = self.lock();
        let mut stored = Vec::new();
        for seq in seqs {
            if let Some(e) = st.unacked.remove(seq) {
                if e.stored() {
                    stored.push(e.seq);
                }
                if let Some(message) = e.body.into_message() {
                    st.dead.push((message, Reason::Rejected));
                }
            }
        }
        if !stored.is_empty() {
            self.submit_acks(stored);
        }
        self.dispatch(&mut st);
    }

    /// Gives waiting consumers a chance after credit was returned elsewhere (global qos).
    pub fn kick(self: &Arc<Self>) {
        let mut st = self.lock();
        self.dispatch(&mut st);
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

    /// Hands ready messages to consumers with credit, round-robin, until one runs out.
    fn dispatch(self: &Arc<Self>, st: &mut State) {
        let me = self;
        let mut counts: Vec<Command> = Vec::new();
        self.expire_head(st);
        while !st.ready.is_empty() && !st.consumers.is_empty() {
            let n = st.consumers.len();
            let Some(idx) = self.pick_consumer(st) else {
                break;
            };
            self.expire_head(st);
            let Some((mut entry, message)) = self.pop_loaded(st) else {
                break;
            };
            st.next_consumer = (idx + 1) % n;
            let c = &st.consumers[idx];
            let cost = window_cost(&message);
            if !c.try_take_credit(cost) {
                // Another queue took the shared credit since `pick_consumer` looked.
                self.push_front_loaded(st, entry);
                continue;
            }
            let credits = (!c.no_ack).then(|| (c.credit.clone(), c.channel_credit.clone()));
            let delivery = Delivery {
                channel: c.channel,
                consumer_tag: c.tag.clone(),
                queue: me.clone(),
                seq: entry.seq,
                message,
                redelivered: entry.redelivered(),
                no_ack: c.no_ack,
                credits,
            };
            let no_ack = c.no_ack;
            if c.tx.send(ConnEvent::Deliver(delivery)).is_err() {
                // The connection is gone; its cleanup will remove the consumer. Put the message
                // back and stop offering to this consumer now.
                c.window.give_back(cost);
                if !no_ack {
                    c.credit.give_back(1);
                    c.channel_credit.give_back(1);
                }
                self.push_front_loaded(st, entry);
                st.consumers.remove(idx);
                continue;
            }
            if no_ack {
                if entry.stored() {
                    counts.push(self.ack_command(vec![entry.seq]));
                }
            } else {
                entry.count_delivery();
                counts.extend(self.delivery_count_command(&entry));
                st.unacked.insert(entry.seq, entry);
            }
        }
        if !counts.is_empty() {
            self.submit_detached(counts);
        }
        self.arm_expiry_timer(st);
    }

    /// Takes the head entry with its body, reading a page back from the store first if the
    /// body was paged out.
    fn pop_loaded(&self, st: &mut State) -> Option<(Entry, Message)> {
        loop {
            let head = st.ready.front()?;
            if head.body.message().is_none() {
                self.page_in(st);
                continue;
            }
            let entry = st.pop_ready()?;
            // A drained backlog must not keep its high-water capacity (24 B per entry).
            let cap = st.ready.capacity();
            if cap > SHRINK_ABOVE && st.ready.len() < cap / 8 {
                let keep = st.ready.len() * 2;
                st.ready.shrink_to(keep);
            }
            let message = entry.body.message().cloned()?;
            if entry.stored() {
                st.resident = st.resident.saturating_sub(1);
                st.resident_bytes = st.resident_bytes.saturating_sub(message.body_len());
            }
            return Some((entry, message));
        }
    }

    /// Undoes `pop_loaded` for a delivery that could not be handed over.
    fn push_front_loaded(&self, st: &mut State, entry: Entry) {
        if entry.stored() {
            st.resident += 1;
            st.resident_bytes += entry.body_len();
        }
        st.push_ready_front(entry);
    }

    /// Reads the bodies of the next page of paged-out entries at the head. Makes progress
    /// whatever happens: a head entry whose message cannot be read is dropped (and removed from
    /// the store) with an error in the log, rather than blocking the queue forever.
    fn page_in(&self, st: &mut State) {
        let Some((stored, store)) = self.stored_with_store() else {
            // Only stored entries are ever paged out, and the store outlives a running broker.
            st.pop_ready();
            return;
        };
        let Some(head_seq) = st.ready.front().map(|e| e.seq) else {
            return;
        };
        match store.read_queue(stored.id, head_seq.checked_sub(1), PAGE_IN) {
            Ok(page) => {
                let mut i = 0;
                let (mut loaded, mut bytes, mut learnt) = (0, 0, 0);
                let mut last_route = None;
                for stored_entry in page {
                    while i < st.ready.len() && st.ready[i].seq < stored_entry.seq {
                        i += 1;
                    }
                    let Some(entry) = st.ready.get_mut(i) else {
                        break;
                    };
                    if entry.seq != stored_entry.seq || entry.body.is_resident() {
                        continue;
                    }
                    match persist::decode_message_timed(&stored_entry.message, &mut last_route) {
                        Ok((m, published_at)) => {
                            if entry.expires_at() == EXPIRY_UNKNOWN {
                                entry.set_expires_at(self.expiry_since(&m, published_at));
                            }
                            loaded += 1;
                            bytes += m.body_len();
                            if entry.body.body_len() == 0 {
                                learnt += m.body_len() as u64;
                            }
                            entry.body.set(m);
                        }
                        Err(e) => tracing::error!(queue = %self.name, vhost = %self.vhost,
                            seq = entry.seq, error = %e, "unreadable stored message"),
                    }
                }
                st.resident += loaded;
                st.resident_bytes += bytes;
                st.ready_bytes += learnt;
            }
            Err(e) => tracing::error!(queue = %self.name, vhost = %self.vhost, error = %e,
                "cannot read messages back from the store"),
        }
        if st.ready.front().is_some_and(|e| e.body.message().is_none()) {
            tracing::error!(queue = %self.name, vhost = %self.vhost, seq = head_seq,
                "dropping a stored message that cannot be read back");
            st.pop_ready();
            self.submit_acks(vec![head_seq]);
        }
    }

    /// Drops the in-memory bodies of stored messages past the head window once the queue holds
    /// more than its budget. Only entries whose `Enqueue` has been written are paged out.
    fn page_out(&self, st: &mut State) {
        if st.resident <= RESIDENT_MAX_MESSAGES && st.resident_bytes <= RESIDENT_MAX_BYTES {
            return;
        }
        if self.max_priority.is_some() {
            // Paging reads bodies back in publish order; a priority queue's ready order is
            // not that, so its bodies stay in memory.
            return;
        }
        let persisted_below = self.persisted_below.load(Ordering::Relaxed);
        let evicted_below = st.evicted_below;
        let start = st
            .ready
            .partition_point(|e| e.seq < evicted_below)
            .max(HEAD_WINDOW.min(st.ready.len()));
        let (mut freed, mut bytes) = (0, 0);
        let mut next = evicted_below;
        for e in st.ready.range_mut(start..) {
            if e.seq >= persisted_below {
                break;
            }
            next = e.seq + 1;
            if e.stored() {
                if let Some(m) = e.body.take() {
                    freed += 1;
                    bytes += m.body_len();
                }
            }
        }
        st.evicted_below = next;
        st.resident = st.resident.saturating_sub(freed);
        st.resident_bytes = st.resident_bytes.saturating_sub(bytes);
    }

    fn ack_command(&self, seqs: Vec<u64>) -> Command {
        Command::Ack {
            queue: self.stored.as_ref().map_or(0, |s| s.id),
            seqs,
        }
    }

    /// Removes stored entries (ack, reject, no-ack delivery): not synced, see docs/storage.md.
    fn submit_acks(&self, seqs: Vec<u64>) {
        let cmd = self.ack_command(seqs);
        self.submit_detached(vec![cmd]);
    }

    fn delivery_count_command(&self, entry: &Entry) -> Option<Command> {
        let stored = self.stored.as_ref().filter(|_| entry.stored())?;
        Some(Command::SetDeliveryCount {
            queue: stored.id,
            seq: entry.seq,
            count: entry.delivery_count(),
        })
    }

    fn submit_detached(&self, cmds: Vec<Command>) {
        if let Some((_, store)) = self.stored_with_store() {
            store.submit_detached(cmds);
        }
    }

    fn stored_with_store(&self) -> Option<(&StoredQueue, Arc<Store>)> {
        let stored = self.stored.as_ref()?;
        Some((stored, stored.store()?))
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

/// Milliseconds since the Unix epoch (expiry times survive a restart's clock, unlike an
/// `Instant`).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Property-flag bits of `expiration` and `priority` in the first flags word.
const EXPIRATION_FLAG: u16 = 1 << 8;
const PRIORITY_FLAG: u16 = 1 << 11;

/// Whether raw basic properties (flags word first) carry the property with flag bit `flag`:
/// lets the hot path skip decoding properties it does not need.
fn has_property(raw: &[u8], flag: u16) -> bool {
    raw.len() >= 2 && u16::from_be_bytes([raw[0], raw[1]]) & flag != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Route;

    #[test]
    fn an_entrys_packed_fields_do_not_disturb_each_other() {
        let m = Message::new(Route::new(b"", b"q"), &[0, 0], b"body", false);
        let at = 1_764_460_800_123; // 2025-11-30
        let mut e = Entry::new(7, Slot::resident(m), 9, true, at);
        assert_eq!((e.expires_at(), e.priority(), e.stored()), (at, 9, true));
        assert!(!e.redelivered());
        e.count_delivery();
        e.count_delivery();
        assert_eq!(e.delivery_count(), 2);
        e.set_priority(255);
        e.set_expires_at(0);
        assert_eq!((e.expires_at(), e.priority(), e.stored()), (0, 255, true));
        assert_eq!(e.delivery_count(), 2);
        e.set_expires_at(u64::MAX - 5);
        assert_eq!(e.expires_at(), EXPIRY_UNKNOWN);
        assert_eq!((e.priority(), e.delivery_count()), (255, 2));
        e.set_delivery_count(u32::MAX);
        assert_eq!(e.delivery_count() as u64, MAX_DELIVERIES);
        e.count_delivery();
        assert_eq!(e.delivery_count() as u64, MAX_DELIVERIES);
        assert_eq!(
            (e.expires_at(), e.priority(), e.stored()),
            (EXPIRY_UNKNOWN, 255, true)
        );
        assert_eq!((e.seq, e.body_len()), (7, 4));
        let e = Entry::new(8, Slot::paged(0), 0, false, 0);
        assert!(!e.stored() && e.priority() == 0 && e.expires_at() == 0 && e.body_len() == 0);
    }
}
