//! The state behind a queue's lock: ready entries in dispatch order (those in memory, and the
//! cold run of those only on disk, with their byte count and paging counters), unacked
//! entries by seq, consumers, and what leaves for the dead-letter exchange until the lock is
//! released.

use super::cold::Cold;
use super::{Consumer, DeadLetters, Entry};
use crate::alarms::PagingBehind;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Ready-deque capacity above which a mostly empty deque gives memory back.
const SHRINK_ABOVE: usize = 4096;

/// Queue sequence numbers are unique and dense: hashing them is wasted work.
#[derive(Default)]
pub(super) struct SeqHasher(u64);

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

pub(super) type SeqMap<V> = HashMap<u64, V, BuildHasherDefault<SeqHasher>>;

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) next_seq: u64,
    /// The ready entries in memory; the cold run, if any, sits among them by seq (`cold`).
    pub(super) ready: VecDeque<Entry>,
    /// Ready entries only on disk (`cold.rs`).
    pub(super) cold: Option<Cold>,
    /// Body bytes of the ready entries (`x-max-length-bytes` counts these, as RabbitMQ does).
    pub(super) ready_bytes: u64,
    /// Stored entries in `ready` whose body is in memory, and those bodies' bytes.
    pub(super) resident: usize,
    pub(super) resident_bytes: usize,
    /// Paging out has looked at every ready entry below this seq.
    pub(super) evicted_below: u64,
    /// Ready entries whose body is not in memory (paged out, or recovered and not read
    /// yet; the cold run's included), and those bodies' bytes as far as known (a recovered
    /// entry's is learnt on read).
    pub(super) paged: usize,
    pub(super) paged_bytes: u64,
    /// Spilling (unstored bodies to the transient area) has looked at every ready entry
    /// below this seq; a spill write is in flight.
    pub(super) spilled_below: u64,
    pub(super) spilling: bool,
    /// The body bytes that write takes.
    pub(super) spilling_bytes: u64,
    /// Held while the write in flight leaves more than `PAGING_BACKLOG_MAX` waiting: publishing
    /// pauses (`spill.rs`).
    pub(super) paging_behind: Option<PagingBehind>,
    pub(super) unacked: SeqMap<Entry>,
    pub(super) consumers: Vec<Consumer>,
    pub(super) next_consumer: usize,
    /// Set once a consumer has attached: auto-delete applies only after that.
    pub(super) had_consumers: bool,
    /// Some consumer has a non-zero priority: dispatch must look for the highest.
    pub(super) prioritized: bool,
    /// Messages that left (rejected or expired) for the dead-letter exchange; handed over by
    /// [`Queue::locked`] once the lock is released (the target may be this very queue).
    pub(super) dead: DeadLetters,
    /// The expiry timer armed for the head, if any (ms since the epoch).
    pub(super) timer_at: Option<u64>,
    pub(super) deleted: bool,
}

impl State {
    /// Ready messages, in memory or not.
    pub(super) fn ready_len(&self) -> usize {
        self.ready.len() + self.cold.map_or(0, |c| c.count)
    }

    /// Body bytes of the ready entries that are in memory (the others are paged out).
    pub(super) fn ready_bytes_in_memory(&self) -> u64 {
        self.ready_bytes.saturating_sub(self.paged_bytes)
    }

    /// The deque position of the first entry at least `window` places from the head, the
    /// cold run counted (the head window that paging and spilling leave alone).
    pub(super) fn window_start(&self, window: usize) -> usize {
        let len = self.ready.len();
        let Some(c) = self.cold else {
            return window.min(len);
        };
        let head = self.ready.partition_point(|e| e.seq < c.first);
        if window <= head {
            window
        } else {
            window.saturating_sub(c.count).clamp(head, len)
        }
    }

    /// Gives back the deque's capacity once fewer than 1/`sparse` of it is used (24 B per
    /// entry: a drained or frozen backlog must not keep its high-water mark).
    pub(super) fn shrink_ready(&mut self, sparse: usize) {
        let cap = self.ready.capacity();
        if cap > SHRINK_ABOVE && self.ready.len() < cap / sparse {
            let keep = self.ready.len() * 2;
            self.ready.shrink_to(keep);
        }
    }

    pub(super) fn push_ready(&mut self, e: Entry) {
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

    pub(super) fn push_ready_front(&mut self, e: Entry) {
        self.ready_bytes += e.body_len() as u64;
        self.ready.push_front(e);
    }

    pub(super) fn insert_ready(&mut self, pos: usize, e: Entry) {
        self.ready_bytes += e.body_len() as u64;
        self.ready.insert(pos, e);
    }

    pub(super) fn pop_ready(&mut self) -> Option<Entry> {
        let e = self.ready.pop_front()?;
        self.ready_bytes = self.ready_bytes.saturating_sub(e.body_len() as u64);
        Some(e)
    }

    /// Empties the ready list (forgetting the cold run, whose records are the caller's);
    /// returns the entries in memory (and how many) for the caller to free.
    pub(super) fn take_ready(&mut self) -> (usize, VecDeque<Entry>) {
        self.cold = None;
        self.ready_bytes = 0;
        self.paged = 0;
        self.paged_bytes = 0;
        let ready = std::mem::take(&mut self.ready);
        (ready.len(), ready)
    }
}
