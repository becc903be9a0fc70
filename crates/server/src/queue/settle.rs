//! Settling: basic.get, and the acks, requeues and discards (nack/reject without requeue)
//! of delivered messages.

use super::{Entry, Queue};
use crate::dead_letter::Reason;
use crate::message::Message;
use std::sync::Arc;

impl Queue {
    /// basic.get: the head message and how many remain.
    pub fn get(self: &Arc<Self>, no_ack: bool) -> Option<(u64, Message, bool, u32)> {
        self.touch();
        self.locked(|st| {
            self.expire_head(st);
            let (mut entry, message) = self.pop_loaded(st)?;
            let seq = entry.seq;
            let remaining = st.ready_len() as u32;
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
                self.page_out_pending_ack(&mut entry);
                st.unacked.insert(seq, entry);
            }
            // The new head may have a TTL that no timer watches yet (RabbitMQ expires it
            // on time with no further operation on the queue).
            self.arm_expiry_timer(st);
            Some((seq, message, redelivered, remaining))
        })
    }

    /// Acknowledges delivered messages; frees them and lets dispatch continue.
    pub(crate) fn ack(self: &Arc<Self>, seqs: &[u64]) {
        self.locked(|st| {
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
            self.dispatch(st);
        })
    }

    /// Puts delivered messages back at their original position, marked redelivered. As in
    /// RabbitMQ, drop-head then trims the queue back to its length limits from the head (the
    /// requeued messages usually go first, dead-lettered `maxlen`); under reject-publish(-dlx)
    /// the queue may stay over its limit.
    pub(crate) fn requeue(self: &Arc<Self>, seqs: &[u64]) {
        self.locked(|st| {
            let mut back: Vec<Entry> = seqs.iter().filter_map(|s| st.unacked.remove(s)).collect();
            back.sort_by_key(|e| e.seq);
            for mut entry in back {
                // Delivered at least once, whatever the count said (a no-ack get never requeues).
                entry.mark_redelivered();
                if entry.stored() && entry.body.is_resident() {
                    st.resident += 1;
                    st.resident_bytes += entry.body_len();
                } else if entry.stored() {
                    // Paged out while unacked (`pending_acks.rs`): read back near the head.
                    st.paged += 1;
                    st.paged_bytes += u64::from(entry.body.body_len());
                }
                let pos = st.ready.partition_point(|e| {
                    e.priority() > entry.priority()
                        || (e.priority() == entry.priority() && e.seq < entry.seq)
                });
                st.insert_ready(pos, entry);
            }
            if !st.deleted {
                self.drop_head_over_limit(st);
                self.dispatch(st);
            }
        })
    }

    /// Drops delivered messages without requeueing (nack/reject with requeue=false); with a
    /// dead-letter exchange they go there, reason `rejected`.
    pub(crate) fn discard(self: &Arc<Self>, seqs: &[u64]) {
        if !self.settings.has_dead_letter() {
            return self.ack(seqs);
        }
        self.locked(|st| {
            let leaving: Vec<Entry> = seqs.iter().filter_map(|s| st.unacked.remove(s)).collect();
            let stored: Vec<u64> = leaving
                .iter()
                .filter(|e| e.stored())
                .map(|e| e.seq)
                .collect();
            for message in self.bodies_for_dead_letters(leaving) {
                st.dead.push((message, Reason::Rejected));
            }
            if !stored.is_empty() {
                self.submit_acks(stored);
            }
            self.dispatch(st);
        })
    }
}
