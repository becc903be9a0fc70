//! Spilling: under memory pressure, the bodies of ready messages that are not otherwise on
//! disk (transient messages, persistent ones in non-durable queues) go to the store's
//! transient area past the head window, and leave memory once that write is done; they are
//! read back, and removed from the area, a page at a time before they reach the head
//! (docs/storage.md, "Paging").
//!
//! One write per queue is in flight at a time: it takes every candidate entry the queue had
//! when it started (so writes batch themselves under load), and when it completes the queue
//! starts the next one if the pressure lasts. An entry is looked at once (`spilled_below`), so
//! each seq is written at most once. Every key a write leaves behind belongs to an entry that
//! is still ready and paged out; the others are deleted at once (completion), on page-in, when
//! such an entry leaves the head unread (expiry, drop-head), and wholesale on purge and queue
//! deletion. The area is wiped at every start anyway.

use super::bands::BySeq;
use super::paging::PAGE_IN;
use super::{Queue, State};
use crate::alarms::MemoryPressure;
use crate::message::stored as persist;
use crate::message::Message;
use bytes::Bytes;
use std::sync::{Arc, Weak};
use warren_store::{Store, StoreError};

/// Most entries, and body bytes, one spill write takes.
const SPILL_MAX_MESSAGES: usize = 4096;
const SPILL_MAX_BYTES: usize = 16 << 20;

/// Bodies in memory, past what the write in flight takes, beyond which a queue under memory
/// pressure holds its publishers until that write is done (`Reasons::PAGING_BACKLOG`).
/// Without it publishers outran the spill until the memory alarm stopped them: the soak's
/// queue kept 110 MiB of bodies waiting, and the resident set went up to 30 % past the
/// watermark (docs/storage.md, "Paging behind its publishers").
const PAGING_BACKLOG_MAX: u64 = 32 << 20;

/// What a queue needs to spill: the store (held weakly, as `StoredQueue` holds it) and the
/// broker's memory-pressure flag.
#[derive(Debug, Clone)]
pub(crate) struct Spill {
    store: Weak<Store>,
    pressure: MemoryPressure,
}

impl Spill {
    pub(crate) fn new(store: &Arc<Store>, pressure: MemoryPressure) -> Spill {
        Spill {
            store: Arc::downgrade(store),
            pressure,
        }
    }
}

impl Queue {
    /// Whether the broker is under memory pressure (one relaxed load; false without a store).
    pub(super) fn under_pressure(&self) -> bool {
        self.spill.as_ref().is_some_and(|s| s.pressure.is_on())
    }

    pub(super) fn spill_store(&self) -> Option<Arc<Store>> {
        self.spill.as_ref()?.store.upgrade()
    }

    /// Asks the queue to page out now if memory is under pressure (the broker's once-a-second
    /// sweep, for queues nobody publishes to).
    pub(crate) fn relieve_memory(self: &Arc<Self>) {
        if self.under_pressure() {
            let mut st = self.lock();
            // Stored bodies written since the last publish may leave memory now.
            self.page_out(&mut st);
            self.page_out_pending_acks(&mut st);
            self.spill_out(&mut st);
        }
    }

    /// Starts writing the bodies of unstored ready entries past the head window (and past
    /// those looked at before, in seq order across a priority queue's bands) to the transient
    /// area, unless a write is in flight; either way, holds publishers if too much is left
    /// waiting.
    pub(super) fn spill_out(self: &Arc<Self>, st: &mut State) {
        if st.deleted {
            return;
        }
        if st.spilling {
            self.hold_publishers_if_behind(st);
            return;
        }
        let start = st.window_start(self.spill_window);
        let mut walk = BySeq::new(&st.ready, start, st.spilled_below);
        let mut items: Vec<(u64, Message, u64)> = Vec::new();
        // (seq, priority): where `spilled` finds each entry again.
        let mut seqs: Vec<(u64, u8)> = Vec::new();
        let mut bytes = 0;
        let mut next = st.spilled_below;
        while let Some(i) = walk.next(&st.ready) {
            if items.len() >= SPILL_MAX_MESSAGES || bytes >= SPILL_MAX_BYTES {
                break;
            }
            let e = &st.ready[i];
            next = e.seq + 1;
            if let (false, Some(m)) = (e.stored(), e.body.message()) {
                bytes += m.body_len();
                items.push((e.seq, m.clone(), e.expires_at()));
                seqs.push((e.seq, e.priority()));
            }
        }
        st.spilled_below = next;
        if items.is_empty() {
            return;
        }
        let Some(store) = self.spill_store() else {
            return;
        };
        st.spilling = true;
        st.spilling_bytes = bytes as u64;
        self.hold_publishers_if_behind(st);
        // The record's time field carries the entry's expiry, not a publish time: a frozen
        // entry gets it back from there (`cold.rs`).
        let fill = move || {
            items
                .into_iter()
                .map(|(seq, m, expires_at)| (seq, persist::encode_message(&m, expires_at)))
                .collect()
        };
        let queue = Arc::downgrade(self);
        let done = move |result: Result<(), StoreError>| {
            if let Some(q) = queue.upgrade() {
                q.spilled(&seqs, result);
            }
        };
        store.transient_put(self.id, Box::new(fill), Box::new(done));
    }

