//! Counter snapshots for the Prometheus endpoint and the management API: the broker-wide
//! counters with the counts that already exist (connections, channels, queue depths,
//! consumers), and each queue's own counters. Nothing here asks a connection task: the
//! counts come from atomics and one short lock per queue.

use super::Admin;
use crate::info::{
    ExchangeCounters, GlobalCounters, MessageTotals, QueueStatsInfo, StatsSnapshot, VhostStatsInfo,
};
use crate::queue::Queue;

impl Admin {
    /// Broker-wide counters and counts now. Walks every queue once for its depth, but builds
    /// nothing per queue.
    pub fn stats(&self) -> StatsSnapshot {
        let (connections, channels) = self.broker.open_counts();
        let mut s = StatsSnapshot {
            counters: GlobalCounters::default(),
            connections,
            channels,
            ..StatsSnapshot::default()
        };
        let mut live = MessageTotals::default();
        for v in self.broker.vhosts() {
            live = live.plus(&v.counters.totals());
            // The Arcs are taken first: no queue lock is taken under the registry's.
            for q in v.queues() {
                let (ready, unacked, consumers) = q.stats();
                s.queues += 1;
                s.messages_ready += ready as u64;
                s.messages_unacknowledged += unacked as u64;
                s.consumers += consumers as u64;
                s.queue_totals = s.queue_totals.plus(&q.counters.snapshot());
            }
        }
        s.counters = self.broker.stats().snapshot(live, connections, channels);
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

impl Admin {
    /// Each vhost's message counters and queue depths, by name.
    pub fn vhost_stats(&self) -> Vec<VhostStatsInfo> {
        let mut out: Vec<VhostStatsInfo> = self
            .broker
            .vhosts()
            .iter()
            .map(|v| {
                let mut info = VhostStatsInfo {
                    name: v.name.to_string(),
                    counters: v.counters.totals(),
                    messages_ready: 0,
                    messages_unacknowledged: 0,
                };
                for q in v.queues() {
                    let (ready, unacked, _) = q.stats();
                    info.messages_ready += ready as u64;
                    info.messages_unacknowledged += unacked as u64;
                }
                info
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Every exchange that has counted a publish, with its counters: (vhost, name, counters).
    pub fn exchange_stats(&self) -> Vec<(String, String, ExchangeCounters)> {
        let mut out = Vec::new();
        for v in self.broker.vhosts() {
            for (name, c) in v.all_exchange_counters() {
                out.push((v.name.to_string(), name, c));
            }
        }
        out
    }
}
