//! A queue: its ready messages, the messages delivered but not yet acked, its consumers, and
//! the dispatch that hands ready messages to consumers with prefetch credit, round-robin.
//!
//! The state sits behind one `std::sync::Mutex` held only for in-memory work (never across an
//! `.await`): publish, dispatch, ack and requeue are each a short critical section. See
//! docs/server.md for why we chose a locked queue over a task per queue.

use crate::error::{AmqpError, AmqpResult};
use crate::events::{ConnEvent, Credit, Delivery};
use crate::message::Message;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc::UnboundedSender;
use warren_codec::{FieldTable, ShortStr};

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

type SeqMap<V> = HashMap<u64, V, BuildHasherDefault<SeqHasher>>;

#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    message: Arc<Message>,
    redelivered: bool,
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
}

impl Consumer {
    fn has_credit(&self) -> bool {
        self.no_ack || (self.credit.has_room() && self.channel_credit.has_room())
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
    unacked: SeqMap<Entry>,
    consumers: Vec<Consumer>,
    next_consumer: usize,
    /// Set once a consumer has attached: auto-delete applies only after that.
    had_consumers: bool,
    deleted: bool,
}

#[derive(Debug)]
pub struct Queue {
    id: u64,
    pub name: Arc<str>,
    pub vhost: Arc<str>,
    pub options: QueueOptions,
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
        Arc::new(Queue {
            id: NEXT_QUEUE_ID.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            vhost,
            options,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug; keep serving rather than poisoning forever.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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

    /// Appends a message and hands it on if a consumer has room.
    pub fn publish(self: &Arc<Self>, message: Arc<Message>) {
        let mut st = self.lock();
        if st.deleted {
            return;
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.ready.push_back(Entry {
            seq,
            message,
            redelivered: false,
        });
        self.dispatch(&mut st);
    }

    /// basic.get: the head message and how many remain.
    pub fn get(self: &Arc<Self>, no_ack: bool) -> Option<(u64, Arc<Message>, bool, u32)> {
        let mut st = self.lock();
        let entry = st.ready.pop_front()?;
        let remaining = st.ready.len() as u32;
        let out = (
            entry.seq,
            entry.message.clone(),
            entry.redelivered,
            remaining,
        );
        if !no_ack {
            st.unacked.insert(entry.seq, entry);
        }
        Some(out)
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
        st.consumers.push(consumer);
        st.had_consumers = true;
        self.dispatch(&mut st);
        Ok(())
    }

    /// Removes one consumer (basic.cancel).
    pub fn cancel(
        &self,
        connection: ConnectionId,
        channel: u16,
        tag: &ShortStr,
    ) -> ConsumerRemoval {
        self.remove_where(|c| c.connection == connection && c.channel == channel && c.tag == *tag)
    }

    /// Removes every consumer of a channel (channel close) or connection (`channel` None).
    pub fn remove_consumers(
        &self,
        connection: ConnectionId,
        channel: Option<u16>,
    ) -> ConsumerRemoval {
        self.remove_where(|c| {
            c.connection == connection && channel.is_none_or(|ch| c.channel == ch)
        })
    }

    fn remove_where(&self, pred: impl Fn(&Consumer) -> bool) -> ConsumerRemoval {
        let mut st = self.lock();
        let before = st.consumers.len();
        st.consumers.retain(|c| !pred(c));
        let removed = before - st.consumers.len();
        if st.next_consumer >= st.consumers.len() {
            st.next_consumer = 0;
        }
        ConsumerRemoval {
            removed,
            auto_delete_now: removed > 0
                && self.options.auto_delete
                && st.consumers.is_empty()
                && !st.deleted,
        }
    }

    /// Acknowledges delivered messages; frees them and lets dispatch continue.
    pub fn ack(self: &Arc<Self>, seqs: &[u64]) {
        let mut st = self.lock();
        for seq in seqs {
            st.unacked.remove(seq);
        }
        self.dispatch(&mut st);
    }

    /// Puts delivered messages back at their original position, marked redelivered.
    pub fn requeue(self: &Arc<Self>, seqs: &[u64]) {
        let mut st = self.lock();
        let mut back: Vec<Entry> = seqs.iter().filter_map(|s| st.unacked.remove(s)).collect();
        back.sort_by_key(|e| e.seq);
        for mut entry in back {
            entry.redelivered = true;
            let pos = st.ready.partition_point(|e| e.seq < entry.seq);
            st.ready.insert(pos, entry);
        }
        if !st.deleted {
            self.dispatch(&mut st);
        }
    }

    /// Drops delivered messages without requeueing (nack/reject with requeue=false).
    pub fn discard(self: &Arc<Self>, seqs: &[u64]) {
        self.ack(seqs);
    }

    /// Gives waiting consumers a chance after credit was returned elsewhere (global qos).
    pub fn kick(self: &Arc<Self>) {
        let mut st = self.lock();
        self.dispatch(&mut st);
    }

    /// Removes all ready messages; returns how many.
    pub fn purge(&self) -> u32 {
        let mut st = self.lock();
        let n = st.ready.len() as u32;
        st.ready.clear();
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
        st.ready.clear();
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
        while !st.ready.is_empty() && !st.consumers.is_empty() {
            let n = st.consumers.len();
            let start = st.next_consumer % n;
            let Some(idx) = (0..n)
                .map(|k| (start + k) % n)
                .find(|&i| st.consumers[i].has_credit())
            else {
                return;
            };
            st.next_consumer = (idx + 1) % n;
            let Some(entry) = st.ready.pop_front() else {
                return;
            };
            let c = &st.consumers[idx];
            let credits = if c.no_ack {
                None
            } else {
                c.credit.take();
                c.channel_credit.take();
                Some((c.credit.clone(), c.channel_credit.clone()))
            };
            let delivery = Delivery {
                channel: c.channel,
                consumer_tag: c.tag.clone(),
                queue: me.clone(),
                seq: entry.seq,
                message: entry.message.clone(),
                redelivered: entry.redelivered,
                no_ack: c.no_ack,
                credits,
            };
            let no_ack = c.no_ack;
            if c.tx.send(ConnEvent::Deliver(delivery)).is_err() {
                // The connection is gone; its cleanup will remove the consumer. Put the message
                // back and stop offering to this consumer now.
                if !no_ack {
                    c.credit.give_back(1);
                    c.channel_credit.give_back(1);
                }
                st.ready.push_front(entry);
                st.consumers.remove(idx);
                continue;
            }
            if !no_ack {
                st.unacked.insert(entry.seq, entry);
            }
        }
    }
}