    /// With a write in flight: if more than [`PAGING_BACKLOG_MAX`] of bodies are left in
    /// memory besides it, publishers wait until it is done. Held only with a write in flight
    /// (`spilled` lets go), so it always ends, even when what stays in memory cannot be spilled
    /// (the head window, stored bodies).
    fn hold_publishers_if_behind(&self, st: &mut State) {
        // Saturating: a purge or deliveries during the write may leave less than it took.
        let left = st.ready_bytes_in_memory().saturating_sub(st.spilling_bytes);
        if st.paging_behind.is_none() && left > PAGING_BACKLOG_MAX {
            st.paging_behind = self.spill.as_ref().map(|s| s.pressure.falling_behind());
        }
    }

    /// A spill write is done: entries still ready and in memory drop their bodies; the keys
    /// of the others go. Runs on the store's transient writer thread.
    fn spilled(self: &Arc<Self>, seqs: &[(u64, u8)], result: Result<(), StoreError>) {
        let mut st = self.lock();
        // Let go only after the next write has started (the end of this call): if that one is
        // behind too, publishers do not get a moment's run between the two.
        let _behind = st.paging_behind.take();
        st.spilling = false;
        st.spilling_bytes = 0;
        if let Err(e) = result {
            // The bodies stay in memory; these entries are not tried again.
            tracing::error!(queue = %self.name, vhost = %self.vhost, error = %e,
                "cannot page message bodies out to the store");
            return;
        }
        let mut gone = Vec::new();
        let (mut freed, mut bytes) = (0, 0);
        for &(seq, priority) in seqs {
            let entry = match st.position_of(seq, priority) {
                Some(i) if !st.deleted => st.ready.get_mut(i),
                _ => None,
            };
            match entry.and_then(|e| e.body.take()) {
                Some(m) => {
                    freed += 1;
                    bytes += m.body_len() as u64;
                }
                None => gone.push(seq),
            }
        }
        st.paged += freed;
        st.paged_bytes += bytes;
        if let Some(store) = self.spill_store() {
            store.transient_delete(self.id, gone);
        }
        if !st.deleted {
            self.freeze(&mut st);
        }
        if self.under_pressure() {
            self.spill_out(&mut st);
        }
    }

    /// Reads the next page of spilled entries from the head on back into memory and removes
    /// them from the transient area. The head must be an unstored entry without its body.
    pub(super) fn page_in_spilled(&self, st: &mut State) {
        let Some(head_seq) = st.ready.front().map(|e| e.seq) else {
            return;
        };
        let Some(store) = self.spill_store() else {
            // The broker is gone: nothing can be read back.
            self.drop_unreadable_head(st);
            return;
        };
        let read = st.read_next_page(
            self.max_priority.is_none(),
            false,
            |(seq, _): &(u64, Bytes)| *seq,
            || store.transient_read(self.id, head_seq, PAGE_IN),
            |seqs| store.transient_read_seqs(self.id, seqs),
        );
        let page = read.unwrap_or_else(|e| {
            tracing::error!(queue = %self.name, vhost = %self.vhost, error = %e,
                "cannot read paged-out messages back from the store");
            Vec::new()
        });
        let (mut loaded, mut bytes) = (Vec::new(), 0);
        let mut last_route = None;
        for (i, (seq, record)) in page {
            let Some(entry) = st.ready.get_mut(i) else {
                continue;
            };
            if entry.stored() || entry.body.is_resident() {
                continue;
            }
            match persist::decode_message_timed(&record, &mut last_route) {
                Ok((m, _)) => {
                    bytes += u64::from(entry.body.body_len());
                    entry.body.set(m);
                    loaded.push(seq);
                }
                Err(e) => tracing::error!(queue = %self.name, vhost = %self.vhost, seq,
                    error = %e, "unreadable paged-out message"),
            }
        }
        st.paged = st.paged.saturating_sub(loaded.len());
        st.paged_bytes = st.paged_bytes.saturating_sub(bytes);
        store.transient_delete(self.id, loaded);
        if st.ready.front().is_some_and(|e| !e.body.is_resident()) {
            self.drop_unreadable_head(st);
        }
    }

    /// Drops a head entry whose body cannot be read back, so the queue never stalls on it.
    fn drop_unreadable_head(&self, st: &mut State) {
        let Some(e) = st.ready.front() else {
            return;
        };
        tracing::error!(queue = %self.name, vhost = %self.vhost, seq = e.seq,
            "dropping a paged-out message that cannot be read back");
        if let Some(e) = st.pop_ready() {
            self.forget_paged(st, &e);
        }
        self.refill(st);
    }

    /// Bookkeeping for a paged-out entry that left the ready list without being read back:
    /// the counters, and its key in the transient area (a stored entry's is the caller's).
    pub(super) fn forget_paged(&self, st: &mut State, e: &super::Entry) {
        if e.body.is_resident() {
            return;
        }
        st.paged = st.paged.saturating_sub(1);
        st.paged_bytes = st.paged_bytes.saturating_sub(e.body_len() as u64);
        if !e.stored() {
            if let Some(store) = self.spill_store() {
                store.transient_delete(self.id, vec![e.seq]);
            }
        }
    }

    /// Empties the queue's part of the transient area (purge, deletion), if it ever used it.
    pub(super) fn clear_spilled(&self, st: &State) {
        if st.spilled_below == 0 {
            return;
        }
        if let Some(store) = self.spill_store() {
            store.transient_clear(self.id);
        }
    }
}
