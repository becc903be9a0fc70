//! Settling deliveries: basic.ack / nack / reject (now, or at tx.commit) and basic.recover,
//! grouped per queue.

use super::channel::{Settle, Unacked};
use super::Connection;
use crate::error::{AmqpError, AmqpResult};
use crate::queue::Queue;
use std::collections::HashMap;
use std::sync::Arc;

impl Connection {
    /// ack / nack / reject: applied now, or collected when the channel is transactional.
    pub(super) fn settle(
        &mut self,
        channel: u16,
        tag: u64,
        multiple: bool,
        how: Settle,
    ) -> AmqpResult<()> {
        let ch = self.channel(channel)?;
        if let Some(tx) = ch.tx.as_mut() {
            let known = if multiple {
                tag == 0 || ch.unacked.front().is_some_and(|u| u.tag <= tag)
            } else {
                ch.unacked.binary_search_by_key(&tag, |u| u.tag).is_ok()
            };
            if !known {
                return Err(AmqpError::precondition_failed(format!(
                    "unknown delivery tag {tag}"
                )));
            }
            tx.settlements.push((tag, multiple, how));
            return Ok(());
        }
        self.apply_settlement(channel, tag, multiple, how)
    }

    pub(super) fn apply_settlement(
        &mut self,
        channel: u16,
        tag: u64,
        multiple: bool,
        how: Settle,
    ) -> AmqpResult<()> {
        let ch = self.channel(channel)?;
        let Some(settled) = ch.take_unacked(tag, multiple) else {
            return Err(AmqpError::precondition_failed(format!(
                "unknown delivery tag {tag}"
            )));
        };
        let global = ch.channel_credit.limit() != 0;
        if matches!(how, Settle::Ack) {
            let acked = settled.len() as u64;
            ch.counters.ack += acked;
            self.tally.acknowledged(acked);
        }
        settle_by_queue(settled, how);
        if global {
            self.kick_consumers(channel);
        }
        Ok(())
    }

    pub(super) fn recover(&mut self, channel: u16, requeue: bool) -> AmqpResult<()> {
        if !requeue {
            return Err(AmqpError::not_implemented("requeue=false"));
        }
        let ch = self.channel(channel)?;
        let all: Vec<Unacked> = ch.unacked.drain(..).collect();
        settle_by_queue(all, Settle::Requeue);
        Ok(())
    }
}

/// Settles deliveries grouped per queue, returning their credit first.
pub(super) fn settle_by_queue(settled: Vec<Unacked>, how: Settle) {
    let mut by_queue: HashMap<*const Queue, (Arc<Queue>, Vec<u64>)> = HashMap::new();
    for u in settled {
        if let Some((c, cc)) = &u.credits {
            c.give_back(1);
            cc.give_back(1);
        }
        by_queue
            .entry(Arc::as_ptr(&u.queue))
            .or_insert_with(|| (u.queue.clone(), Vec::new()))
            .1
            .push(u.seq);
    }
    for (_, (q, seqs)) in by_queue {
        match how {
            Settle::Ack => {
                q.counters.ack.bump(seqs.len() as u64);
                q.ack(&seqs)
            }
            Settle::Requeue => q.requeue(&seqs),
            Settle::Discard => q.discard(&seqs),
        }
    }
}
