//! Dispatch: handing ready messages to consumers with credit, and taking the head entry with
//! its body (reading it back first if it was paged out).

use super::delivery::{ConnEvent, Delivery};
use super::{Entry, Queue, State};
use crate::credit::window_cost;
use crate::message::Message;
use std::sync::Arc;
use warren_store::Command;

impl Queue {
    /// Gives waiting consumers a chance after credit was returned elsewhere (global qos).
    pub(crate) fn kick(self: &Arc<Self>) {
        self.locked(|st| self.dispatch(st))
    }

    /// Hands ready messages to consumers with credit, round-robin, until one runs out.
    pub(super) fn dispatch(self: &Arc<Self>, st: &mut State) {
        let me = self;
        let mut counts: Vec<Command> = Vec::new();
        // The no-ack deliveries of stored messages leave the store as one ack: one command
        // and one MultiGet at the writer, not one point lookup per message.
        let mut no_ack_seqs: Vec<u64> = Vec::new();
        self.expire_head(st);
        while st.ready_len() > 0 && !st.consumers.is_empty() {
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
                    no_ack_seqs.push(entry.seq);
                }
            } else {
                entry.count_delivery();
                counts.extend(self.delivery_count_command(&entry));
                self.page_out_pending_ack(&mut entry);
                st.unacked.insert(entry.seq, entry);
            }
        }
        if !no_ack_seqs.is_empty() {
            counts.push(self.ack_command(no_ack_seqs));
        }
        if !counts.is_empty() {
            self.submit_detached(counts);
        }
        self.arm_expiry_timer(st);
    }

    /// Takes the head entry with its body, reading a page back from the store first if the
    /// body was paged out (or the entry itself, from the cold run).
    pub(super) fn pop_loaded(&self, st: &mut State) -> Option<(Entry, Message)> {
        loop {
            self.refill(st);
            let head = st.ready.front()?;
            if head.body.message().is_none() {
                self.page_in(st);
                continue;
            }
            let entry = st.pop_ready()?;
            self.refill(st);
            st.shrink_ready(8);
            let message = entry.body.message().cloned()?;
            if entry.stored() {
                st.resident = st.resident.saturating_sub(1);
                st.resident_bytes = st.resident_bytes.saturating_sub(message.body_len());
            }
            return Some((entry, message));
        }
    }

    /// Undoes `pop_loaded` for a delivery that could not be handed over.
    pub(super) fn push_front_loaded(&self, st: &mut State, entry: Entry) {
        if entry.stored() {
            st.resident += 1;
            st.resident_bytes += entry.body_len();
        }
        st.push_ready_front(entry);
    }
}
