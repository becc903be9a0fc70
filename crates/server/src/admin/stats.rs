//! Counter snapshots for the Prometheus endpoint and the management API: the broker-wide
//! counters with the counts that already exist (connections, channels, queue depths,
//! consumers), and each queue's own counters. Nothing here asks a connection task: the
//! counts come from atomics and one short lock per queue.

use super::Admin;
use crate::info::{QueueCounters, QueueStatsInfo, StatsSnapshot};
use crate::queue::Queue;

impl Admin {
    /// Broker-wide counters and counts now. Walks every queue once for its depth, but builds
    /// nothing per queue.
    pub fn stats(&self) -> StatsSnapshot {
        let (connections, channels) = self.broker.open_counts();
        let mut s = StatsSnapshot {
            counters: self.broker.stats().snapshot(connections, channels),
            connections,
            channels,
            ..StatsSnapshot::default()
        };
        for v in self.broker.vhosts() {
            // The Arcs are taken first: no queue lock is taken under the registry's.
            for q in v.queues() {
                let (ready, unacked, consumers) = q.stats();
                s.queues += 1;
                s.messages_ready += ready as u64;
                s.messages_unacknowledged += unacked as u64;
                s.consumers += consumers as u64;
                add(&mut s.queue_totals, q.counters.snapshot());
            }
        }
        s
    }

    /// Every queue's counts and counters, of one vhost or all, by vhost then name.
    pub fn queue_stats(&self, vhost: Option<&str>) -> Vec<QueueStatsInfo> {
        let mut out = Vec::new();
        for v in self.broker.vhosts() {
            if vhost.is_some_and(|name| name != &*v.name) {
                continue;
            }
            out.extend(v.queues().iter().map(|q| queue_info(q)));
        }
        out.sort_by(|a, b| (&a.vhost, &a.name).cmp(&(&b.vhost, &b.name)));
        out
    }
}

fn queue_info(q: &Queue) -> QueueStatsInfo {
    let (ready, unacked, consumers) = q.stats();
    QueueStatsInfo {
        vhost: q.vhost.to_string(),
        name: q.name.to_string(),
        messages_ready: ready as u64,
        messages_unacknowledged: unacked as u64,
        consumers: consumers as u64,
        counters: q.counters.snapshot(),
    }
}

fn add(total: &mut QueueCounters, q: QueueCounters) {
    total.publish += q.publish;
    total.deliver_get += q.deliver_get;
    total.ack += q.ack;
    total.redeliver += q.redeliver;
}
