//! Message and lifecycle counters, as RabbitMQ's global counters and its queues' `message_stats`
//! keep them: relaxed atomics bumped where the hot path already is (no locks, no allocation),
//! read by the admin facade's snapshots for the Prometheus endpoint and the management API.
//!
//! Gauges that exist elsewhere (connections, channels, queue depths, consumers) are not kept
//! here: the snapshot reads them where they live.

use crate::info::{GlobalCounters, MessageTotals, QueueCounters};
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

/// The broker-wide counters that are not messages: connections, channels, queues and
/// publishers coming and going; and the message counters of vhosts deleted since boot, so the
/// broker-wide message counters (the sum over vhosts) never go back.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) lifecycle: Lifecycle,
    retired: std::sync::Mutex<MessageTotals>,
}

/// One vhost's message counters (RabbitMQ's global counters, and the vhost's `message_stats`).
/// The publish-side and the delivery-side counters sit on different cache lines: publishers
/// and consumers run on different workers and would otherwise share one line.
#[derive(Debug, Default)]
pub(crate) struct MessageCounters {
    pub(crate) publish: PublishSide,
    pub(crate) deliver: DeliverSide,
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

impl MessageCounters {
    /// One delivery to a consumer or a basic.get client (connections count theirs in a
    /// per-turn tally instead).
    #[cfg(test)]
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

    /// The counters now.
    pub(crate) fn totals(&self) -> MessageTotals {
        let (p, d) = (&self.publish, &self.deliver);
        MessageTotals {
            received: p.received.get(),
            received_confirm: p.received_confirm.get(),
            routed: p.routed.get(),
            unroutable_dropped: p.unroutable_dropped.get(),
            unroutable_returned: p.unroutable_returned.get(),
            confirmed: p.confirmed.get(),
            consume_auto_ack: d.consume_auto_ack.get(),
            consume_manual_ack: d.consume_manual_ack.get(),
            get_auto_ack: d.get_auto_ack.get(),
            get_manual_ack: d.get_manual_ack.get(),
            get_empty: d.get_empty.get(),
            redelivered: d.redelivered.get(),
            acknowledged: d.acknowledged.get(),
        }
    }
}

impl Stats {
    pub(crate) fn publisher_opened(&self) {
        self.lifecycle.publishers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn publisher_closed(&self) {
        self.lifecycle.publishers.fetch_sub(1, Ordering::Relaxed);
    }

    /// A deleted vhost's counters stay in the broker-wide ones.
    pub(crate) fn retire(&self, vhost: MessageTotals) {
        let mut retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
        *retired = retired.plus(&vhost);
    }

    /// The counters now: `live` is the sum over the vhosts that exist; `open` (connections,
    /// channels) turns the opened counters into closed.
    pub(crate) fn snapshot(
        &self,
        live: MessageTotals,
        connections: u64,
        channels: u64,
    ) -> GlobalCounters {
        let m = self
            .retired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .plus(&live);
        let l = &self.lifecycle;
        let connections_opened = l.connections_opened.get();
        let channels_opened = l.channels_opened.get();
        GlobalCounters {
            messages_received: m.received,
            messages_received_confirm: m.received_confirm,
            messages_routed: m.routed,
            messages_unroutable_dropped: m.unroutable_dropped,
            messages_unroutable_returned: m.unroutable_returned,
            messages_confirmed: m.confirmed,
            messages_delivered_consume_auto_ack: m.consume_auto_ack,
            messages_delivered_consume_manual_ack: m.consume_manual_ack,
            messages_delivered_get_auto_ack: m.get_auto_ack,
            messages_delivered_get_manual_ack: m.get_manual_ack,
            messages_get_empty: m.get_empty,
            messages_redelivered: m.redelivered,
            messages_acknowledged: m.acknowledged,
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
    pub(crate) deliver: Counter,
    pub(crate) deliver_no_ack: Counter,
    pub(crate) get: Counter,
    pub(crate) get_no_ack: Counter,
    pub(crate) get_empty: Counter,
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
    /// One delivery from this queue.
    #[inline]
    pub(crate) fn delivered(&self, get: bool, no_ack: bool, redelivered: bool) {
        match (get, no_ack) {
            (false, false) => self.deliver.bump(1),
            (false, true) => self.deliver_no_ack.bump(1),
            (true, false) => self.get.bump(1),
            (true, true) => self.get_no_ack.bump(1),
        }
        if redelivered {
            self.redeliver.bump(1);
        }
    }

    pub(crate) fn snapshot(&self) -> QueueCounters {
        let (deliver, deliver_no_ack) = (self.deliver.get(), self.deliver_no_ack.get());
        let (get, get_no_ack) = (self.get.get(), self.get_no_ack.get());
        QueueCounters {
            publish: self.publish.get(),
            deliver,
            deliver_no_ack,
            get,
            get_no_ack,
            get_empty: self.get_empty.get(),
            deliver_get: deliver + deliver_no_ack + get + get_no_ack,
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
        let (s, v) = (Stats::default(), MessageCounters::default());
        v.delivered(false, true, false);
        v.delivered(false, false, true);
        v.delivered(true, true, false);
        v.delivered(true, false, true);
        s.lifecycle.connections_opened.bump(3);
        s.lifecycle.channels_opened.bump(5);
        let g = s.snapshot(v.totals(), 1, 2);
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

    #[test]
    fn a_retired_vhost_stays_in_the_totals() {
        let (s, v) = (Stats::default(), MessageCounters::default());
        v.publish.received.bump(4);
        s.retire(v.totals());
        let w = MessageCounters::default();
        w.publish.received.bump(1);
        assert_eq!(s.snapshot(w.totals(), 0, 0).messages_received, 5);
    }

    #[test]
    fn a_queue_counts_each_kind_of_delivery_and_their_sum() {
        let q = QueueStats::default();
        q.delivered(false, false, false);
        q.delivered(false, true, false);
        q.delivered(true, false, true);
        q.delivered(true, true, false);
        let c = q.snapshot();
        assert_eq!(
            (c.deliver, c.deliver_no_ack, c.get, c.get_no_ack),
            (1, 1, 1, 1)
        );
        assert_eq!((c.deliver_get, c.redeliver), (4, 1));
    }
}
