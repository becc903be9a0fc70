//! Channel-level methods: channel, exchange, queue, basic, confirm and tx classes, plus the
//! content assembly of publishes, delivery of messages, settlements and confirms.

use super::channel::{Assembly, BodyParts, Channel, PendingPublish, Settle, Transaction, Unacked};
use super::Connection;
use crate::error::{AmqpError, AmqpResult};
use crate::events::{window_cost, ConnEvent, Credit, Delivery};
use crate::message::{Message, Route};
use crate::queue::{Consumer, Queue};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use warren_codec::frame::{self, DeliveryMethod};
use warren_codec::generated::*;
use warren_codec::{ContentHeader, FieldTable, Method, ReplyCode, ShortStr};
use warren_routing::RouteOutcome;

/// Names as text. RabbitMQ checks short strings of content-less methods for UTF-8 and closes
/// the connection with 501 when they are not.
fn ok_name(s: &ShortStr) -> AmqpResult<&str> {
    s.as_str()
        .ok_or_else(|| AmqpError::frame_error("short string argument is not valid UTF-8"))
}

pub(super) fn consumer_tag() -> ShortStr {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    ShortStr::try_from(format!("amq.ctag-warren-{n}")).unwrap_or_default()
}

impl Connection {
    pub(super) fn channel(&mut self, id: u16) -> AmqpResult<&mut Channel> {
        self.channels.get_mut(&id).map(|c| &mut **c).ok_or_else(|| {
            AmqpError::channel_error(format!("expected 'channel.open' on channel {id}"))
        })
    }

