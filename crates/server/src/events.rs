//! What queues and the broker send to a connection task, and the prefetch credit they share.
//!
//! A queue decides *which* consumer gets a message (it checks the credit); the connection task
//! decides the delivery tag, records the unacked entry and writes the frames. Credit is an
//! atomic pair so the queue can take it and the connection can return it without a lock;
//! taking is one compare-and-swap, so queues on different threads sharing a channel's credit
//! (global qos) or a connection's window cannot overshoot it together.

use crate::message::Message;
use crate::queue::Queue;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use warren_codec::ShortStr;

/// Prefetch credit: `limit` 0 means unlimited.
#[derive(Debug, Default)]
pub struct Credit {
    limit: AtomicU32,
    used: AtomicU32,
}

impl Credit {
    pub fn new(limit: u32) -> Arc<Credit> {
        Arc::new(Credit {
            limit: AtomicU32::new(limit),
            used: AtomicU32::new(0),
        })
    }

    pub fn set_limit(&self, limit: u32) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    pub fn limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed)
    }

    pub fn has_room(&self) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        limit == 0 || self.used.load(Ordering::Relaxed) < limit
    }

    /// Takes `n` if there is room (`has_room`), as one atomic step: of several threads taking
    /// at once, no more get through than the limit allows. `false` takes nothing.
    pub fn try_take(&self, n: u32) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                let limit = self.limit.load(Ordering::Relaxed);
                (limit == 0 || used < limit).then(|| used.saturating_add(n))
            })
            .is_ok()
    }

    /// Returns `n`; `true` if that reopened a window that had no room left (whoever stopped
    /// offering for lack of it must be told).
    pub fn give_back(&self, n: u32) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        // Saturating: a credit can be returned after a qos reset without going negative.
        let before = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(n))
            })
            .unwrap_or(0);
        limit != 0 && before >= limit && before.saturating_sub(n) < limit
    }
}

/// A connection's delivery window, in bytes: deliveries queues have handed to it that have not
/// yet left for the socket. When a slow reader fills it, queues stop offering to that
/// connection's consumers (the messages wait in the queue instead of in output buffers), as
/// RabbitMQ's credit flow between queue, channel and writer does. It never limits a consumer
/// that keeps up: a delivery leaves the window as soon as the socket takes it.
pub const DELIVERY_WINDOW: u32 = 4 << 20;

/// What one delivery of `m` counts against [`DELIVERY_WINDOW`]: its body and about what its
/// frames and the bookkeeping around them add.
pub fn window_cost(m: &Message) -> u32 {
    u32::try_from(m.body_len())
        .unwrap_or(u32::MAX)
        .saturating_add(128)
}

/// One message handed to a consumer's connection.
#[derive(Debug)]
pub struct Delivery {
    pub channel: u16,
    pub consumer_tag: ShortStr,
    pub queue: Arc<Queue>,
    /// The queue's sequence number for the message (how the queue finds it again on ack).
    pub seq: u64,
    pub message: Message,
    pub redelivered: bool,
    pub no_ack: bool,
    /// Credits to return on ack/nack/reject (none for no-ack deliveries).
    pub credits: Option<(Arc<Credit>, Arc<Credit>)>,
}

/// Events for a connection task.
#[derive(Debug)]
pub enum ConnEvent {
    Deliver(Delivery),
    /// The queue behind a consumer went away: tell the client with basic.cancel.
    ConsumerCancelled {
        channel: u16,
        tag: ShortStr,
    },
    /// The broker is shutting down: close with 320 CONNECTION_FORCED.
    Shutdown,
    /// An operator closes this connection (the admin facade): 320 CONNECTION_FORCED with
    /// this text.
    ForceClose {
        reason: String,
    },
    /// The admin facade asks for this connection's channels.
    Inspect(tokio::sync::oneshot::Sender<Vec<crate::admin::ChannelInfo>>),
    /// A reply published to this connection's direct reply-to address (`key` must match the
    /// channel's current reply consumer).
    DirectReply {
        channel: u16,
        key: u64,
        message: Message,
    },
    /// A batch of persistent publishes reached the store (synced, for confirm and tx
    /// channels), or the store failed (`ok` false). Sent by the connection's own waiter.
    Persisted {
        ok: bool,
        /// (channel, publish seq) confirm acks this write makes due.
        confirms: Vec<(u16, u64)>,
        /// Channels whose tx.commit-ok waited for this write.
        commits: Vec<u16>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn try_take_stops_at_the_limit_and_give_back_reopens() {
        let c = Credit::new(2);
        assert!(c.try_take(1) && c.try_take(1));
        assert!(!c.try_take(1) && !c.has_room());
        assert!(
            c.give_back(1),
            "back under the limit: whoever waited must be told"
        );
        assert!(c.try_take(1));
        // No limit: always room.
        let free = Credit::new(0);
        assert!((0..1000).all(|_| free.try_take(1)));
        // A byte window admits one take while under the limit, however large.
        let window = Credit::new(100);
        assert!(window.try_take(99) && window.try_take(500) && !window.try_take(1));
    }

    #[test]
    fn concurrent_try_take_never_exceeds_the_limit() {
        const THREADS: usize = 8;
        for limit in [1, 3, 50] {
            let credit = Credit::new(limit);
            let start = Arc::new(Barrier::new(THREADS));
            let taken: u32 = std::thread::scope(|s| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|_| {
                        let (credit, start) = (credit.clone(), start.clone());
                        s.spawn(move || {
                            start.wait();
                            (0..1000).filter(|_| credit.try_take(1)).count() as u32
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(taken, limit);
            assert!(!credit.has_room());
        }
    }
}
