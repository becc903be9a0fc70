//! Expiry: per-queue and per-message TTLs, taking expired messages off the head, the timer
//! that does so with no consumer, and the `x-expires` bookkeeping (when the queue was last
//! used).

use super::entry::{has_property, EXPIRATION_FLAG, EXPIRY_UNKNOWN};
use super::{Queue, State};
use crate::clock::now_ms;
use crate::dead_letter::{self, Reason};
use crate::message::Message;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

impl Queue {
    /// Records a use of the queue for `x-expires` (declare, basic.get, consume, last cancel).
    pub(crate) fn touch(&self) {
        if self.settings.expires().is_some() {
            self.last_used.store(now_ms(), Ordering::Relaxed);
        }
    }

    /// Whether the caller is now the one task watching `x-expires` (none was).
    pub(crate) fn claim_expiry_watch(&self) -> bool {
        !self.expiry_watched.swap(true, Ordering::Relaxed)
    }

    /// Notified when a policy changes the queue's settings (its `x-expires` among them).
    pub(crate) fn expiry_changed(&self) -> Arc<tokio::sync::Notify> {
        self.expiry_changed.clone()
    }

    pub(crate) fn release_expiry_watch(&self) {
        self.expiry_watched.store(false, Ordering::Relaxed);
    }

    /// For `x-expires`: when the queue expires if nothing uses it meanwhile, or `None` while
    /// it has consumers (in use) or has been deleted.
    pub(crate) fn expires_at(&self) -> Option<u64> {
        let expires = self.settings.expires()?;
        let st = self.lock();
        if st.deleted || !st.consumers.is_empty() {
            return None;
        }
        Some(
            self.last_used
                .load(Ordering::Relaxed)
                .saturating_add(expires),
        )
    }

    /// When a message enqueued now expires (0: never): the queue's TTL or the message's own
    /// `expiration`, whichever is shorter. Reads the properties only if the message has one.
    pub(super) fn expiry_for(&self, message: &Message) -> u64 {
        self.expiry_since(message, None)
    }

    /// When a message published at `published_at` (ms since the epoch; `None`: now, for a
    /// publish being enqueued or an old record without the time) expires in this queue, 0 for
    /// never. The clock is read only when there is a TTL.
    pub(super) fn expiry_since(&self, message: &Message, published_at: Option<u64>) -> u64 {
        let own = has_property(message.properties(), EXPIRATION_FLAG)
            .then(|| {
                warren_codec::BasicProperties::from_raw(message.properties())
                    .ok()
                    .and_then(|p| p.expiration)
                    .and_then(|e| dead_letter::parse_expiration(e.as_bytes()).ok())
            })
            .flatten();
        let ttl = match (self.settings.message_ttl(), own) {
            (Some(a), Some(b)) => a.min(b),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => return 0,
        };
        published_at
            .unwrap_or_else(now_ms)
            .saturating_add(ttl)
            .clamp(1, EXPIRY_UNKNOWN - 1)
    }

    /// Takes expired messages off the head (RabbitMQ expires only there: a long-lived message
    /// at the head keeps shorter-lived ones behind it, as RabbitMQ's do). Each goes to the
    /// dead-letter exchange if the queue has one.
    pub(super) fn expire_head(&self, st: &mut State) {
        let Some(head) = st.ready.front() else {
            return;
        };
        if head.expires_at() == 0 {
            return;
        }
        let now = now_ms();
        while let Some(head) = st.ready.front() {
            if head.expires_at() == EXPIRY_UNKNOWN {
                // Recovered: its expiry is learnt when its body is read back.
                self.page_in(st);
                continue;
            }
            if head.expires_at() == 0 || head.expires_at() >= now {
                break;
            }
            if !self.remove_head(st, Reason::Expired) {
                break;
            }
        }
    }

    /// Makes sure a timer will expire the head when its time comes, even with no consumer.
    /// One timer per queue at a time; it re-arms itself through `dispatch`.
    pub(super) fn arm_expiry_timer(self: &Arc<Self>, st: &mut State) {
        let Some(at) = st.ready.front().map(|e| e.expires_at()).filter(|&t| t != 0) else {
            return;
        };
        // A recovered head whose expiry is not known yet: look (read its body) right away.
        let at = if at == EXPIRY_UNKNOWN { now_ms() } else { at };
        if st.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        st.timer_at = Some(at);
        let queue = Arc::downgrade(self);
        self.tasks.spawn_until_cancelled(async move {
            // Past the deadline: a message expires once its time is strictly behind us.
            // A head already past it (armed late, e.g. once it came out from behind a message
            // of a higher priority) goes at once.
            let wait = (at + 1).saturating_sub(now_ms());
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let Some(q) = queue.upgrade() else {
                return;
            };
            q.locked(|st| {
                if st.timer_at != Some(at) || st.deleted {
                    return; // superseded by an earlier timer, or the queue is gone
                }
                st.timer_at = None;
                q.dispatch(st);
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::message::{Message, Route};
    use crate::queue::{Queue, QueueOptions};
    use std::time::Duration;
    use warren_codec::{FieldTable, FieldValue, ShortStr};

    #[tokio::test(start_paused = true)]
    async fn a_message_ttl_counts_tokio_time_and_the_timer_expires_the_head() {
        let mut arguments = FieldTable::new();
        arguments.push(
            ShortStr::from_static("x-message-ttl"),
            FieldValue::I64(1_000),
        );
        let options = QueueOptions {
            durable: false,
            exclusive_owner: None,
            auto_delete: false,
            arguments,
        };
        let q = Queue::new("ttl", "/".into(), options);
        let m = Message::new(Route::new(b"", b"ttl"), &[0, 0], b"body", false);
        q.publish(m.clone());
        tokio::time::advance(Duration::from_millis(1_000)).await;
        assert!(q.get(true).is_some(), "not past its TTL yet");
        q.publish(m);
        tokio::time::advance(Duration::from_millis(1_001)).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            q.counts(),
            (0, 0),
            "the expiry timer took it off with no consumer"
        );
    }
}
