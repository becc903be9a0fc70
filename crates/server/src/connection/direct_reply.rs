//! Direct reply-to, RabbitMQ's RPC shortcut: a client consumes (no-ack) from the pseudo-queue
//! `amq.rabbitmq.reply-to` and publishes requests with `reply_to` set to that name; the broker
//! rewrites it to `amq.rabbitmq.reply-to.<address>`, and a reply published to the default
//! exchange with that routing key goes straight to the requesting channel's consumer. No
//! queue is declared and nothing is stored: a reply whose requester is gone is dropped.
//!
//! The address names the connection and channel and carries a random key, so a reply cannot
//! be aimed at a channel that did not ask (and a stale address does not reach a newer
//! consumer on the same channel).

use super::channel::ReplyConsumer;
use super::consume::write_delivery;
use super::Connection;
use crate::error::{AmqpError, AmqpResult};
use crate::message::Message;
use crate::queue::delivery::ConnEvent;
use warren_codec::frame::DeliveryMethod;
use warren_codec::generated::{BasicConsume, BasicConsumeOk};
use warren_codec::{ContentHeader, Method, ShortStr};

/// The pseudo-queue a client consumes replies from.
pub(super) const PSEUDO_QUEUE: &str = "amq.rabbitmq.reply-to";
const ADDRESS_PREFIX: &str = "amq.rabbitmq.reply-to.";

/// An unguessable key: 64 bits from the OS's CSPRNG.
fn random_key() -> u64 {
    getrandom::u64().expect("the OS random number generator failed")
}

/// (connection, channel, key) from a routing key `amq.rabbitmq.reply-to.<c>.<ch>.<key>`.
fn parse_address(routing_key: &[u8]) -> Option<(u64, u16, u64)> {
    let rest = routing_key.strip_prefix(ADDRESS_PREFIX.as_bytes())?;
    let text = std::str::from_utf8(rest).ok()?;
    let mut parts = text.split('.');
    let connection = parts.next()?.parse().ok()?;
    let channel = parts.next()?.parse().ok()?;
    let key = u64::from_str_radix(parts.next()?, 16).ok()?;
    parts.next().is_none().then_some((connection, channel, key))
}

impl Connection {
    /// basic.consume on `amq.rabbitmq.reply-to`: only in no-ack mode, one per channel.
    pub(super) fn consume_replies(&mut self, channel: u16, m: BasicConsume) -> AmqpResult<()> {
        if !m.no_ack {
            return Err(
                AmqpError::precondition_failed("reply consumer cannot acknowledge")
                    .with_ids(60, 20),
            );
        }
        let tag = if m.consumer_tag.is_empty() {
            super::consume::consumer_tag()
        } else {
            m.consumer_tag.detached()
        };
        let ch = self.channel(channel)?;
        if ch.reply_consumer.is_some() || ch.consumers.contains_key(&tag) {
            return Err(
                AmqpError::precondition_failed("reply consumer already set").with_ids(60, 20)
            );
        }
        ch.reply_consumer = Some(ReplyConsumer {
            tag: tag.clone(),
            key: random_key(),
        });
        if !m.nowait {
            self.send_method(
                channel,
                &Method::BasicConsumeOk(BasicConsumeOk { consumer_tag: tag }),
            );
        }
        Ok(())
    }

    /// basic.cancel: drops the channel's reply consumer if `tag` is it.
    pub(super) fn cancel_replies(&mut self, channel: u16, tag: &ShortStr) -> bool {
        match self.channels.get_mut(&channel) {
            Some(ch) if ch.reply_consumer.as_ref().is_some_and(|r| r.tag == *tag) => {
                ch.reply_consumer = None;
                true
            }
            _ => false,
        }
    }

    /// A publish whose `reply_to` is the pseudo-queue gets this channel's reply address
    /// instead; without a reply consumer on the channel that is RabbitMQ's 406.
    pub(super) fn address_replies(
        &mut self,
        channel: u16,
        header: &mut ContentHeader,
    ) -> AmqpResult<()> {
        if header.properties.reply_to.as_ref().map(ShortStr::as_bytes)
            != Some(PSEUDO_QUEUE.as_bytes())
        {
            return Ok(());
        }
        let connection = self.id;
        let Some(reply) = self.channel(channel)?.reply_consumer.as_ref() else {
            return Err(
                AmqpError::precondition_failed("fast reply consumer does not exist")
                    .with_ids(60, 40),
            );
        };
        let address = format!("{ADDRESS_PREFIX}{connection}.{channel}.{:x}", reply.key);
        let mut props = header.properties.clone();
        props.reply_to = ShortStr::try_from(address).ok();
        header.set_properties(props);
        Ok(())
    }

    /// Routing of a publish to the default exchange: a reply address goes to its channel, if
    /// that connection is still there. `false`: not a reply address (route it normally).
    pub(super) fn route_reply(&self, routing_key: &[u8], message: &Message) -> bool {
        if !routing_key.starts_with(ADDRESS_PREFIX.as_bytes()) {
            return false;
        }
        if let Some((connection, channel, key)) = parse_address(routing_key) {
            let event = ConnEvent::DirectReply {
                channel,
                key,
                message: message.clone(),
            };
            self.broker.send_to_connection(connection, event);
        }
        true
    }

    /// Writes a reply to the channel's reply consumer, if it is still the one addressed.
    pub(super) fn deliver_reply(&mut self, channel: u16, key: u64, message: Message) {
        let Some(ch) = self.channels.get_mut(&channel).filter(|c| !c.closing) else {
            return;
        };
        let Some(reply) = ch.reply_consumer.as_ref().filter(|r| r.key == key) else {
            return;
        };
        let deliver = DeliveryMethod::Deliver {
            consumer_tag: reply.tag.as_bytes(),
            delivery_tag: ch.next_tag,
            redelivered: false,
        };
        write_delivery(&mut self.out, self.frame_max, channel, deliver, &message);
        ch.next_tag += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_and_garbage_is_refused() {
        let key = random_key();
        let address = format!("{ADDRESS_PREFIX}17.3.{key:x}");
        assert_eq!(parse_address(address.as_bytes()), Some((17, 3, key)));
        for bad in [
            "amq.rabbitmq.reply-to.",
            "amq.rabbitmq.reply-to.x.3.ff",
            "amq.rabbitmq.reply-to.1.3",
            "amq.rabbitmq.reply-to.1.3.ff.9",
            "amq.rabbitmq.reply-to.1.70000.ff",
        ] {
            assert_eq!(parse_address(bad.as_bytes()), None, "{bad}");
        }
        assert_ne!(random_key(), random_key());
    }
}
