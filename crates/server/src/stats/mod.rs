//! Message and lifecycle counters, as RabbitMQ's global counters and its queues' `message_stats`
//! keep them: relaxed atomics bumped where the hot path already is (no locks, no allocation),
//! read by the admin facade's snapshots for the Prometheus endpoint and the management API.
//!
//! Gauges that exist elsewhere (connections, channels, queue depths, consumers) are not kept
//! here: the snapshot reads them where they live.

use crate::info::{GlobalCounters, QueueCounters};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A monotonic counter.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn bump(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The broker-wide counters (RabbitMQ's `rabbit_global_counters` and its core metrics).
/// The publish-side and the delivery-side counters sit on different cache lines: publishers
/// and consumers run on different workers and would otherwise share one line.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) publish: PublishSide,
    pub(crate) deliver: DeliverSide,
    pub(crate) lifecycle: Lifecycle,
}

/// Counted by publishing connections.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct PublishSide {
    pub(crate) received: Counter,
    pub(crate) received_confirm: Counter,
    pub(crate) routed: Counter,
    pub(crate) unroutable_dropped: Counter,
    pub(crate) unroutable_returned: Counter,
    pub(crate) confirmed: Counter,
}

/// Counted by consuming connections.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct DeliverSide {
    pub(crate) consume_auto_ack: Counter,
    pub(crate) consume_manual_ack: Counter,
    pub(crate) get_auto_ack: Counter,
    pub(crate) get_manual_ack: Counter,
    pub(crate) get_empty: Counter,
    pub(crate) redelivered: Counter,
    pub(crate) acknowledged: Counter,
}

/// Connections, channels, queues and publishers coming and going.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Lifecycle {
    pub(crate) connections_opened: Counter,
    pub(crate) channels_opened: Counter,
    pub(crate) queues_declared: Counter,
    pub(crate) queues_created: Counter,
    pub(crate) queues_deleted: Counter,
    /// Channels that have published at least once and are still open.
    pub(crate) publishers: AtomicI64,
}

impl Stats {
    /// One delivery to a consumer or a basic.get client.
    #[inline]
    pub(crate) fn delivered(&self, get: bool, no_ack: bool, redelivered: bool) {
        let d = &self.deliver;
        match (get, no_ack) {
            (false, true) => d.consume_auto_ack.bump(1),
            (false, false) => d.consume_manual_ack.bump(1),
            (true, true) => d.get_auto_ack.bump(1),
            (true, false) => d.get_manual_ack.bump(1),
        }
        if redelivered {
            d.redelivered.bump(1);
        }
    }

    pub(crate) fn publisher_opened(&self) {
        self.lifecycle.publishers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn publisher_closed(&self) {
        self.lifecycle.publishers.fetch_sub(1, Ordering::Relaxed);
    }

    /// The counters now; `open` (connections, channels) turns the opened counters into closed.
    pub(crate) fn snapshot(&self, connections: u64, channels: u64) -> GlobalCounters {
        let (p, d, l) = (&self.publish, &self.deliver, &self.lifecycle);
        let connections_opened = l.connections_opened.get();
        let channels_opened = l.channels_opened.get();
        GlobalCounters {
            messages_received: p.received.get(),
            messages_received_confirm: p.received_confirm.get(),
            messages_routed: p.routed.get(),
            messages_unroutable_dropped: p.unroutable_dropped.get(),
            messages_unroutable_returned: p.unroutable_returned.get(),
            messages_confirmed: p.confirmed.get(),
            messages_delivered_consume_auto_ack: d.consume_auto_ack.get(),
            messages_delivered_consume_manual_ack: d.consume_manual_ack.get(),
            messages_delivered_get_auto_ack: d.get_auto_ack.get(),
            messages_delivered_get_manual_ack: d.get_manual_ack.get(),
            messages_get_empty: d.get_empty.get(),
            messages_redelivered: d.redelivered.get(),
            messages_acknowledged: d.acknowledged.get(),
            connections_opened,
            connections_closed: connections_opened.saturating_sub(connections),
            channels_opened,
            channels_closed: channels_opened.saturating_sub(channels),
            queues_declared: l.queues_declared.get(),
            queues_created: l.queues_created.get(),
            queues_deleted: l.queues_deleted.get(),
            publishers: l.publishers.load(Ordering::Relaxed).max(0) as u64,
        }
    }
}

/// One queue's `message_stats` counters. The publishing side's counter has a cache line of its
/// own: publisher and consumer connections run on different workers, and sharing one line made
/// every publish and every delivery wait for the other's core.
#[derive(Debug, Default)]
pub(crate) struct QueueStats {
    pub(crate) publish: PaddedCounter,
    pub(crate) deliver_get: Counter,
    pub(crate) ack: Counter,
    pub(crate) redeliver: Counter,
}

/// A counter alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct PaddedCounter(Counter);

impl std::ops::Deref for PaddedCounter {
    type Target = Counter;
    fn deref(&self) -> &Counter {
        &self.0
    }
}

impl QueueStats {
    pub(crate) fn snapshot(&self) -> QueueCounters {
        QueueCounters {
            publish: self.publish.get(),
            deliver_get: self.deliver_get.get(),
            ack: self.ack.get(),
            redeliver: self.redeliver.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_land_in_their_counter_and_closed_counts_follow_open_ones() {
        let s = Stats::default();
        s.delivered(false, true, false);
        s.delivered(false, false, true);
        s.delivered(true, true, false);
        s.delivered(true, false, true);
        s.lifecycle.connections_opened.bump(3);
        s.lifecycle.channels_opened.bump(5);
        let g = s.snapshot(1, 2);
        assert_eq!(
            (
                g.messages_delivered_consume_auto_ack,
                g.messages_delivered_consume_manual_ack,
                g.messages_delivered_get_auto_ack,
                g.messages_delivered_get_manual_ack,
                g.messages_redelivered
            ),
            (1, 1, 1, 1, 2)
        );
        assert_eq!((g.connections_closed, g.channels_closed), (2, 3));
    }
}
