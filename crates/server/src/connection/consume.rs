//! Consuming: basic.qos, basic.consume / cancel, basic.get, and writing deliveries from
//! queues to the socket (or handing them back when their channel or consumer is gone).

use super::authz::Kind;
use super::channel::Unacked;
use super::Connection;
use crate::access::permissions::Permission;
use crate::credit::{window_cost, Credit};
use crate::error::{AmqpError, AmqpResult};
use crate::message::Message;
use crate::queue::delivery::{ConnEvent, Delivery};
use crate::queue::{Consumer, Queue};
use bytes::BytesMut;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use warren_codec::frame::{self, DeliveryMethod};
use warren_codec::generated::*;
use warren_codec::{Method, ShortStr};

fn reused_tag(tag: &ShortStr) -> AmqpError {
    AmqpError::not_allowed(format!("attempt to reuse consumer tag '{tag}'"))
}

pub(super) fn consumer_tag() -> ShortStr {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    ShortStr::try_from(format!("amq.ctag-warren-{n}")).unwrap_or_default()
}

impl Connection {
    pub(super) fn basic_qos(&mut self, channel: u16, m: BasicQos) -> AmqpResult<()> {
        if m.prefetch_size != 0 {
            return Err(AmqpError::not_implemented(format!(
                "prefetch_size!=0 ({})",
                m.prefetch_size
            )));
        }
        let ch = self.channel(channel)?;
        if m.global {
            ch.channel_credit.set_limit(u32::from(m.prefetch_count));
        } else {
            ch.consumer_prefetch = u32::from(m.prefetch_count);
        }
        self.send_method(channel, &Method::BasicQosOk(BasicQosOk {}));
        self.kick_consumers(channel);
        Ok(())
    }

    pub(super) fn basic_consume(&mut self, channel: u16, m: BasicConsume) -> AmqpResult<()> {
        if m.queue.as_bytes() == super::direct_reply::PSEUDO_QUEUE.as_bytes() {
            return self.consume_replies(channel, m);
        }
        let queue_name = self.queue_name(channel, &m.queue)?;
        // RabbitMQ's order: a reused tag, read on the queue, then the queue itself.
        if self
            .channel(channel)?
            .consumers
            .contains_key(&m.consumer_tag)
        {
            return Err(reused_tag(&m.consumer_tag));
        }
        self.checker(channel)?
            .resource(Permission::Read, Kind::Queue, &queue_name)?;
        let queue = self.vhost.queue_for(self.id, &queue_name)?;
        let tag = if m.consumer_tag.is_empty() {
            consumer_tag()
        } else {
            m.consumer_tag.detached()
        };
        let priority =
            crate::arguments::consumer_priority(&m.arguments, &queue_name, &self.vhost.name)?;
        let conn_id = self.id;
        let tx = self.events_tx.clone();
        let window = self.window.clone();
        let ch = self.channel(channel)?;
        if ch.consumers.contains_key(&tag) {
            return Err(reused_tag(&tag));
        }
        let consumer = Consumer {
            tag: tag.clone(),
            connection: conn_id,
            channel,
            no_ack: m.no_ack,
            exclusive: m.exclusive,
            tx,
            credit: Credit::new(ch.consumer_prefetch),
            channel_credit: ch.channel_credit.clone(),
            priority,
            window,
        };
        ch.consumers.insert(tag.clone(), queue.clone());
        if let Err(e) = queue.add_consumer(consumer) {
            if let Ok(ch) = self.channel(channel) {
                ch.consumers.remove(&tag);
            }
            return Err(e);
        }
        // Deliveries reach this task through its event channel, so consume-ok written now
        // still precedes the first basic.deliver on the wire.
        if !m.nowait {
            self.send_method(
                channel,
                &Method::BasicConsumeOk(BasicConsumeOk { consumer_tag: tag }),
            );
        }
        Ok(())
    }

    pub(super) fn basic_cancel(&mut self, channel: u16, m: BasicCancel) -> AmqpResult<()> {
        self.cancel_replies(channel, &m.consumer_tag);
        let queue = self.channel(channel)?.consumers.remove(&m.consumer_tag);
        if let Some(q) = queue {
            let removal = q.cancel(self.id, channel, &m.consumer_tag);
            if removal.auto_delete_now {
                self.vhost.auto_delete_queue(&q);
            }
        }
        if !m.nowait {
            self.send_method(
                channel,
                &Method::BasicCancelOk(BasicCancelOk {
                    consumer_tag: m.consumer_tag,
                }),
            );
        }
        Ok(())
    }

