//! Paging: dropping the bodies of stored messages from memory past a budget and reading them
//! back a page at a time before they reach the head (unstored ones are `spill`'s); and
//! rebuilding a durable queue from the store at startup (docs/storage.md, "Paging").

use super::bands::{band_at, partition_in, Loaded};
use super::entry::EXPIRY_UNKNOWN;
use super::{DeadLetterSink, Entry, Queue, QueueOptions, State, StoredQueue};
use crate::message::stored as persist;
use crate::message::Slot;
use crate::tasks::Tasks;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use warren_store::StoredEntry;

/// Stored messages whose bodies a queue keeps in memory before paging the rest out.
pub(super) const RESIDENT_MAX_MESSAGES: usize = 4096;
/// Same, in body bytes.
pub(super) const RESIDENT_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Entries at the head that always keep their bodies (they are about to be delivered).
pub(super) const HEAD_WINDOW: usize = 256;
/// Messages read back from the store per page.
pub(super) const PAGE_IN: usize = 256;

impl Queue {
    /// A durable queue rebuilt at startup: `entries` are the stored (seq, delivery count)
    /// pairs in order; their bodies stay on disk until they near the head.
    #[allow(clippy::too_many_arguments)] // a constructor: each is one of the queue's parts
    pub(crate) fn restore(
        name: &str,
        vhost: Arc<str>,
        options: QueueOptions,
        (stored, spill): (StoredQueue, Option<super::Spill>),
        next_seq: u64,
        entries: Vec<(u64, u32)>,
        dead_letter_sink: Weak<dyn DeadLetterSink>,
        tasks: Tasks,
    ) -> Arc<Queue> {
        let q = Self::with_store(
            name,
            vhost,
            options,
            (Some(stored), spill),
            dead_letter_sink,
            tasks,
        );
        let prioritized = q.max_priority.is_some();
        q.persisted_below.store(next_seq, Ordering::Relaxed);
        // Expiry times come from each message's publish time, stored with its body: unknown
        // until the body is read back (see `expire_head`).
        let expires_at = EXPIRY_UNKNOWN;
        {
            let mut st = q.lock();
            st.next_seq = next_seq;
            st.evicted_below = next_seq;
            if !prioritized {
                // Recovered entries stay on disk until the head reaches them (`cold.rs`).
                if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
                    let (first, last) = (first.0, last.0);
                    q.restore_cold(&mut st, first, last, entries.len());
                }
                drop(st);
                return q;
            }
            st.paged = entries.len();
            st.ready = entries
                .into_iter()
                .map(|(seq, delivery_count)| {
                    // Priority and body length are learnt just below.
                    let mut e = Entry::new(seq, Slot::paged(0), 0, true, expires_at);
                    e.set_delivery_count(delivery_count);
                    e
                })
                .collect();
            q.load_all_for_priorities(&mut st);
        }
        q
    }

    /// At recovery of a priority queue: every message is read back once for its priority (it
    /// is in the properties, not the index) and dropped again; the entries are put in
    /// priority order, their bodies paged out until they near the head.
    pub(super) fn load_all_for_priorities(&self, st: &mut State) {
        let Some((stored, store)) = self.stored_with_store() else {
            return;
        };
        let mut after = None;
        let mut last_route = None;
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
                    entry.body = Slot::paged(m.body_len() as u32);
                }
            }
        }
        st.ready_bytes = st.ready.iter().map(|e| e.body_len() as u64).sum();
        st.paged_bytes = st.ready_bytes;
        // Stable: publish order within a priority is kept.
        st.ready
            .make_contiguous()
            .sort_by_key(|e| std::cmp::Reverse(e.priority()));
    }

    /// Reads the bodies of the next page of paged-out entries at the head, from the queue's
    /// stored messages or from the transient area, whichever holds the head. Makes progress
    /// whatever happens: a head entry whose message cannot be read is dropped (and removed from
    /// the store) with an error in the log, rather than blocking the queue forever.
    pub(super) fn page_in(&self, st: &mut State) {
        let Some(head) = st.ready.front() else {
            return;
        };
        if !head.stored() {
            return self.page_in_spilled(st);
        }
        let head_seq = head.seq;
        let Some((stored, store)) = self.stored_with_store() else {
            // The store outlives a running broker: it is shutting down.
            if let Some(e) = st.pop_ready() {
                self.forget_paged(st, &e);
            }
            return self.refill(st);
        };
        let read = st.read_next_page(
            self.max_priority.is_none(),
            true,
            |e: &StoredEntry| e.seq,
            || store.read_queue(stored.id, head_seq.checked_sub(1), PAGE_IN),
            |seqs| store.read_queue_seqs(stored.id, seqs),
        );
        match read {
            Ok(page) => self.load_page(st, page),
            Err(e) => tracing::error!(queue = %self.name, vhost = %self.vhost, error = %e,
                "cannot read messages back from the store"),
        }
        if st.ready.front().is_some_and(|e| e.body.message().is_none()) {
            tracing::error!(queue = %self.name, vhost = %self.vhost, seq = head_seq,
                "dropping a stored message that cannot be read back");
            if let Some(e) = st.pop_ready() {
                self.forget_paged(st, &e);
            }
            self.submit_acks(vec![head_seq]);
            self.refill(st);
        }
    }

    /// Drops the in-memory bodies of stored messages past the head window once the queue holds
    /// more than its budget, or whenever the broker is under memory pressure (as unstored ones
    /// spill then). Only entries whose `Enqueue` has been written are paged out. A priority
    /// queue is paged band by band (`drop_stored_bodies`) and read back by seqs (`page_in`).
    pub(super) fn page_out(&self, st: &mut State) {
        if st.resident <= RESIDENT_MAX_MESSAGES
            && st.resident_bytes <= RESIDENT_MAX_BYTES
            && !self.under_pressure()
        {
            return;
        }
        let persisted_below = self.persisted_below.load(Ordering::Relaxed);
        let evicted_below = st.evicted_below;
        let window = st.window_start(HEAD_WINDOW);
        let (freed, bytes, next) =
            drop_stored_bodies(&mut st.ready, window, evicted_below, persisted_below);
        let next = next.unwrap_or(evicted_below);
        st.evicted_below = next;
        st.resident = st.resident.saturating_sub(freed);
        st.resident_bytes = st.resident_bytes.saturating_sub(bytes);
        st.paged += freed;
        st.paged_bytes += bytes as u64;
        self.freeze(st);
    }

    /// Puts the bodies of a page read from the store into the paged-out ready entries at the
    /// given deque positions, learning their expiry and length if recovery did not.
    fn load_page(&self, st: &mut State, page: Loaded<StoredEntry>) {
        let (mut loaded, mut bytes, mut learnt, mut was_paged) = (0, 0, 0, 0);
        let mut last_route = None;
        for (i, stored_entry) in page {
            let Some(entry) = st.ready.get_mut(i) else {
                continue;
            };
            if entry.body.is_resident() {
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
                    was_paged += u64::from(entry.body.body_len());
                    entry.body.set(m);
                }
                Err(e) => tracing::error!(queue = %self.name, vhost = %self.vhost,
                    seq = entry.seq, error = %e, "unreadable stored message"),
            }
        }
        st.resident += loaded;
        st.resident_bytes += bytes;
        st.ready_bytes += learnt;
        st.paged = st.paged.saturating_sub(loaded);
        st.paged_bytes = st.paged_bytes.saturating_sub(was_paged);
    }
}

