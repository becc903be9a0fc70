//! The cold run: ready entries that are not in memory at all, not even as 24-byte entries.
//! Paging drops bodies but keeps each entry, so a queue of millions of messages would still
//! hold tens of bytes per message; once a run of entries past the head window has its bodies
//! on disk (stored in the queue's index, or spilled to the transient area), the entries leave
//! memory too and only a seq range and a count stay ("freezing"). When the head runs out, the
//! next page is rebuilt from the store ("thawing"), the same read that brought bodies back.
//!
//! The ready list of a queue that is not a priority queue is in seq order, so the run is
//! exactly the ready messages with a seq in `[first, last]` that are not in the deque: the
//! entries before it (the head) have smaller seqs and the entries after it (published since)
//! larger ones. Requeued messages come from the head, so they land before the run. The head is
//! never empty while the run exists (`refill`), so the deque's front is the queue's head.
//!
//! What a frozen entry needs back is on disk with its body: the delivery count and publish
//! time of a stored message (the queue index and the stored record), and the expiry of a
//! spilled one, which the spill writes in the record's time field. Only entries never
//! delivered freeze (a requeued entry's count may not be written yet); they are few and near
//! the head. docs/storage.md, "Paging", has the figures.

use super::paging::PAGE_IN;
use super::{Entry, Queue, State};
use crate::message::stored as persist;
use crate::message::Slot;

/// The ready entries that are only on disk: the ready messages with a seq in
/// `[first, last]` (the deque holds none of those).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cold {
    pub(super) first: u64,
    pub(super) last: u64,
    pub(super) count: usize,
    /// Body bytes of the entries whose length is known (all but recovered ones).
    pub(super) bytes: u64,
    /// Entries below this seq were recovered at startup: their body lengths are learnt when
    /// they are read back (`State::ready_bytes` does not count them yet).
    pub(super) unknown_below: u64,
}

/// An entry that may leave memory: its body is already on disk (paged out), and it was never
/// delivered.
fn freezable(e: &Entry) -> bool {
    !e.body.is_resident() && e.delivery_count() == 0
}

impl Queue {
    /// A durable queue's entries recovered at startup, as one cold run (`count` messages with
    /// seqs from `first` to `last`); the first page is read back at once.
    pub(super) fn restore_cold(&self, st: &mut State, first: u64, last: u64, count: usize) {
        st.paged += count;
        st.cold = Some(Cold {
            first,
            last,
            count,
            bytes: 0,
            unknown_below: st.next_seq,
        });
        self.refill(st);
    }

    /// Moves paged-out entries out of memory: those right after the cold run, or (with no run
    /// yet) those from the end of the head window on. Does nothing for fewer than
    /// `freeze_min` of them, so the deque is not reshuffled per message, and looks at no more
    /// entries than it moves (or `freeze_min`): it runs on publish.
    pub(super) fn freeze(&self, st: &mut State) {
        if self.max_priority.is_some() || st.deleted {
            return;
        }
        let start = match st.cold {
            Some(c) => st.ready.partition_point(|e| e.seq < c.first),
            // The head keeps at least one entry: its front must be the queue's head.
            None => self.spill_window.max(1).min(st.ready.len()),
        };
        let min = self.freeze_min.max(1);
        // Paging goes in seq order: if the last of the fewest worth moving is not on disk yet,
        // the stretch is too short (one look instead of up to `min` per publish).
        if !st.ready.get(start + min - 1).is_some_and(freezable) {
            return;
        }
        let end = start + st.ready.range(start..).take_while(|e| freezable(e)).count();
        if end - start < min {
            return;
        }
        let (first, last) = (st.ready[start].seq, st.ready[end - 1].seq);
        let bytes: u64 = st
            .ready
            .drain(start..end)
            .map(|e| e.body_len() as u64)
            .sum();
        let count = end - start;
        st.cold = Some(match st.cold {
            Some(c) => Cold {
                last,
                count: c.count + count,
                bytes: c.bytes + bytes,
                ..c
            },
            None => Cold {
                first,
                last,
                count,
                bytes,
                unknown_below: 0,
            },
        });
        // The deque grew with the backlog; what is left of it is small.
        st.shrink_ready(4);
    }

    /// Reads the next page of the cold run back if the head has run out, so that the deque's
    /// front is the queue's head again.
    pub(super) fn refill(&self, st: &mut State) {
        while let Some(c) = st.cold {
            if st.ready.front().is_some_and(|e| e.seq < c.first) {
                return;
            }
            self.thaw(st);
        }
    }

