//! The delayed-message exchange, built in (RabbitMQ needs its `rabbitmq_delayed_message_exchange`
//! plugin for this): an exchange of type `x-delayed-message` routes like its `x-delayed-type`
//! (direct, fanout, topic or headers), but a message published with an `x-delay` header (a
//! positive number of milliseconds) is held and routed only when that time has passed.
//!
//! Held messages wait in one time-ordered map per vhost; a single task per vhost sleeps until
//! the earliest is due (woken early when an earlier one arrives), then routes what is due as
//! the broker's own publish: nobody is returned to, as with the plugin.
//!
//! As the plugin does, a released message carries `x-delay` negated (a signed 32-bit integer,
//! `-500` for `500`): consumers can tell it was delayed, and another delayed exchange it
//! passes through (an exchange-to-exchange binding) routes it at once. A message published
//! with no positive `x-delay` is routed at once with its headers untouched.
//!
//! A durable delayed exchange also keeps the persistent messages it holds in the store, as a
//! hidden queue named `amq.warren.delayed.<exchange>` (clients cannot declare `amq.` names):
//! written (and synced, for a confirming publisher) when held, acked when released. At
//! recovery they are held again, due at their publish time (stored with them) plus `x-delay`.

use crate::clock::now_ms;
use crate::message::stored as formats;
use crate::message::Message;
use crate::vhost::Vhost;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use warren_codec::{BasicProperties, FieldTable, FieldValue, ShortStr};
use warren_store::{Command, QueueId, Reply, Store};

/// The store name of a durable delayed exchange's held messages.
pub fn hidden_queue_name(exchange: &str) -> String {
    format!("{HIDDEN_PREFIX}{exchange}")
}

/// The exchange whose held messages a stored queue name is for, if it is one.
pub fn exchange_of_hidden_queue(name: &str) -> Option<&str> {
    name.strip_prefix(HIDDEN_PREFIX)
}

const HIDDEN_PREFIX: &str = "amq.warren.delayed.";

/// The exchange type name clients declare.
pub const EXCHANGE_TYPE: &str = "x-delayed-message";
/// The declare argument naming how the exchange routes.
pub const DELAYED_TYPE_ARG: &str = "x-delayed-type";

/// The longest delay the plugin holds a message for (Erlang's timer limit); a longer one is
/// routed at once, as by the plugin.
const MAX_DELAY_MS: u64 = u32::MAX as u64;

/// How long a message asks to be held: its `x-delay` header, if a positive integer the
/// plugin would hold it for.
pub fn requested_delay(headers: Option<&FieldTable>) -> Option<u64> {
    headers?
        .get("x-delay")
        .and_then(FieldValue::as_i64)
        .and_then(|ms| u64::try_from(ms).ok())
        .filter(|&ms| ms > 0 && ms <= MAX_DELAY_MS)
}

/// The message as a delayed exchange releases it: `x-delay` replaced by its negation as a
/// signed 32-bit integer (wrapping as the plugin's encoding does beyond `i32`), the headers
/// sorted by key. Unchanged if
/// its properties do not decode (they were accepted at publish, so only a bug gets here).
fn released(message: Message) -> Message {
    let Ok(mut props) = BasicProperties::from_raw(message.properties()) else {
        return message;
    };
    let Some(delay) = requested_delay(props.headers.as_ref()) else {
        return message;
    };
    let negated = (delay as i64).wrapping_neg() as i32;
    let mut headers = props.headers.take().unwrap_or_default();
    headers.insert(ShortStr::from_static("x-delay"), FieldValue::I32(negated));
    // Sorted by key, as the plugin's `rabbit_misc:set_table_value` leaves it.
    props.headers = Some(crate::dead_letter::sorted_by_key(headers));
    Message::new(
        message.route().clone(),
        &props.to_raw(),
        message.body(),
        message.persistent(),
    )
}

#[derive(Debug)]
struct Held {
    exchange: String,
    message: Message,
    /// Its entry in the exchange's hidden store queue, if it was written there.
    stored: Option<(QueueId, u64)>,
}

/// A durable delayed exchange's hidden store queue.
#[derive(Debug)]
struct HeldStore {
    queue: QueueId,
    next_seq: u64,
}

#[derive(Debug, Default)]
struct Pending {
    /// (due time in ms since the epoch, arrival number) → message.
    due: BTreeMap<(u64, u64), Held>,
    arrivals: u64,
    task_started: bool,
    /// Set while recovery refills the map: nothing may be routed before the bindings are back.
    recovering: bool,
    /// Durable delayed exchanges' hidden store queues, by exchange.
    stores: HashMap<String, HeldStore>,
}