    /// Resolves a queue name from a method, where "" means the channel's last declared queue.
    fn queue_name(&mut self, channel: u16, name: &ShortStr) -> AmqpResult<String> {
        if name.is_empty() {
            return self
                .channel(channel)?
                .last_queue
                .clone()
                .ok_or_else(|| AmqpError::not_found("no previously declared queue"));
        }
        Ok(ok_name(name)?.to_string())
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
                self.channels
                    .insert(channel, Box::new(Channel::new(channel)));
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
            Method::ExchangeDeclare(m) => {
                let name = ok_name(&m.exchange)?;
                let kind = ok_name(&m.kind)?;
                self.vhost.declare_exchange(
                    name,
                    kind,
                    m.passive,
                    m.durable,
                    m.auto_delete,
                    m.internal,
                    &m.arguments,
                )?;
                if !m.nowait {
                    self.send_method(channel, &Method::ExchangeDeclareOk(ExchangeDeclareOk {}));
                }
                Ok(())
            }
            Method::ExchangeDelete(m) => {
                self.vhost
                    .delete_exchange(ok_name(&m.exchange)?, m.if_unused)?;
                if !m.nowait {
                    self.send_method(channel, &Method::ExchangeDeleteOk(ExchangeDeleteOk {}));
                }
                Ok(())
            }
            Method::ExchangeBind(m) => {
                self.vhost.bind_exchange(
                    ok_name(&m.destination)?,
                    ok_name(&m.source)?,
                    ok_name(&m.routing_key)?,
                    &m.arguments,
                )?;
                if !m.nowait {
                    self.send_method(channel, &Method::ExchangeBindOk(ExchangeBindOk {}));
                }
                Ok(())
            }
            Method::ExchangeUnbind(m) => {
                self.vhost.unbind_exchange(
                    ok_name(&m.destination)?,
                    ok_name(&m.source)?,
                    ok_name(&m.routing_key)?,
                    &m.arguments,
                )?;
                if !m.nowait {
                    self.send_method(channel, &Method::ExchangeUnbindOk(ExchangeUnbindOk {}));
                }
                Ok(())
            }
            Method::QueueDeclare(m) => {
                let declared = self.vhost.declare_queue(
                    self.id,
                    ok_name(&m.queue)?,
                    m.passive,
                    m.durable,
                    m.exclusive,
                    m.auto_delete,
                    &m.arguments,
                )?;
                let name = declared.queue.name.to_string();
                self.channel(channel)?.last_queue = Some(name.clone());
                if !m.nowait {
                    self.send_method(
                        channel,
                        &Method::QueueDeclareOk(QueueDeclareOk {
                            queue: ShortStr::try_from(name).unwrap_or_default(),
                            message_count: declared.message_count,
                            consumer_count: declared.consumer_count,
                        }),
                    );
                }
                Ok(())
            }
            Method::QueueBind(m) => {
                let queue = self.queue_name(channel, &m.queue)?;
                self.vhost.bind_queue(
                    self.id,
                    &queue,
                    ok_name(&m.exchange)?,
                    ok_name(&m.routing_key)?,
                    &m.arguments,
                )?;
                if !m.nowait {
                    self.send_method(channel, &Method::QueueBindOk(QueueBindOk {}));
                }
                Ok(())
            }
            Method::QueueUnbind(m) => {
                let queue = self.queue_name(channel, &m.queue)?;
                self.vhost.unbind_queue(
                    self.id,
                    &queue,
                    ok_name(&m.exchange)?,
                    ok_name(&m.routing_key)?,
                    &m.arguments,
                )?;
                self.send_method(channel, &Method::QueueUnbindOk(QueueUnbindOk {}));
                Ok(())
            }
            Method::QueuePurge(m) => {
                let queue = self.queue_name(channel, &m.queue)?;
                let count = self.vhost.queue_for(self.id, &queue)?.purge();
                if !m.nowait {
                    self.send_method(
                        channel,
                        &Method::QueuePurgeOk(QueuePurgeOk {
                            message_count: count,
                        }),
                    );
                }
                Ok(())
            }
            Method::QueueDelete(m) => {
                let queue = self.queue_name(channel, &m.queue)?;
                let count = self
                    .vhost
                    .delete_queue(self.id, &queue, m.if_unused, m.if_empty)?;
                if !m.nowait {
                    self.send_method(
                        channel,
                        &Method::QueueDeleteOk(QueueDeleteOk {
                            message_count: count,
                        }),
                    );
                }
                Ok(())
            }
            Method::BasicQos(m) => {
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
            Method::BasicConsume(m) => self.basic_consume(channel, m),
            Method::BasicCancel(m) => {
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
            Method::ConfirmSelect(m) => {
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
            Method::TxSelect(_) => {
                let ch = self.channel(channel)?;
                if ch.confirm {
                    return Err(AmqpError::precondition_failed(
                        "cannot switch from confirm to tx mode",
                    ));
                }
                if ch.tx.is_none() {
                    ch.tx = Some(Transaction::default());
                }
                self.send_method(channel, &Method::TxSelectOk(TxSelectOk {}));
                Ok(())
            }
            Method::TxCommit(_) => {
                let ch = self.channel(channel)?;
                let Some(tx) = ch.tx.replace(Transaction::default()) else {
                    return Err(AmqpError::precondition_failed(
                        "channel is not transactional",
                    ));
                };
                let submits = self.store_submits;
                for p in tx.publishes {
                    self.route_and_enqueue(
                        channel,
                        &p.publish,
                        p.message,
                        p.headers.as_ref(),
                        true,
                    )?;
                }
                for (tag, multiple, how) in tx.settlements {
                    self.apply_settlement(channel, tag, multiple, how)?;
                }
                if self.store_submits == submits {
                    self.send_method(channel, &Method::TxCommitOk(TxCommitOk {}));
                } else {
                    // commit-ok once the persistent messages are on disk (`persisted`).
                    self.commits_waiting.push(channel);
                }
                Ok(())
            }
            Method::TxRollback(_) => {
                let ch = self.channel(channel)?;
                if ch.tx.is_none() {
                    return Err(AmqpError::precondition_failed(
                        "channel is not transactional",
                    ));
                }
                ch.tx = Some(Transaction::default());
                self.send_method(channel, &Method::TxRollbackOk(TxRollbackOk {}));
                Ok(())
            }
            // Server-to-client methods (deliver, get-ok, declare-ok, ...) and connection-class
            // methods off channel 0: RabbitMQ's `rabbit_channel` fallback, 503 with this text.
            other => Err(AmqpError::command_invalid("unimplemented method").on(&other)),
        }
    }

    fn basic_consume(&mut self, channel: u16, m: BasicConsume) -> AmqpResult<()> {
        if m.queue.as_bytes() == super::direct_reply::PSEUDO_QUEUE.as_bytes() {
            return self.consume_replies(channel, m);
        }
        let queue_name = self.queue_name(channel, &m.queue)?;
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
            return Err(AmqpError::not_allowed(format!(
                "attempt to reuse consumer tag '{tag}'"
            )));
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

    fn basic_get(&mut self, channel: u16, m: BasicGet) -> AmqpResult<()> {
        let queue_name = self.queue_name(channel, &m.queue)?;
        let queue = self.vhost.queue_for(self.id, &queue_name)?;
        match queue.get(m.no_ack) {
            None => self.send_method(
                channel,
                &Method::BasicGetEmpty(BasicGetEmpty {
                    cluster_id: ShortStr::EMPTY,
                }),
            ),
            Some((seq, message, redelivered, remaining)) => {
                let ch = self.channel(channel)?;
                let tag = ch.next_tag;
                ch.next_tag += 1;
                if !m.no_ack {
                    ch.unacked.push_back(Unacked {
                        tag,
                        queue,
                        seq,
                        credits: None,
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

    /// ack / nack / reject: applied now, or collected when the channel is transactional.
    fn settle(&mut self, channel: u16, tag: u64, multiple: bool, how: Settle) -> AmqpResult<()> {
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

    fn apply_settlement(
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
        settle_by_queue(settled, how);
        if global {
            self.kick_consumers(channel);
        }
        Ok(())
    }

    /// Offers messages again to this channel's consumers after channel-wide credit changed.
    fn kick_consumers(&mut self, channel: u16) {
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

    fn recover(&mut self, channel: u16, requeue: bool) -> AmqpResult<()> {
        if !requeue {
            return Err(AmqpError::not_implemented("requeue=false"));
        }
        let ch = self.channel(channel)?;
        let all: Vec<Unacked> = ch.unacked.drain(..).collect();
        settle_by_queue(all, Settle::Requeue);
        Ok(())
    }

    pub(super) fn handle_header(
        &mut self,
        channel: u16,
        header: Box<ContentHeader>,
    ) -> AmqpResult<()> {
        let max = self.broker.config.max_message_size;
        let ch = self.channel(channel)?;
        if ch.closing {
            return Ok(());
        }
        let publish = match std::mem::take(&mut ch.assembly) {
            Assembly::Header(p) => p,
            _ => {
                return Err(AmqpError::unexpected_frame(
                    "expected method frame, got non method frame instead",
                ))
            }
        };
        if header.body_size > max {
            return Err(AmqpError::precondition_failed(format!(
                "message size {} is larger than configured max size {max}",
                header.body_size
            ))
            .with_ids(60, 40));
        }
        if header.body_size == 0 {
            return self.publish(channel, publish, header, BodyParts::Empty);
        }
        let remaining = header.body_size;
        self.channel(channel)?.assembly = Assembly::Body {
            publish,
            header,
            body: BodyParts::Empty,
            remaining,
        };
        Ok(())
    }

    pub(super) fn handle_body(&mut self, channel: u16, payload: Bytes) -> AmqpResult<()> {
        let ch = self.channel(channel)?;
        if ch.closing {
            return Ok(());
        }
        let Assembly::Body {
            remaining, body, ..
        } = &mut ch.assembly
        else {
            let expected = if matches!(ch.assembly, Assembly::Header(_)) {
                "expected content header for class 60, got non content header frame instead"
            } else {
                "expected method frame, got non method frame instead"
            };
            return Err(AmqpError::unexpected_frame(expected));
        };
        let len = payload.len() as u64;
        if len > *remaining {
            return Err(AmqpError::frame_error(format!(
                "content body frame of {len} bytes exceeds the {remaining} bytes left of the \
                 declared body size"
            )));
        }
        *remaining -= len;
        body.push(payload);
        if *remaining > 0 {
            return Ok(());
        }
        let Assembly::Body {
            publish,
            header,
            body,
            ..
        } = std::mem::take(&mut ch.assembly)
        else {
            return Ok(());
        };
        self.publish(channel, publish, header, body)
    }

    /// A complete publish: check, route, enqueue, return if unroutable, confirm.
    fn publish(
        &mut self,
        channel: u16,
        publish: BasicPublish,
        header: Box<ContentHeader>,
        body: BodyParts,
    ) -> AmqpResult<()> {
        let mut header = header;
        self.address_replies(channel, &mut header)?;
        check_properties(&header.properties)?;
        crate::sender_selected::check_publish(
            &self.vhost,
            ok_name(&publish.exchange)?,
            header.properties.headers.as_ref(),
        )?;
        // The decoded headers keep BCC: routing needs its keys.
        if let Some(raw) = crate::sender_selected::without_bcc(&header.properties) {
            header.raw_properties = raw;
        }
        let ch = self.channel(channel)?;
        let (exchange, routing_key) = (publish.exchange.as_bytes(), publish.routing_key.as_bytes());
        let route = match &ch.last_route {
            Some(route) if route.is(exchange, routing_key) => route.clone(),
            _ => ch
                .last_route
                .insert(Route::new(exchange, routing_key))
                .clone(),
        };
        let route =
            crate::sender_selected::with_bcc_keys(route, header.properties.headers.as_ref());
        let message = Message::from_pieces(
            route,
            &header.raw_properties,
            body.pieces(),
            header.properties.delivery_mode == Some(2),
        );
        let headers = header.properties.headers;
        if let Some(tx) = ch.tx.as_mut() {
            tx.publishes.push(PendingPublish {
                publish,
                message,
                headers,
            });
            return Ok(());
        }
        let confirm = ch.confirm;
        if confirm {
            // Confirmed at the end of this read batch by `finish_confirms`.
            ch.next_publish_seq += 1;
        }
        self.route_and_enqueue(channel, &publish, message, headers.as_ref(), confirm)
    }

    /// `sync`: the publisher waits for this message (confirm or tx), so a persistent message
    /// in a durable queue must be on disk first.
    fn route_and_enqueue(
        &mut self,
        channel: u16,
        publish: &BasicPublish,
        message: Message,
        headers: Option<&FieldTable>,
        sync: bool,
    ) -> AmqpResult<()> {
        let exchange = ok_name(&publish.exchange)?;
        // A reply to a direct reply-to address skips the queues altogether.
        let reply = if exchange.is_empty() {
            self.route_reply(message.routing_key(), &message)
        } else {
            None
        };
        if reply == Some(true) {
            return Ok(());
        }
        // A delayed-message exchange holds the message now and routes it when it is due.
        if reply.is_none() && !self.vhost.is_internal(exchange) {
            if let Some(stored) = self
                .vhost
                .hold_if_delayed(exchange, headers, &message, sync)
            {
                if let Some(stored) = stored {
                    self.store_reply = Some(stored);
                    self.store_submits += 1;
                }
                return Ok(());
            }
        }
        let mut targets = std::mem::take(&mut self.route_buf);
        let outcome = if reply == Some(false) {
            RouteOutcome::Unroutable
        } else {
            self.vhost
                .route(exchange, message.routing_key(), headers, &mut targets)
        };
        let result = match outcome {
            RouteOutcome::NoSuchExchange => Err(AmqpError::not_found(format!(
                "no exchange '{exchange}' in vhost '{}'",
                self.vhost.name
            ))
            .with_ids(60, 40)),
            _ if self.vhost.is_internal(exchange) => Err(AmqpError::access_refused(format!(
                "cannot publish to internal exchange '{exchange}' in vhost '{}'",
                self.vhost.name
            ))
            .with_ids(60, 40)),
            RouteOutcome::Unroutable => {
                if publish.mandatory {
                    let ret = Method::BasicReturn(BasicReturn {
                        reply_code: ReplyCode::NoRoute as u16,
                        reply_text: ShortStr::from_static("NO_ROUTE"),
                        exchange: publish.exchange.clone(),
                        routing_key: publish.routing_key.clone(),
                    });
                    frame::encode_content_raw(
                        channel,
                        &ret,
                        message.properties(),
                        message.body(),
                        self.frame_max,
                        &mut self.out,
                    );
                }
                Ok(())
            }
            RouteOutcome::Routed(_) => {
                let store = self
                    .broker
                    .store()
                    .filter(|_| message.persistent())
                    .cloned();
                let mut refused = false;
                match store {
                    Some(store) if targets.iter().any(|q| q.stored().is_some()) => {
                        for q in targets.iter().filter(|q| q.stored().is_none()) {
                            refused |= !q.publish(message.clone());
                        }
                        let reply = Queue::publish_persistent(
                            &targets,
                            message,
                            &store,
                            sync,
                            &mut self.store_written,
                            &mut refused,
                        );
                        if let Some(reply) = reply {
                            self.store_reply = Some(reply);
                            self.store_submits += 1;
                        }
                    }
                    _ => {
                        for q in targets.iter() {
                            refused |= !q.publish(message.clone());
                        }
                    }
                }
                if refused {
                    self.nack_refused_publish(channel);
                }
                Ok(())
            }
        };
        targets.clear();
        self.route_buf = targets;
        result
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
            .filter(|ch| ch.confirm && !ch.closing && ch.next_publish_seq - 1 > ch.confirmed_upto)
            .map(|ch| (ch.id, ch.next_publish_seq - 1))
            .collect();
        self.syncs_in_flight += 1;
        let events = self.events_tx.clone();
        let connection = self.id;
        tokio::spawn(async move {
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
            let _ = events.send(ConnEvent::Persisted {
                ok,
                confirms,
                commits,
            });
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
    fn nack_refused_publish(&mut self, channel: u16) {
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        if !ch.confirm {
            return;
        }
        let seq = ch.next_publish_seq - 1;
        ch.nacked.push(seq);
        self.send_method(
            channel,
            &Method::BasicNack(BasicNack {
                delivery_tag: seq,
                multiple: false,
                requeue: false,
            }),
        );
    }

    /// Sends basic.ack (or basic.nack when the store failed) for publishes up to `upto`.
    fn confirm_upto(&mut self, channel: u16, upto: u64, ok: bool) {
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        if !ch.confirm || ch.closing || upto <= ch.confirmed_upto || upto >= ch.next_publish_seq {
            return;
        }
        // Publishes already nacked one by one are settled: nothing to send if they are all
        // that is left in the range.
        let nacked_in_range = ch
            .nacked
            .iter()
            .filter(|&&s| s > ch.confirmed_upto && s <= upto)
            .count() as u64;
        ch.nacked.retain(|&s| s > upto);
        if nacked_in_range == upto - ch.confirmed_upto {
            ch.confirmed_upto = upto;
            return;
        }
        let multiple = upto - ch.confirmed_upto > 1;
        ch.confirmed_upto = upto;
        let method = if ok {
            Method::BasicAck(BasicAck {
                delivery_tag: upto,
                multiple,
            })
        } else {
            Method::BasicNack(BasicNack {
                delivery_tag: upto,
                multiple,
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
            .filter(|ch| ch.confirm && !ch.closing && ch.next_publish_seq - 1 > ch.confirmed_upto)
            .map(|ch| (ch.id, ch.next_publish_seq - 1))
            .collect();
        for (channel, upto) in due {
            self.confirm_upto(channel, upto, true);
        }
    }

    /// Writes a delivery from a queue, or hands it back if its channel is gone.
    pub(super) fn deliver(&mut self, d: Delivery) {
        // Held against the window until the frames have left for the socket (or, if the
        // delivery is handed back, until the next flush).
        self.out_window = self.out_window.saturating_add(window_cost(&d.message));
        let Some(ch) = self.channels.get_mut(&d.channel).filter(|c| !c.closing) else {
            return_delivery(d);
            return;
        };
        if !ch.consumers.contains_key(&d.consumer_tag) && !d.no_ack {
            // Cancelled while in flight: the client no longer expects it.
            return_delivery(d);
            return;
        }
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
            });
        }
    }

    /// Gives back a channel's consumers and unacked deliveries (channel or connection close).
    pub(super) fn release_channel(&mut self, ch: &mut Channel) {
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

/// Settles deliveries grouped per queue, returning their credit first.
fn settle_by_queue(settled: Vec<Unacked>, how: Settle) {
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
            Settle::Ack => q.ack(&seqs),
            Settle::Requeue => q.requeue(&seqs),
            Settle::Discard => q.discard(&seqs),
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

/// The properties RabbitMQ refuses at publish, in its order and words (406, channel closed):
/// an unparsable expiration, then a delivery-mode other than 1 or 2 (absent is fine).
fn check_properties(props: &warren_codec::BasicProperties) -> AmqpResult<()> {
    if let Some(expiration) = &props.expiration {
        if let Err(why) = crate::dead_letter::parse_expiration(expiration.as_bytes()) {
            return Err(AmqpError::precondition_failed(format!(
                "invalid expiration '{}': {why}",
                expiration.to_string_lossy()
            ))
            .with_ids(60, 40));
        }
    }
    match props.delivery_mode {
        None | Some(1 | 2) => Ok(()),
        Some(mode) => Err(AmqpError::precondition_failed(format!(
            "invalid message: {{delivery_mode_unknown,{mode}}}"
        ))
        .with_ids(60, 40)),
    }
}
