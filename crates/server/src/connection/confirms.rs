//! Publisher confirms: confirm.select, acking publishes once their batch is handled (and, for
//! persistent messages, once the store has written them), nacks, and the tx.commit-ok that
//! waits on the same store write. The per-channel bookkeeping (sequence numbers, what is
//! settled) is `confirm_tracker`'s; this file decides when a range is due and sends frames.

use super::confirm_tracker::Settlement;
use super::Connection;
use crate::error::{AmqpError, AmqpResult};
use crate::queue::delivery::ConnEvent;
use warren_codec::generated::*;
use warren_codec::Method;

impl Connection {
    pub(super) fn confirm_select(&mut self, channel: u16, m: ConfirmSelect) -> AmqpResult<()> {
        let ch = self.channel(channel)?;
        if ch.tx.is_some() {
            return Err(AmqpError::precondition_failed(
                "cannot switch from tx to confirm mode",
            ));
        }
        ch.confirm = true;
        if !m.nowait {
            self.send_method(channel, &Method::ConfirmSelectOk(ConfirmSelectOk {}));
        }
        Ok(())
    }

    /// After a batch of frames: if persistent messages went to the store, wait for that write
    /// (in a small task) before confirming; otherwise confirm everything published so far,
    /// unless an earlier batch's write is still outstanding.
    pub(super) fn finish_confirms(&mut self) {
        let Some(reply) = self.store_reply.take() else {
            if self.syncs_in_flight == 0 {
                self.confirm_all_published();
            }
            return;
        };
        let written = std::mem::take(&mut self.store_written);
        let commits = std::mem::take(&mut self.commits_waiting);
        let confirms: Vec<(u16, u64)> = self
            .channels
            .values()
            .filter(|ch| ch.confirm && !ch.closing)
            .filter_map(|ch| Some((ch.id, ch.confirms.unsettled_upto()?)))
            .collect();
        self.syncs_in_flight += 1;
        let events = self.events_tx.clone();
        let connection = self.id;
        // Each waiter is its own task, and tasks finish in any order: without this chain a
        // later write's acks could arrive first and cover publishes whose write then failed.
        let previous = self.last_persisted.take();
        let (done, next) = tokio::sync::oneshot::channel();
        self.last_persisted = Some(next);
        self.broker.tasks().spawn(async move {
            let result = reply.await.unwrap_or(Err(warren_store::StoreError::Closed));
            let ok = match result {
                Ok(()) => {
                    for (q, seq) in written {
                        q.mark_persisted(seq);
                    }
                    true
                }
                Err(e) => {
                    tracing::error!(connection, error = %e, "persisting messages failed");
                    false
                }
            };
            if let Some(previous) = previous {
                // An error means that waiter is gone (shutdown): nothing to wait for.
                let _ = previous.await;
            }
            let _ = events.send(ConnEvent::Persisted {
                ok,
                confirms,
                commits,
            });
            let _ = done.send(());
        });
    }

    /// A store write this connection waited for is done (or failed).
    pub(super) fn persisted(
        &mut self,
        ok: bool,
        confirms: Vec<(u16, u64)>,
        commits: Vec<u16>,
    ) -> Option<super::Exit> {
        self.syncs_in_flight = self.syncs_in_flight.saturating_sub(1);
        for (channel, upto) in confirms {
            self.confirm_upto(channel, upto, ok);
        }
        for channel in commits {
            if self.channels.get(&channel).is_none_or(|c| c.closing) {
                continue;
            }
            if ok {
                self.send_method(channel, &Method::TxCommitOk(TxCommitOk {}));
            } else if let Some(exit) = self.fail(
                channel,
                AmqpError::internal("the message store failed to write the transaction")
                    .with_ids(90, 20),
            ) {
                return Some(exit);
            }
        }
        if self.syncs_in_flight == 0 {
            self.confirm_all_published();
        }
        None
    }

    /// A queue refused the publish just made on `channel` (a length limit with `x-overflow`
    /// reject-publish): on a confirm channel it is nacked now, on its own, as RabbitMQ does;
    /// later acks with `multiple` may span it (clients have settled it already).
    pub(super) fn nack_refused_publish(&mut self, channel: u16) {
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        if !ch.confirm {
            return;
        }
        let nack = ch.confirms.refuse_last();
        self.send_settlement(channel, nack);
    }

    /// Sends basic.ack (or basic.nack when the store failed) for publishes up to `upto`.
    fn confirm_upto(&mut self, channel: u16, upto: u64, ok: bool) {
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        if !ch.confirm || ch.closing {
            return;
        }
        if let Some((settlement, count)) = ch.confirms.settle_counted(upto, ok) {
            if ok {
                ch.counters.confirm += count;
                self.tally.confirmed(count);
            }
            self.send_settlement(channel, settlement);
        }
    }

    fn send_settlement(&mut self, channel: u16, s: Settlement) {
        let method = if s.ack {
            Method::BasicAck(BasicAck {
                delivery_tag: s.tag,
                multiple: s.multiple,
            })
        } else {
            Method::BasicNack(BasicNack {
                delivery_tag: s.tag,
                multiple: s.multiple,
                requeue: false,
            })
        };
        self.send_method(channel, &method);
    }

    /// Acks everything published on confirm channels so far.
    fn confirm_all_published(&mut self) {
        let due: Vec<(u16, u64)> = self
            .channels
            .values()
            .filter(|ch| ch.confirm && !ch.closing)
            .filter_map(|ch| Some((ch.id, ch.confirms.unsettled_upto()?)))
            .collect();
        for (channel, upto) in due {
            self.confirm_upto(channel, upto, true);
        }
    }
}
