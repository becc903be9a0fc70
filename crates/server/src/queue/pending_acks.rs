//! Delivered, unacknowledged stored messages under memory pressure: their bodies leave memory
//! (the consumer's delivery holds its own reference until it is written out), as RabbitMQ's
//! classic queues page pending acks. An ack needs no body; a requeued entry goes back to the
//! ready list paged out and is read back like any other before it reaches a consumer
//! (`paging.rs`); a dead-lettered one is read back at once (`bodies_for_dead_letters`).
//! Unstored messages keep their bodies: they have no copy on disk to come back from.

use super::{Entry, Queue, State};
use crate::message::stored as persist;
use crate::message::Message;
use std::sync::atomic::Ordering;

impl Queue {
    /// A delivery just taken for its ack: under pressure, its body leaves memory if the store
    /// holds it (its `Enqueue` written).
    pub(super) fn page_out_pending_ack(&self, entry: &mut Entry) {
        if entry.stored() && self.under_pressure() && self.persisted(entry.seq) {
            entry.body.take();
        }
    }

    /// The broker's once-a-second sweep under pressure: what was delivered before the pressure
    /// began leaves memory too.
    pub(super) fn page_out_pending_acks(&self, st: &mut State) {
        let persisted_below = self.persisted_below.load(Ordering::Relaxed);
        for e in st.unacked.values_mut() {
            if e.stored() && e.seq < persisted_below {
                e.body.take();
            }
        }
    }

    fn persisted(&self, seq: u64) -> bool {
        seq < self.persisted_below.load(Ordering::Relaxed)
    }

    /// The messages of settled entries leaving for the dead-letter exchange, in the order
    /// given; bodies paged out while unacked are read back from the store in one go. One that
    /// cannot be read is left out, with an error in the log (its store entry is acked all
    /// the same by the caller).
    pub(super) fn bodies_for_dead_letters(&self, entries: Vec<Entry>) -> Vec<Message> {
        let missing: Vec<u64> = entries
            .iter()
            .filter(|e| e.stored() && !e.body.is_resident())
            .map(|e| e.seq)
            .collect();
        let mut read = Vec::new();
        if !missing.is_empty() {
            if let Some((stored, store)) = self.stored_with_store() {
                match store.read_queue_seqs(stored.id, &missing) {
                    Ok(page) => read = page,
                    Err(e) => tracing::error!(queue = %self.name, vhost = %self.vhost,
                        error = %e, "cannot read rejected messages back for dead-lettering"),
                }
            }
        }
        let mut read = read.into_iter().peekable();
        let mut last_route = None;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            if let Some(m) = e.body.message() {
                out.push(m.clone());
                continue;
            }
            // `read` is in the order of `missing`, which follows `entries`.
            let Some(stored_entry) = read.next_if(|s| s.seq == e.seq) else {
                tracing::error!(queue = %self.name, vhost = %self.vhost, seq = e.seq,
                    "a rejected message could not be read back: not dead-lettered");
                continue;
            };
            match persist::decode_message_timed(&stored_entry.message, &mut last_route) {
                Ok((m, _)) => out.push(m),
                Err(err) => tracing::error!(queue = %self.name, vhost = %self.vhost,
                    seq = e.seq, error = %err, "unreadable stored message: not dead-lettered"),
            }
        }
        out
    }
}
