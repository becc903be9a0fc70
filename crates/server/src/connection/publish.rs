//! Publishing: content assembly (basic.publish, header, body frames), the checks RabbitMQ
//! makes on a publish, and routing it to its queues (or holding it, returning it, replying).

use super::authz::Kind;
use super::channel::{Assembly, BodyParts, PendingPublish};
use super::dispatch::ok_name;
use super::Connection;
use crate::access::permissions::Permission;
use crate::error::{AmqpError, AmqpResult};
use crate::message::{Message, Route};
use bytes::Bytes;
use std::sync::Arc;
use warren_codec::frame;
use warren_codec::generated::*;
use warren_codec::{ContentHeader, FieldTable, Method, ReplyCode, ShortStr};
use warren_routing::RouteOutcome;

impl Connection {
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
        let access = self.broker.access();
        if !self
            .authz
            .publishes_as_before(access, publish.exchange.as_bytes())
        {
            self.authorize_publish(channel, &publish)?;
        }
        self.address_replies(channel, &mut header)?;
        self.authz
            .check_user_id(header.properties.user_id.as_ref())?;
        check_properties(&header.properties)?;
        // Only headers can carry CC/BCC: a publish without them skips the exchange lookup.
        if let Some(headers) = header.properties.headers.as_ref() {
            crate::vhost::sender_selected::check_publish(
                &self.vhost,
                ok_name(&publish.exchange)?,
                Some(headers),
            )?;
        }
        // The decoded headers keep BCC: routing needs its keys.
        if let Some(raw) = crate::sender_selected::without_bcc(&header.properties) {
            header.raw_properties = raw;
        }
        self.count_received(channel);
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
            ch.confirms.publish();
        }
        self.route_and_enqueue(channel, &publish, message, headers.as_ref(), confirm)
    }

    /// RabbitMQ's received counters, and the channel's first publish makes it a publisher.
    fn count_received(&mut self, channel: u16) {
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        if !std::mem::replace(&mut ch.published, true) {
            self.broker.stats().publisher_opened();
        }
        ch.counters.publish += 1;
        self.tally.received(ch.confirm);
    }

    /// Write on the exchange; on a topic exchange with a topic permission, write on the
    /// routing key, which needs the exchange: RabbitMQ's missing (404) and internal (403)
    /// refusals come first then. Without topic permissions (the common case) the exchange is
    /// looked up by the routing, as before. Refusals name basic.publish, as RabbitMQ's do.
    /// A publisher repeating its exchange skips this (`Authz::publishes_as_before`).
    #[inline(never)]
    fn authorize_publish(&mut self, channel: u16, publish: &BasicPublish) -> AmqpResult<()> {
        let exchange = ok_name(&publish.exchange)?;
        self.check_publish(channel, exchange, publish.routing_key.as_bytes())
            .map_err(|e| e.with_ids(60, 40))?;
        self.authz.published(exchange);
        Ok(())
    }

    fn check_publish(&mut self, channel: u16, exchange: &str, key: &[u8]) -> AmqpResult<()> {
        let mut check = self.checker(channel)?;
        check.resource(Permission::Write, Kind::Exchange, exchange)?;
        if !self.authz.has_topic_permissions() {
            return Ok(());
        }
        let found = self
            .vhost
            .with_exchange(exchange, |x| (x.internal, x.is_topic()));
        match found {
            None => Err(self.vhost.no_exchange(exchange)),
            Some((true, _)) => Err(internal_refused(exchange, &self.vhost.name)),
            Some((false, true)) => self
                .checker(channel)?
                .topic(Permission::Write, exchange, key),
            Some((false, false)) => Ok(()),
        }
    }

    /// `sync`: the publisher waits for this message (confirm or tx), so a persistent message
    /// in a durable queue must be on disk first.
    pub(super) fn route_and_enqueue(
        &mut self,
        channel: u16,
        publish: &BasicPublish,
        message: Message,
        headers: Option<&FieldTable>,
        sync: bool,
    ) -> AmqpResult<()> {
        let exchange = ok_name(&publish.exchange)?;
        // A reply to a direct reply-to address skips the queues altogether. Like RabbitMQ
        // 3.10, which routes such a key to no queue, a mandatory reply is then returned
        // (NO_ROUTE) whether or not it was handed to a live requester: the publisher cannot
        // tell a live address from a stale one.
        let reply = exchange.is_empty() && self.route_reply(message.routing_key(), &message);
        // A delayed-message exchange holds the message now and routes it when it is due.
        if !reply && !self.vhost.is_internal(exchange) {
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
        let outcome = if reply {
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
            _ if self.vhost.is_internal(exchange) => {
                Err(internal_refused(exchange, &self.vhost.name).with_ids(60, 40))
            }
            RouteOutcome::Unroutable => {
                self.tally.routed(&publish.exchange, 0, publish.mandatory);
                if let Some(ch) = self.channels.get_mut(&channel) {
                    match publish.mandatory {
                        true => ch.counters.return_unroutable += 1,
                        false => ch.counters.drop_unroutable += 1,
                    }
                }
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
                self.tally.routed(&publish.exchange, targets.len(), false);
                let published = crate::publish::fan_out(
                    &targets,
                    message,
                    self.broker.store().map(Arc::as_ref),
                    sync,
                    &mut self.store_written,
                );
                if let Some(reply) = published.reply {
                    self.store_reply = Some(reply);
                    self.store_submits += 1;
                }
                if published.refused {
                    self.nack_refused_publish(channel);
                }
                Ok(())
            }
        };
        targets.clear();
        self.route_buf = targets;
        result
    }
}

fn internal_refused(exchange: &str, vhost: &str) -> AmqpError {
    AmqpError::access_refused(format!(
        "cannot publish to internal exchange '{exchange}' in vhost '{vhost}'"
    ))
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