/// A vhost's held messages.
#[derive(Debug, Default)]
pub struct DelayedMessages {
    pending: Mutex<Pending>,
    wake: Notify,
}

impl DelayedMessages {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many messages are held (for tests and inspection).
    pub fn len(&self) -> usize {
        self.lock().due.len()
    }

    /// Holds `message`, published to delayed exchange `exchange`, for `delay_ms`. A persistent
    /// message held by a durable exchange is written to the store first (synced if `sync`);
    /// the reply is for a confirming publisher to wait on.
    pub fn hold(
        self: &Arc<Self>,
        vhost: &Weak<Vhost>,
        store: Option<&Store>,
        exchange: &str,
        message: Message,
        delay_ms: u64,
        sync: bool,
    ) -> Option<Reply> {
        let now = now_ms();
        let (start_task, reply) = {
            let mut p = self.lock();
            let mut reply = None;
            let mut stored = None;
            if let (true, Some(store), Some(hs)) =
                (message.persistent(), store, p.stores.get_mut(exchange))
            {
                let seq = hs.next_seq;
                hs.next_seq += 1;
                stored = Some((hs.queue, seq));
                reply = Some(store.submit(
                    vec![Command::Enqueue {
                        message: store.allocate_message_id(),
                        body: formats::encode_message(&message, now),
                        targets: vec![(hs.queue, seq)],
                    }],
                    sync,
                ));
            }
            self.insert(
                &mut p,
                now.saturating_add(delay_ms),
                exchange,
                message,
                stored,
            );
            let start = !p.recovering && !std::mem::replace(&mut p.task_started, true);
            (start, reply)
        };
        if start_task {
            self.start(vhost);
        }
        reply
    }

    fn insert(
        &self,
        p: &mut Pending,
        due: u64,
        exchange: &str,
        message: Message,
        stored: Option<(QueueId, u64)>,
    ) {
        p.arrivals += 1;
        let key = (due, p.arrivals);
        let earliest = p.due.keys().next().is_none_or(|first| key < *first);
        p.due.insert(
            key,
            Held {
                exchange: exchange.to_string(),
                message,
                stored,
            },
        );
        if earliest {
            self.wake.notify_one();
        }
    }

    fn start(self: &Arc<Self>, vhost: &Weak<Vhost>) {
        if let Some(v) = vhost.upgrade() {
            v.tasks
                .spawn_until_cancelled(release_due(self.clone(), vhost.clone()));
        }
    }

    /// A durable delayed exchange now has hidden store queue `queue` (declare or recovery).
    pub fn add_store(&self, exchange: &str, queue: QueueId, next_seq: u64) {
        self.lock()
            .stores
            .insert(exchange.to_string(), HeldStore { queue, next_seq });
    }

    /// The exchange is gone: its hidden store queue, if any, to delete.
    pub fn remove_store(&self, exchange: &str) -> Option<QueueId> {
        self.lock().stores.remove(exchange).map(|hs| hs.queue)
    }

    /// Recovery: holds again what a durable delayed exchange's hidden queue kept, due at its
    /// publish time plus its `x-delay`. Nothing is routed until [`Self::finish_recovery`].
    pub fn restore(
        &self,
        store: &Store,
        exchange: &str,
        queue: QueueId,
        next_seq: u64,
    ) -> Result<usize, warren_store::StoreError> {
        let mut p = self.lock();
        p.recovering = true;
        p.stores
            .insert(exchange.to_string(), HeldStore { queue, next_seq });
        let (mut after, mut count, mut last_route) = (None, 0, None);
        loop {
            let page = store.read_queue(queue, after, 1024)?;
            let Some(last) = page.last() else { break };
            after = Some(last.seq);
            for e in page {
                match formats::decode_message_timed(&e.message, &mut last_route) {
                    Ok((m, published_at)) => {
                        let headers = BasicProperties::from_raw(m.properties())
                            .ok()
                            .and_then(|p| p.headers);
                        let due = published_at
                            .unwrap_or_else(now_ms)
                            .saturating_add(requested_delay(headers.as_ref()).unwrap_or(0));
                        self.insert(&mut p, due, exchange, m, Some((queue, e.seq)));
                        count += 1;
                    }
                    Err(err) => {
                        tracing::error!(exchange, error = %err, "dropping an unreadable held message");
                        store.submit_detached(vec![Command::Ack {
                            queue,
                            seqs: vec![e.seq],
                        }]);
                    }
                }
            }
        }
        Ok(count)
    }