    /// Reads the first page of the cold run back into memory, bodies and all, from the
    /// queue's stored messages and its part of the transient area (merged by seq), and removes
    /// the spilled ones from the area. Makes progress whatever happens: what cannot be read is
    /// dropped with an error in the log, rather than stalling the queue.
    fn thaw(&self, st: &mut State) {
        let Some(cold) = st.cold else {
            return;
        };
        let mut bound = cold.last;
        let stored_store = self.stored_with_store();
        let stored = match &stored_store {
            Some((sq, store)) => {
                match store.read_queue(sq.id, cold.first.checked_sub(1), PAGE_IN) {
                    Ok(page) => page,
                    Err(e) => return self.lose_cold(st, &e.to_string()),
                }
            }
            None => Vec::new(),
        };
        if let (PAGE_IN, Some(e)) = (stored.len(), stored.last()) {
            bound = bound.min(e.seq);
        }
        let spill_store = self.spill_store();
        let spilled = match &spill_store {
            Some(store) => match store.transient_read(self.id, cold.first, PAGE_IN) {
                Ok(page) => page,
                Err(e) => return self.lose_cold(st, &e.to_string()),
            },
            None => Vec::new(),
        };
        if let (PAGE_IN, Some((seq, _))) = (spilled.len(), spilled.last()) {
            bound = bound.min(*seq);
        }
        let mut stored = stored.into_iter().filter(|e| e.seq <= bound).peekable();
        let mut spilled = spilled.into_iter().filter(|e| e.0 <= bound).peekable();
        let mut page: Vec<Entry> = Vec::with_capacity(PAGE_IN);
        let (mut taken, mut known, mut learnt) = (0, 0, 0);
        let (mut gone_stored, mut spilled_taken) = (Vec::new(), Vec::new());
        let mut last_route = None;
        loop {
            let from_store = match (stored.peek(), spilled.peek()) {
                (Some(a), Some(b)) => a.seq < b.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let (seq, record, delivery_count) = match from_store {
                true => stored
                    .next()
                    .map(|e| (e.seq, e.message, e.delivery_count))
                    .expect("peeked"),
                false => spilled.next().map(|(s, r)| (s, r, 0)).expect("peeked"),
            };
            taken += 1;
            spilled_taken.extend((!from_store).then_some(seq));
            match persist::decode_message_timed(&record, &mut last_route) {
                Ok((m, time)) => {
                    let len = m.body_len() as u64;
                    if seq < cold.unknown_below {
                        learnt += len;
                    } else {
                        known += len;
                    }
                    // A stored record holds the publish time; a spilled one the expiry itself.
                    let expires_at = match from_store {
                        true => self.expiry_since(&m, time),
                        false => time.unwrap_or(0),
                    };
                    let mut e = Entry::new(seq, Slot::resident(m), 0, from_store, expires_at);
                    e.set_delivery_count(delivery_count);
                    if from_store {
                        st.resident += 1;
                        st.resident_bytes += len as usize;
                    }
                    page.push(e);
                }
                Err(e) => {
                    tracing::error!(queue = %self.name, vhost = %self.vhost, seq, error = %e,
                        "dropping a paged-out message that cannot be read back");
                    if from_store {
                        gone_stored.push(seq);
                    }
                }
            }
        }
        if taken == 0 {
            return self.lose_cold(st, "its messages are not in the store");
        }
        let pos = st.ready.partition_point(|e| e.seq < cold.first);
        if pos == 0 {
            for e in page.into_iter().rev() {
                st.ready.push_front(e);
            }
        } else {
            let after = st.ready.split_off(pos);
            st.ready.extend(page);
            st.ready.extend(after);
        }
        st.paged = st.paged.saturating_sub(taken);
        st.paged_bytes = st.paged_bytes.saturating_sub(known);
        st.ready_bytes += learnt;
        let left = Cold {
            first: bound + 1,
            count: cold.count.saturating_sub(taken),
            bytes: cold.bytes.saturating_sub(known),
            ..cold
        };
        st.cold = (left.count > 0).then_some(left);
        if let Some(store) = spill_store {
            store.transient_delete(self.id, spilled_taken);
        }
        if !gone_stored.is_empty() {
            self.submit_acks(gone_stored);
        }
        if left.count > 0 && bound >= cold.last {
            self.lose_cold(st, "fewer of its messages are in the store than it counted");
        }
    }

    /// Gives up on the cold run (its messages cannot be read back): the counters forget it
    /// and the log says how many messages were dropped.
    fn lose_cold(&self, st: &mut State, why: &str) {
        let Some(c) = st.cold.take() else {
            return;
        };
        tracing::error!(queue = %self.name, vhost = %self.vhost, messages = c.count,
            error = why, "dropping paged-out messages that cannot be read back");
        st.paged = st.paged.saturating_sub(c.count);
        st.paged_bytes = st.paged_bytes.saturating_sub(c.bytes);
        st.ready_bytes = st.ready_bytes.saturating_sub(c.bytes);
    }

    /// The seqs of the ready messages in order, the cold run's read from the store (tests
    /// compare them with a model).
    #[cfg(test)]
    pub(super) fn ready_seqs(&self, st: &State) -> Vec<u64> {
        let seqs = st.ready.iter().map(|e| e.seq);
        let Some(c) = st.cold else {
            return seqs.collect();
        };
        let mut cold: Vec<u64> = Vec::new();
        if let Some((sq, store)) = self.stored_with_store() {
            let page = store.read_queue(sq.id, c.first.checked_sub(1), usize::MAX);
            cold.extend(page.expect("readable").iter().map(|e| e.seq));
        }
        if let Some(store) = self.spill_store() {
            let page = store.transient_read(self.id, c.first, usize::MAX);
            cold.extend(page.expect("readable").iter().map(|e| e.0));
        }
        cold.retain(|&s| s <= c.last);
        cold.sort_unstable();
        assert_eq!(cold.len(), c.count, "the cold run's count");
        let head: Vec<u64> = seqs.clone().take_while(|&s| s < c.first).collect();
        assert!(!head.is_empty(), "a cold run with an empty head");
        head.into_iter()
            .chain(cold)
            .chain(seqs.skip_while(|&s| s < c.first))
            .collect()
    }
}
