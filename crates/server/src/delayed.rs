//! The delayed-message exchange, built in (RabbitMQ needs its `rabbitmq_delayed_message_exchange`
//! plugin for this): an exchange of type `x-delayed-message` routes like its `x-delayed-type`
//! (direct, fanout, topic or headers), but a message published with an `x-delay` header (a
//! positive number of milliseconds) is held and routed only when that time has passed.
//!
//! Held messages wait in one time-ordered map per vhost; a single task per vhost sleeps until
//! the earliest is due (woken early when an earlier one arrives), then routes what is due as
//! the broker's own publish: nobody is confirmed or returned to, as with the plugin.

use crate::message::Message;
use crate::queue::now_ms;
use crate::vhost::Vhost;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use warren_codec::{FieldTable, FieldValue};

/// The exchange type name clients declare.
pub const EXCHANGE_TYPE: &str = "x-delayed-message";
/// The declare argument naming how the exchange routes.
pub const DELAYED_TYPE_ARG: &str = "x-delayed-type";

/// How long a message asks to be held: its `x-delay` header, if a positive integer.
pub fn requested_delay(headers: Option<&FieldTable>) -> Option<u64> {
    headers?
        .get("x-delay")
        .and_then(FieldValue::as_i64)
        .and_then(|ms| u64::try_from(ms).ok())
        .filter(|&ms| ms > 0)
}

#[derive(Debug)]
struct Held {
    exchange: String,
    message: Arc<Message>,
}

#[derive(Debug, Default)]
struct Pending {
    /// (due time in ms since the epoch, arrival number) → message.
    due: BTreeMap<(u64, u64), Held>,
    arrivals: u64,
    task_started: bool,
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

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Holds `message`, published to delayed exchange `exchange`, for `delay_ms`.
    pub fn hold(
        self: &Arc<Self>,
        vhost: &Weak<Vhost>,
        exchange: &str,
        message: Arc<Message>,
        delay_ms: u64,
    ) {
        let due = now_ms().saturating_add(delay_ms);
        let start_task = {
            let mut p = self.lock();
            p.arrivals += 1;
            let key = (due, p.arrivals);
            let earliest = p.due.keys().next().is_none_or(|first| key < *first);
            p.due.insert(
                key,
                Held {
                    exchange: exchange.to_string(),
                    message,
                },
            );
            if earliest {
                self.wake.notify_one();
            }
            !std::mem::replace(&mut p.task_started, true)
        };
        if start_task {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(release_due(self.clone(), vhost.clone()));
            }
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
            for m in due {
                v.route_broker_publish(&m.exchange, m.message);
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
    use warren_codec::ShortStr;

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
    }
}