    /// Recovery is complete (bindings included): held messages may be routed.
    pub fn finish_recovery(self: &Arc<Self>, vhost: &Weak<Vhost>) {
        let start = {
            let mut p = self.lock();
            p.recovering = false;
            !p.due.is_empty() && !std::mem::replace(&mut p.task_started, true)
        };
        if start {
            self.start(vhost);
        }
    }

    /// Takes every message due by `now`, in due order; and when the next one is due.
    fn take_due(&self, now: u64) -> (Vec<Held>, Option<u64>) {
        let mut p = self.lock();
        let mut out = Vec::new();
        while let Some(entry) = p.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            out.push(entry.remove());
        }
        let next = p.due.keys().next().map(|(due, _)| *due);
        (out, next)
    }
}

/// The vhost's release task: routes messages as they come due; ends with the vhost. It holds
/// the vhost only while routing, never while waiting (a vhost keeps the store open).
async fn release_due(held: Arc<DelayedMessages>, vhost: Weak<Vhost>) {
    loop {
        let (due, next) = held.take_due(now_ms());
        if !due.is_empty() {
            let Some(v) = vhost.upgrade() else {
                return;
            };
            let mut acks: Vec<Command> = Vec::new();
            for m in due {
                v.route_broker_publish(&m.exchange, released(m.message));
                if let Some((queue, seq)) = m.stored {
                    acks.push(Command::Ack {
                        queue,
                        seqs: vec![seq],
                    });
                }
            }
            if let (false, Some(store)) = (acks.is_empty(), v.store()) {
                store.submit_detached(acks);
            }
        }
        let notified = held.wake.notified();
        match next {
            Some(at) => {
                let wait = Duration::from_millis(at.saturating_sub(now_ms()) + 1);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = notified => {}
                }
            }
            None => notified.await,
        }
        if vhost.strong_count() == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Route;

    #[test]
    fn x_delay_must_be_a_positive_integer() {
        let with = |v: FieldValue| {
            let mut t = FieldTable::new();
            t.push(ShortStr::from_static("x-delay"), v);
            t
        };
        assert_eq!(
            requested_delay(Some(&with(FieldValue::I32(1500)))),
            Some(1500)
        );
        assert_eq!(requested_delay(Some(&with(FieldValue::I64(0)))), None);
        assert_eq!(requested_delay(Some(&with(FieldValue::I32(-5)))), None);
        assert_eq!(
            requested_delay(Some(&with(FieldValue::LongStr("100".into())))),
            None
        );
        assert_eq!(requested_delay(None), None);
        assert_eq!(
            requested_delay(Some(&with(FieldValue::I64(u32::MAX as i64)))),
            Some(u32::MAX as u64)
        );
        assert_eq!(
            requested_delay(Some(&with(FieldValue::I64(u32::MAX as i64 + 1)))),
            None
        );
    }

    fn x_delay_after_release(value: FieldValue) -> Option<FieldValue> {
        let mut headers = FieldTable::new();
        headers.push(ShortStr::from_static("x-delay"), value);
        headers.push(ShortStr::from_static("app"), FieldValue::I32(7));
        let props = BasicProperties {
            headers: Some(headers),
            ..Default::default()
        };
        let m = released(Message::new(
            Route::new(b"later", b"k"),
            &props.to_raw(),
            b"body",
            true,
        ));
        assert_eq!(
            (m.exchange(), m.routing_key(), m.body()),
            (&b"later"[..], &b"k"[..], &b"body"[..])
        );
        assert!(m.persistent());
        let h = BasicProperties::from_raw(m.properties())
            .unwrap()
            .headers
            .unwrap();
        assert_eq!(h.get("app"), Some(&FieldValue::I32(7)));
        h.get("x-delay").cloned()
    }

    #[test]
    fn a_released_message_carries_x_delay_negated_as_a_signed_32_bit_integer() {
        assert_eq!(
            x_delay_after_release(FieldValue::I32(500)),
            Some(FieldValue::I32(-500))
        );
        assert_eq!(
            x_delay_after_release(FieldValue::I64(500)),
            Some(FieldValue::I32(-500))
        );
        assert_eq!(
            x_delay_after_release(FieldValue::U8(5)),
            Some(FieldValue::I32(-5))
        );
        // Past i32 the plugin's 32-bit encoding wraps.
        assert_eq!(
            x_delay_after_release(FieldValue::I64(3_000_000_000)),
            Some(FieldValue::I32(1_294_967_296))
        );
        // Nothing held, nothing changed.
        assert_eq!(
            x_delay_after_release(FieldValue::I32(-500)),
            Some(FieldValue::I32(-500))
        );
    }
}
