//! Channel methods in: the checks every one passes (channel_max, an open channel, no content
//! under way), channel open / close / flow, and the match that hands each method to the file
//! that owns it.

use super::channel::{Assembly, Channel, Settle, Unacked};
use super::settle::settle_by_queue;
use super::Connection;
use crate::error::{AmqpError, AmqpResult};
use crate::queue::Queue;
use std::sync::Arc;
use warren_codec::generated::*;
use warren_codec::{Method, ShortStr};

/// Names as text. RabbitMQ checks short strings of content-less methods for UTF-8 and closes
/// the connection with 501 when they are not.
pub(super) fn ok_name(s: &ShortStr) -> AmqpResult<&str> {
    s.as_str()
        .ok_or_else(|| AmqpError::frame_error("short string argument is not valid UTF-8"))
}

impl Connection {
    pub(super) fn channel(&mut self, id: u16) -> AmqpResult<&mut Channel> {
        self.channels.get_mut(&id).map(|c| &mut **c).ok_or_else(|| {
            AmqpError::channel_error(format!("expected 'channel.open' on channel {id}"))
        })
    }

    pub(super) fn handle_channel_method(&mut self, channel: u16, method: Method) -> AmqpResult<()> {
        if channel > self.channel_max {
            return Err(AmqpError::channel_error(format!(
                "channel {channel} exceeds the negotiated channel_max ({})",
                self.channel_max
            ))
            .on(&method));
        }
        // A channel we closed drops everything until the client's close-ok (or close).
        if let Some(ch) = self.channels.get(&channel) {
            if ch.closing {
                match method {
                    Method::ChannelCloseOk(_) => {
                        self.channels.remove(&channel);
                        self.channels_changed();
                    }
                    Method::ChannelClose(_) => {
                        self.send_method(channel, &Method::ChannelCloseOk(ChannelCloseOk {}));
                    }
                    _ => {}
                }
                return Ok(());
            }
            if !matches!(ch.assembly, Assembly::Idle) {
                return Err(AmqpError::unexpected_frame(format!(
                    "expected content header for class 60, got non content header frame instead \
                     ({})",
                    method.name()
                ))
                .on(&method));
            }
        }
        match method {
            Method::ChannelOpen(_) => {
                if self.channels.contains_key(&channel) {
                    return Err(
                        AmqpError::channel_error("second 'channel.open' seen").with_ids(20, 10)
                    );
                }
                if let Some(refused) = self.channel_limit_reached() {
                    return Err(refused);
                }
                self.channels
                    .insert(channel, Box::new(Channel::new(channel)));
                self.channels_changed();
                self.broker.stats().lifecycle.channels_opened.bump(1);
                self.send_method(
                    channel,
                    &Method::ChannelOpenOk(ChannelOpenOk {
                        channel_id: Default::default(),
                    }),
                );
                Ok(())
            }
            other => {
                if !self.channels.contains_key(&channel) {
                    return Err(AmqpError::channel_error(format!(
                        "expected 'channel.open' on channel {channel}"
                    ))
                    .on(&other));
                }
                let failed_on = (other.class_id(), other.method_id());
                self.dispatch_method(channel, other)
                    .map_err(|e| e.with_default_ids(failed_on))
            }
        }
    }

    fn dispatch_method(&mut self, channel: u16, method: Method) -> AmqpResult<()> {
        match method {
            Method::ChannelClose(_) => {
                if let Some(mut ch) = self.channels.remove(&channel) {
                    self.release_channel(&mut ch);
                }
                self.channels_changed();
                self.send_method(channel, &Method::ChannelCloseOk(ChannelCloseOk {}));
                Ok(())
            }
            Method::ChannelCloseOk(_) => Ok(()),
            Method::ChannelFlow(f) => {
                if !f.active {
                    return Err(AmqpError::not_implemented("active=false"));
                }
                self.send_method(
                    channel,
                    &Method::ChannelFlowOk(ChannelFlowOk { active: true }),
                );
                Ok(())
            }
            Method::AccessRequest(_) => {
                self.send_method(
                    channel,
                    &Method::AccessRequestOk(AccessRequestOk { ticket: 1 }),
                );
                Ok(())
            }
            Method::ExchangeDeclare(m) => self.exchange_declare(channel, m),
            Method::ExchangeDelete(m) => self.exchange_delete(channel, m),
            Method::ExchangeBind(m) => self.exchange_bind(channel, m),
            Method::ExchangeUnbind(m) => self.exchange_unbind(channel, m),
            Method::QueueDeclare(m) => self.queue_declare(channel, m),
            Method::QueueBind(m) => self.queue_bind(channel, m),
            Method::QueueUnbind(m) => self.queue_unbind(channel, m),
            Method::QueuePurge(m) => self.queue_purge(channel, m),
            Method::QueueDelete(m) => self.queue_delete(channel, m),
            Method::BasicQos(m) => self.basic_qos(channel, m),
            Method::BasicConsume(m) => self.basic_consume(channel, m),
            Method::BasicCancel(m) => self.basic_cancel(channel, m),
            Method::BasicPublish(m) => {
                if m.immediate {
                    return Err(AmqpError::not_implemented("immediate=true").with_ids(60, 40));
                }
                self.channel(channel)?.assembly = Assembly::Header(m);
                Ok(())
            }
            Method::BasicGet(m) => self.basic_get(channel, m),
            Method::BasicAck(m) => self.settle(channel, m.delivery_tag, m.multiple, Settle::Ack),
            Method::BasicReject(m) => {
                let how = if m.requeue {
                    Settle::Requeue
                } else {
                    Settle::Discard
                };
                self.settle(channel, m.delivery_tag, false, how)
            }
            Method::BasicNack(m) => {
                let how = if m.requeue {
                    Settle::Requeue
                } else {
                    Settle::Discard
                };
                self.settle(channel, m.delivery_tag, m.multiple, how)
            }
            Method::BasicRecover(m) => {
                self.recover(channel, m.requeue)?;
                self.send_method(channel, &Method::BasicRecoverOk(BasicRecoverOk {}));
                Ok(())
            }
            Method::BasicRecoverAsync(m) => self.recover(channel, m.requeue),
            Method::ConfirmSelect(m) => self.confirm_select(channel, m),
            Method::TxSelect(_) => self.tx_select(channel),
            Method::TxCommit(_) => self.tx_commit(channel),
            Method::TxRollback(_) => self.tx_rollback(channel),
            // Server-to-client methods (deliver, get-ok, declare-ok, ...) and connection-class
            // methods off channel 0: RabbitMQ's `rabbit_channel` fallback, 503 with this text.
            other => Err(AmqpError::command_invalid("unimplemented method").on(&other)),
        }
    }

    /// Gives back a channel's consumers and unacked deliveries (channel or connection close).
    pub(super) fn release_channel(&mut self, ch: &mut Channel) {
        if std::mem::take(&mut ch.published) {
            self.broker.stats().publisher_closed();
        }
        let mut queues: Vec<Arc<Queue>> = Vec::new();
        for (_, q) in ch.consumers.drain() {
            if !queues.iter().any(|x| Arc::ptr_eq(x, &q)) {
                queues.push(q);
            }
        }
        for q in &queues {
            let removal = q.remove_consumers(self.id, Some(ch.id));
            if removal.auto_delete_now {
                self.vhost.auto_delete_queue(q);
            }
        }
        let unacked: Vec<Unacked> = ch.unacked.drain(..).collect();
        settle_by_queue(unacked, Settle::Requeue);
        ch.assembly = Assembly::Idle;
    }
}