    pub(super) fn basic_get(&mut self, channel: u16, m: BasicGet) -> AmqpResult<()> {
        let queue_name = self.queue_name(channel, &m.queue)?;
        self.checker(channel)?
            .resource(Permission::Read, Kind::Queue, &queue_name)?;
        let queue = self.vhost.queue_for(self.id, &queue_name)?;
        match queue.get(m.no_ack) {
            None => {
                self.tally.get_empty();
                self.channel(channel)?.counters.get_empty += 1;
                queue.counters.get_empty.bump(1);
                self.send_method(
                    channel,
                    &Method::BasicGetEmpty(BasicGetEmpty {
                        cluster_id: ShortStr::EMPTY,
                    }),
                )
            }
            Some((seq, message, redelivered, remaining)) => {
                self.tally.delivered(true, m.no_ack, redelivered);
                queue.counters.delivered(true, m.no_ack, redelivered);
                let delivered_at = self.delivery_time();
                let ch = self.channel(channel)?;
                ch.counters.delivered(true, m.no_ack, redelivered);
                let tag = ch.next_tag;
                ch.next_tag += 1;
                if !m.no_ack {
                    ch.unacked.push_back(Unacked {
                        tag,
                        queue,
                        seq,
                        credits: None,
                        delivered_at,
                    });
                }
                let get_ok = DeliveryMethod::GetOk {
                    delivery_tag: tag,
                    redelivered,
                    message_count: remaining,
                };
                write_delivery(&mut self.out, self.frame_max, channel, get_ok, &message);
            }
        }
        Ok(())
    }

    /// Offers messages again to this channel's consumers after channel-wide credit changed.
    pub(super) fn kick_consumers(&mut self, channel: u16) {
        if let Some(ch) = self.channels.get(&channel) {
            let mut seen: Vec<&Arc<Queue>> = Vec::new();
            for q in ch.consumers.values() {
                if !seen.iter().any(|s| Arc::ptr_eq(s, q)) {
                    seen.push(q);
                    q.kick();
                }
            }
        }
    }

    /// Writes a delivery from a queue, or hands it back if its channel is gone.
    pub(super) fn deliver(&mut self, d: Delivery) {
        // Held against the window until the frames have left for the socket (or, if the
        // delivery is handed back, until the next flush).
        self.out_window = self.out_window.saturating_add(window_cost(&d.message));
        let delivered_at = if d.no_ack { 0 } else { self.delivery_time() };
        let Some(ch) = self.channels.get_mut(&d.channel).filter(|c| !c.closing) else {
            return_delivery(d);
            return;
        };
        if !ch.consumers.contains_key(&d.consumer_tag) && !d.no_ack {
            // Cancelled while in flight: the client no longer expects it.
            return_delivery(d);
            return;
        }
        ch.counters.delivered(false, d.no_ack, d.redelivered);
        self.tally.delivered(false, d.no_ack, d.redelivered);
        d.queue.counters.delivered(false, d.no_ack, d.redelivered);
        let tag = ch.next_tag;
        ch.next_tag += 1;
        let deliver = DeliveryMethod::Deliver {
            consumer_tag: d.consumer_tag.as_bytes(),
            delivery_tag: tag,
            redelivered: d.redelivered,
        };
        write_delivery(
            &mut self.out,
            self.frame_max,
            d.channel,
            deliver,
            &d.message,
        );
        if !d.no_ack {
            ch.unacked.push_back(Unacked {
                tag,
                queue: d.queue,
                seq: d.seq,
                credits: d.credits,
                delivered_at,
            });
        }
    }
}

/// Appends a queued message as basic.deliver or basic.get-ok (method, header, body frames).
pub(super) fn write_delivery(
    out: &mut BytesMut,
    frame_max: u32,
    channel: u16,
    method: DeliveryMethod<'_>,
    message: &Message,
) {
    frame::encode_delivery_raw(
        channel,
        method,
        message.exchange(),
        message.routing_key(),
        message.properties(),
        message.body(),
        frame_max,
        out,
    );
}

/// After the connection's consumers are gone: the deliveries queues handed over that the loop
/// never wrote go back (their queues count them unacked). No queue can add one afterwards.
pub(super) fn return_pending(events: &mut mpsc::UnboundedReceiver<ConnEvent>) {
    events.close();
    while let Ok(ev) = events.try_recv() {
        if let ConnEvent::Deliver(d) = ev {
            return_delivery(d);
        }
    }
}

/// A delivery that could not be written goes back to its queue.
fn return_delivery(d: Delivery) {
    if d.no_ack {
        return;
    }
    if let Some((c, cc)) = &d.credits {
        c.give_back(1);
        cc.give_back(1);
    }
    d.queue.requeue(&[d.seq]);
}
