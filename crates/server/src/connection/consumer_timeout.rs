//! Consumer timeout: a delivery left unacknowledged longer than its queue's
//! `x-consumer-timeout` (or the broker's `consumer_timeout`) closes its channel with 406
//! PRECONDITION_FAILED and RabbitMQ 3.10.8's text; the channel's unacknowledged deliveries go
//! back to their queues, marked redelivered, through the ordinary channel-close path.
//!
//! As RabbitMQ (`rabbit_channel:evaluate_consumer_timeout`), only each channel's oldest
//! unacknowledged delivery is looked at, on a periodic check: one timer per connection, armed
//! while it has deliveries waiting for an ack, never one per message. RabbitMQ checks on its
//! channel tick (60 s by default); Warren every second. A delivery is stamped with the time of
//! the turn of the connection loop that sent it: one clock reading per turn, not per delivery.

use super::channel::Channel;
use super::Connection;
use crate::error::AmqpError;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tracing::warn;

/// How often a connection with unacknowledged deliveries looks for timed-out ones.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The check's timer: `None` while the connection has nothing unacknowledged.
pub(super) type TimeoutCheck = Option<Pin<Box<Sleep>>>;

/// Resolves when the armed timer fires; never while it is disarmed.
pub(super) async fn fired(check: &mut TimeoutCheck) {
    match check {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

/// The timeout (ms) the channel's oldest unacknowledged delivery has outlived, if it has:
/// its queue's `x-consumer-timeout`, else `default`.
fn expired(ch: &Channel, now: u64, default: Option<u64>) -> Option<u64> {
    if ch.closing {
        return None;
    }
    let head = ch.unacked.front()?;
    let timeout = head.queue.consumer_timeout().or(default)?;
    (head.delivered_at.saturating_add(timeout) < now).then_some(timeout)
}

/// RabbitMQ 3.10.8's reply text (`rabbit_channel:evaluate_consumer_timeout`).
fn timed_out(channel: u16, timeout: u64) -> AmqpError {
    AmqpError::precondition_failed(format!(
        "delivery acknowledgement on channel {channel} timed out. Timeout value used: {timeout} \
         ms. This timeout value can be configured, see consumers doc guide to learn more"
    ))
}

impl Connection {
    /// The time stamped on a delivery sent now: read once per turn of the loop.
    pub(super) fn delivery_time(&mut self) -> u64 {
        if self.turn_ms == 0 {
            self.turn_ms = crate::clock::now_ms();
        }
        self.turn_ms
    }

    /// At the top of a turn: arms the check if the last turn sent deliveries that wait for an
    /// ack, and starts the new turn's time.
    pub(super) fn new_turn(&mut self) {
        if self.turn_ms != 0 && self.timeout_check.is_none() {
            self.timeout_check = Some(Box::pin(tokio::time::sleep(CHECK_EVERY)));
        }
        self.turn_ms = 0;
    }

    /// The timer fired: closes every channel whose oldest delivery timed out, and looks again
    /// a second later while anything is still unacknowledged.
    pub(super) fn check_consumer_timeouts(&mut self) {
        let now = crate::clock::now_ms();
        let default = self
            .broker
            .config
            .consumer_timeout
            .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
        let due: Vec<(u16, u64)> = self
            .channels
            .values()
            .filter_map(|ch| expired(ch, now, default).map(|t| (ch.id, t)))
            .collect();
        for (channel, timeout) in due {
            warn!(connection = self.id, peer = %self.peer, channel, timeout_ms = timeout,
                  "consumer timed out waiting for delivery acknowledgement");
            // A channel error: never a connection exit.
            let _ = self.fail(channel, timed_out(channel, timeout));
        }
        if self.channels.values().any(|c| !c.unacked.is_empty()) {
            if let Some(sleep) = &mut self.timeout_check {
                sleep.as_mut().reset(Instant::now() + CHECK_EVERY);
            }
        } else {
            self.timeout_check = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::channel::Unacked;
    use super::*;
    use crate::queue::{Queue, QueueOptions};
    use warren_codec::{FieldTable, FieldValue, ShortStr};

    fn queue(timeout: Option<i64>) -> std::sync::Arc<Queue> {
        let mut arguments = FieldTable::new();
        if let Some(ms) = timeout {
            arguments.push(
                ShortStr::from_static("x-consumer-timeout"),
                FieldValue::I64(ms),
            );
        }
        let options = QueueOptions {
            durable: false,
            exclusive_owner: None,
            auto_delete: false,
            arguments,
        };
        Queue::new("q", "/".into(), options)
    }

    fn channel_with(deliveries: &[(std::sync::Arc<Queue>, u64)]) -> Channel {
        let mut ch = Channel::new(3);
        for (i, (q, at)) in deliveries.iter().enumerate() {
            ch.unacked.push_back(Unacked {
                tag: i as u64 + 1,
                queue: q.clone(),
                seq: i as u64,
                credits: None,
                delivered_at: *at,
            });
        }
        ch
    }

    #[test]
    fn the_oldest_delivery_times_out_past_its_queues_timeout_or_the_default() {
        let plain = queue(None);
        let ch = channel_with(&[(plain.clone(), 1_000), (plain, 5_000)]);
        assert_eq!(
            expired(&ch, 1_000 + 500, Some(500)),
            None,
            "not past it yet"
        );
        assert_eq!(expired(&ch, 1_000 + 501, Some(500)), Some(500));
        assert_eq!(expired(&ch, 1_000_000, None), None, "no timeout at all");
        let own = channel_with(&[(queue(Some(100)), 1_000)]);
        assert_eq!(
            expired(&own, 1_101, Some(1_800_000)),
            Some(100),
            "x-consumer-timeout wins"
        );
        assert_eq!(expired(&Channel::new(1), u64::MAX, Some(0)), None);
        let mut closing = channel_with(&[(queue(None), 0)]);
        closing.closing = true;
        assert_eq!(expired(&closing, 10_000, Some(1)), None);
    }

    #[test]
    fn rabbitmqs_text() {
        let e = timed_out(3, 1_800_000);
        assert_eq!(e.code as u16, 406);
        assert_eq!(
            e.text,
            "delivery acknowledgement on channel 3 timed out. Timeout value used: 1800000 ms. \
             This timeout value can be configured, see consumers doc guide to learn more"
        );
    }
}
