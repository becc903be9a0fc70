//! How dead letters leave a queue. Messages rejected without requeue, expired, or pushed out
//! by a length limit are collected under the queue's lock, and handed to the queue's
//! [`DeadLetterSink`] (the vhost, which routes them through the dead-letter exchange) by
//! the operation that produced them, once it has released the lock: routing may enqueue into
//! this very queue.

use super::{Queue, State};
use crate::dead_letter::{DeadLetterTarget, Reason};
use crate::message::Message;

/// Messages on their way to the dead-letter exchange, with why they left.
pub(crate) type DeadLetters = Vec<(Message, Reason)>;

/// Where a queue's dead letters go. Implemented by the vhost; the queue holds it weakly (the
/// vhost owns its queues) and knows nothing else of it.
pub(crate) trait DeadLetterSink: Send + Sync {
    /// Routes messages that left queue `from` to its dead-letter exchange `target`. Called
    /// with no queue lock held.
    fn dead_letters(&self, from: &str, target: &DeadLetterTarget, items: DeadLetters);
}

/// The sink of a queue made without one (`Queue::new`): it is never reached, since its
/// `Weak` never upgrades.
pub(super) struct NoSink;

impl DeadLetterSink for NoSink {
    fn dead_letters(&self, _: &str, _: &DeadLetterTarget, _: DeadLetters) {}
}

impl Queue {
    /// Runs `f` under the queue's lock, then hands the dead letters it collected to the sink
    /// once the lock is released. Every operation that can dispatch, expire, trim or discard
    /// locks through here.
    pub(super) fn locked<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut st = self.lock();
        let r = f(&mut st);
        let dead = std::mem::take(&mut st.dead);
        drop(st);
        self.hand_over_dead_letters(dead);
        r
    }

    /// Sends messages that left this queue to its dead-letter exchange. Call with no queue
    /// lock held.
    pub(super) fn hand_over_dead_letters(&self, items: DeadLetters) {
        if items.is_empty() {
            return;
        }
        if let (Some(sink), Some(target)) =
            (self.dead_letter_sink.upgrade(), self.settings.dead_letter())
        {
            sink.dead_letters(&self.name, &target, items);
        }
    }
}
