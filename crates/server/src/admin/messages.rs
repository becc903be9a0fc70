//! Messages: purge a queue, get from it (as basic.get, then ack or requeue), and publish to
//! an exchange through the one fan-out (`crate::publish`), as a client publish is routed.

use super::{Admin, GetMode, GotMessage};
use crate::error::{AmqpError, AmqpResult};
use crate::message::{Message, Route};
use crate::publish;
use warren_codec::BasicProperties;
use warren_routing::RouteOutcome;

impl Admin {
    /// Removes every ready message of a queue (as queue.purge); returns how many.
    pub fn purge(&self, vhost: &str, queue: &str) -> AmqpResult<u32> {
        let (_, q) = self.find_queue(vhost, queue)?;
        Ok(q.purge())
    }

    /// Takes up to `count` messages from the head of a queue, as basic.get does; with
    /// [`GetMode::Requeue`] each goes back afterwards, marked redelivered.
    pub fn get(
        &self,
        vhost: &str,
        queue: &str,
        count: usize,
        mode: GetMode,
    ) -> AmqpResult<Vec<GotMessage>> {
        let (_, q) = self.find_queue(vhost, queue)?;
        let mut out = Vec::new();
        let mut taken = Vec::new();
        while out.len() < count {
            let Some((seq, message, redelivered, remaining)) = q.get(mode == GetMode::Ack) else {
                break;
            };
            taken.push(seq);
            out.push(got(&message, redelivered, remaining));
        }
        if mode == GetMode::Requeue && !taken.is_empty() {
            q.requeue(&taken);
        }
        Ok(out)
    }

    /// Publishes a message to `exchange`, routed and fanned out as a client publish is
    /// (alternate exchanges, `CC`/`BCC` headers, delayed-message exchanges); `true` if it
    /// reached some queue now. Nobody waits for a persistent copy's fsync. 404
    /// NOT_FOUND if the exchange does not exist, 403 ACCESS_REFUSED for an internal one.
    pub fn publish(
        &self,
        vhost: &str,
        exchange: &str,
        routing_key: &str,
        properties: &BasicProperties,
        body: &[u8],
    ) -> AmqpResult<bool> {
        let v = self.find_vhost(vhost)?;
        if v.is_internal(exchange) {
            return Err(AmqpError::access_refused(format!(
                "cannot publish to internal exchange '{exchange}' in vhost '{vhost}'"
            )));
        }
        let persistent = properties.delivery_mode == Some(2);
        let raw = properties.to_raw();
        let message = Message::new(
            Route::new(exchange.as_bytes(), routing_key.as_bytes()),
            &raw,
            body,
            persistent,
        );
        // A delayed-message exchange holds it now and routes it when due: not routed yet.
        if v.hold_if_delayed(exchange, properties.headers.as_ref(), &message, false)
            .is_some()
        {
            return Ok(false);
        }
        let mut targets = Vec::new();
        let outcome = v.route(
            exchange,
            routing_key.as_bytes(),
            properties.headers.as_ref(),
            &mut targets,
        );
        match outcome {
            RouteOutcome::NoSuchExchange => Err(AmqpError::not_found(format!(
                "no exchange '{exchange}' in vhost '{vhost}'"
            ))),
            RouteOutcome::Unroutable => Ok(false),
            RouteOutcome::Routed(_) => {
                publish::fan_out_unconfirmed(&targets, message, v.store().map(|s| &**s), &v.tasks);
                Ok(true)
            }
        }
    }
}

fn got(message: &Message, redelivered: bool, remaining: u32) -> GotMessage {
    GotMessage {
        exchange: String::from_utf8_lossy(message.exchange()).into_owned(),
        routing_key: String::from_utf8_lossy(message.routing_key()).into_owned(),
        redelivered,
        // Stored properties were decoded once on publish; a failure here means none.
        properties: BasicProperties::from_raw(message.properties()).unwrap_or_default(),
        body: message.body().to_vec(),
        message_count: remaining,
    }
}