/// Drops the bodies of the stored entries in `range` (in seq order) up to the first not yet
/// written; returns how many, their bytes, and the seq after the last entry looked at.
fn drop_bodies(
    ready: &mut VecDeque<Entry>,
    range: Range<usize>,
    persisted_below: u64,
) -> (usize, usize, Option<u64>) {
    let (mut freed, mut bytes, mut next) = (0, 0, None);
    for e in ready.range_mut(range) {
        if e.seq >= persisted_below {
            break;
        }
        next = Some(e.seq + 1);
        if e.stored() {
            if let Some(m) = e.body.take() {
                freed += 1;
                bytes += m.body_len();
            }
        }
    }
    (freed, bytes, next)
}

/// `drop_bodies` over every band past `window` (a plain queue has one): a priority queue's
/// deque is one band per priority, highest first, each in seq order, so each band is paged
/// like a plain queue, from the first entry at or after `evicted_below`. Every band's
/// looked-at entries are below the returned seq, and every entry it skipped is at or above
/// it, so one cursor serves them all.
fn drop_stored_bodies(
    ready: &mut VecDeque<Entry>,
    window: usize,
    evicted_below: u64,
    persisted_below: u64,
) -> (usize, usize, Option<u64>) {
    let (mut freed, mut bytes, mut next) = (0, 0, None);
    let mut pos = window;
    while let Some(band) = band_at(ready, pos) {
        pos = band.end;
        let start = partition_in(ready, band.clone(), |e| e.seq < evicted_below);
        let (f, b, n) = drop_bodies(ready, start..band.end, persisted_below);
        freed += f;
        bytes += b;
        next = next.max(n);
    }
    (freed, bytes, next)
}
