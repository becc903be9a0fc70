//! The metric families, with RabbitMQ 3.10.8's names, types, help texts and labels, encoded
//! from one snapshot per scrape through prometheus-client's collector interface.

use crate::process;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelValue, LabelValueEncoder, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt::{self, Write};
use warren_server::info::{AlarmsInfo, QueueStatsInfo, StatsSnapshot};
use warren_server::Admin;

/// RabbitMQ's queue types: Warren's queues are all classic, the others read 0, so every
/// series RabbitMQ has is there.
const QUEUE_TYPES: [&str; 3] = [
    "rabbit_classic_queue",
    "rabbit_quorum_queue",
    "rabbit_stream_queue",
];
const PROTOCOL: (&str, &str) = ("protocol", "amqp091");

/// The node's name in `rabbitmq_identity_info`, RabbitMQ's `rabbit@host` shape.
fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("warren@{host}")
}

/// What one scrape shows.
#[derive(Debug)]
struct Scrape {
    stats: StatsSnapshot,
    alarms: AlarmsInfo,
    /// Per-object scrapes: every queue.
    queues: Option<Vec<QueueStatsInfo>>,
}

/// A detailed scrape: only the asked-for families, per queue.
#[derive(Debug)]
struct Detailed {
    families: Vec<String>,
    queues: Vec<QueueStatsInfo>,
}

/// `/metrics`: node-wide families, no series per queue.
pub fn render_aggregated(admin: &Admin) -> String {
    render(Scrape {
        stats: admin.stats(),
        alarms: admin.alarms(),
        queues: None,
    })
}

/// `/metrics/per-object`: the same, and one series per queue.
pub fn render_per_object(admin: &Admin) -> String {
    render(Scrape {
        stats: admin.stats(),
        alarms: admin.alarms(),
        queues: Some(admin.queue_stats(None)),
    })
}

/// `/metrics/detailed`: the queue families asked for (RabbitMQ's `queue_coarse_metrics`,
/// `queue_consumer_count`), of the given vhosts (all if none); always the identity families.
pub fn render_detailed(admin: &Admin, families: &[String], vhosts: &[String]) -> String {
    let mut queues = admin.queue_stats(None);
    if !vhosts.is_empty() {
        queues.retain(|q| vhosts.contains(&q.vhost));
    }
    render(Detailed {
        families: families.to_vec(),
        queues,
    })
}

fn render(collector: impl Collector) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let e = &mut e;
        self.lifecycle(e)?;
        self.depths(e)?;
        if let Some(queues) = &self.queues {
            queue_families(e, "rabbitmq_", queues, true)?;
        }
        self.global(e)?;
        self.resources(e)?;
        identity(e)
    }
}

impl Collector for Detailed {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let e = &mut e;
        identity(e)?;
        let coarse = self.families.iter().any(|f| f == "queue_coarse_metrics");
        let consumers = self.families.iter().any(|f| f == "queue_consumer_count");
        if coarse {
            queue_depths(e, "rabbitmq_detailed_", &self.queues)?;
        }
        if consumers {
            queue_consumers(e, "rabbitmq_detailed_", &self.queues)?;
        }
        Ok(())
    }
}

impl Scrape {
    fn lifecycle(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let c = &self.stats.counters;
        counter(
            e,
            "rabbitmq_connections_opened_total",
            "Total number of connections opened",
            c.connections_opened,
        )?;
        counter(
            e,
            "rabbitmq_connections_closed_total",
            "Total number of connections closed or terminated",
            c.connections_closed,
        )?;
        counter(
            e,
            "rabbitmq_channels_opened_total",
            "Total number of channels opened",
            c.channels_opened,
        )?;
        counter(
            e,
            "rabbitmq_channels_closed_total",
            "Total number of channels closed",
            c.channels_closed,
        )?;
        counter(
            e,
            "rabbitmq_queues_declared_total",
            "Total number of queues declared",
            c.queues_declared,
        )?;
        counter(
            e,
            "rabbitmq_queues_created_total",
            "Total number of queues created",
            c.queues_created,
        )?;
        counter(
            e,
            "rabbitmq_queues_deleted_total",
            "Total number of queues deleted",
            c.queues_deleted,
        )
    }

    /// Node-wide sums of what RabbitMQ reports per queue and per channel.
    fn depths(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let s = &self.stats;
        if self.queues.is_some() {
            // Per object, these families carry one series per queue instead.
            return self.counts(e);
        }
        gauge(
            e,
            "rabbitmq_queue_messages_ready",
            HELP_READY,
            s.messages_ready,
        )?;
        gauge(
            e,
            "rabbitmq_queue_messages_unacked",
            HELP_UNACKED,
            s.messages_unacknowledged,
        )?;
        gauge(
            e,
            "rabbitmq_queue_messages",
            HELP_MESSAGES,
            s.messages_ready + s.messages_unacknowledged,
        )?;
        gauge(
            e,
            "rabbitmq_queue_consumers",
            HELP_QUEUE_CONSUMERS,
            s.consumers,
        )?;
        counter(
            e,
            "rabbitmq_queue_messages_published_total",
            HELP_PUBLISHED,
            s.queue_totals.publish,
        )?;
        gauge(
            e,
            "rabbitmq_channel_consumers",
            "Consumers on a channel",
            s.consumers,
        )?;
        self.counts(e)
    }

    fn counts(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let s = &self.stats;
        gauge(
            e,
            "rabbitmq_connections",
            "Connections currently open",
            s.connections,
        )?;
        gauge(
            e,
            "rabbitmq_channels",
            "Channels currently open",
            s.channels,
        )?;
        gauge(
            e,
            "rabbitmq_consumers",
            "Consumers currently connected",
            s.consumers,
        )?;
        gauge(e, "rabbitmq_queues", "Queues available", s.queues)
    }

    /// RabbitMQ's global counters: by protocol, the delivery side also by queue type.
    fn global(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let c = &self.stats.counters;
        let by_protocol: [(&str, &str, u64); 6] = [
            ("rabbitmq_global_messages_received_total", "Total number of messages received from publishers", c.messages_received),
            ("rabbitmq_global_messages_received_confirm_total", "Total number of messages received from publishers expecting confirmations", c.messages_received_confirm),
            ("rabbitmq_global_messages_routed_total", "Total number of messages routed to queues or streams", c.messages_routed),
            ("rabbitmq_global_messages_unroutable_dropped_total", "Total number of messages published as non-mandatory into an exchange and dropped as unroutable", c.messages_unroutable_dropped),
            ("rabbitmq_global_messages_unroutable_returned_total", "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable", c.messages_unroutable_returned),
            ("rabbitmq_global_messages_confirmed_total", "Total number of messages confirmed to publishers", c.messages_confirmed),
        ];
        for (name, help, v) in by_protocol {
            let mut m = e.encode_descriptor(bare(name), help, None, MetricType::Counter)?;
            encode_counter(m.encode_family(&[PROTOCOL])?, v)?;
        }
        let by_queue_type: [(&str, &str, u64); 8] = [
            ("rabbitmq_global_messages_delivered_total", "Total number of messages delivered to consumers", c.messages_delivered()),
            ("rabbitmq_global_messages_delivered_consume_auto_ack_total", "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment", c.messages_delivered_consume_auto_ack),
            ("rabbitmq_global_messages_delivered_consume_manual_ack_total", "Total number of messages delivered to consumers using basic.consume with manual acknowledgment", c.messages_delivered_consume_manual_ack),
            ("rabbitmq_global_messages_delivered_get_auto_ack_total", "Total number of messages delivered to consumers using basic.get with automatic acknowledgment", c.messages_delivered_get_auto_ack),
            ("rabbitmq_global_messages_delivered_get_manual_ack_total", "Total number of messages delivered to consumers using basic.get with manual acknowledgment", c.messages_delivered_get_manual_ack),
            ("rabbitmq_global_messages_get_empty_total", "Total number of times basic.get operations fetched no message", c.messages_get_empty),
            ("rabbitmq_global_messages_redelivered_total", "Total number of messages redelivered to consumers", c.messages_redelivered),
            ("rabbitmq_global_messages_acknowledged_total", "Total number of messages acknowledged by consumers", c.messages_acknowledged),
        ];
        for (name, help, v) in by_queue_type {
            let mut m = e.encode_descriptor(bare(name), help, None, MetricType::Counter)?;
            for (i, queue_type) in QUEUE_TYPES.into_iter().enumerate() {
                let labels = [PROTOCOL, ("queue_type", queue_type)];
                encode_counter(m.encode_family(&labels)?, if i == 0 { v } else { 0 })?;
            }
        }
        let publishers = c.publishers;
        let mut m = e.encode_descriptor(
            "rabbitmq_global_publishers",
            "Current number of publishers",
            None,
            MetricType::Gauge,
        )?;
        m.encode_family(&[PROTOCOL])?.encode_gauge(&publishers)?;
        let mut m = e.encode_descriptor(
            "rabbitmq_global_consumers",
            "Current number of consumers",
            None,
            MetricType::Gauge,
        )?;
        m.encode_family(&[PROTOCOL])?
            .encode_gauge(&self.stats.consumers)
    }

    /// Memory, disk, descriptors and the alarms.
    fn resources(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let a = &self.alarms;
        let max_fds = process::max_fds();
        gauge(
            e,
            "rabbitmq_process_open_fds",
            "Open file descriptors",
            process::open_fds(),
        )?;
        gauge(
            e,
            "rabbitmq_process_open_tcp_sockets",
            "Open TCP sockets",
            self.stats.connections,
        )?;
        gauge(
            e,
            "rabbitmq_process_resident_memory_bytes",
            "Memory used in bytes",
            a.memory_used,
        )?;
        gauge(
            e,
            "rabbitmq_disk_space_available_bytes",
            "Disk space available in bytes",
            a.disk_free.unwrap_or(0),
        )?;
        gauge(
            e,
            "rabbitmq_process_max_fds",
            "Open file descriptors limit",
            max_fds,
        )?;
        gauge(
            e,
            "rabbitmq_process_max_tcp_sockets",
            "Open TCP sockets limit",
            process::max_tcp_sockets(max_fds),
        )?;
        gauge(
            e,
            "rabbitmq_resident_memory_limit_bytes",
            "Memory high watermark in bytes",
            a.memory_limit,
        )?;
        gauge(
            e,
            "rabbitmq_disk_space_available_limit_bytes",
            "Free disk space low watermark in bytes",
            a.disk_free_limit,
        )?;
        untyped(
            e,
            "rabbitmq_alarms_memory_used_watermark",
            "is 1 if VM memory watermark alarm is in effect",
            u64::from(a.memory_alarm),
        )?;
        untyped(
            e,
            "rabbitmq_alarms_free_disk_space_watermark",
            "is 1 if free disk space watermark alarm is in effect",
            u64::from(a.disk_alarm),
        )
    }
}

const HELP_READY: &str = "Messages ready to be delivered to consumers";
const HELP_UNACKED: &str = "Messages delivered to consumers but not yet acknowledged";
const HELP_MESSAGES: &str = "Sum of ready and unacknowledged messages - total queue depth";
const HELP_QUEUE_CONSUMERS: &str = "Consumers on a queue";
const HELP_PUBLISHED: &str = "Total number of messages published to queues";

/// One series per queue: depths, consumers, and (per object) messages published.
fn queue_families(
    e: &mut DescriptorEncoder,
    prefix: &str,
    queues: &[QueueStatsInfo],
    published: bool,
) -> fmt::Result {
    queue_depths(e, prefix, queues)?;
    queue_consumers(e, prefix, queues)?;
    if published {
        let name = format!("{prefix}queue_messages_published");
        let mut m = e.encode_descriptor(&name, HELP_PUBLISHED, None, MetricType::Counter)?;
        for q in queues {
            encode_counter(m.encode_family(&queue_labels(q))?, q.counters.publish)?;
        }
    }
    Ok(())
}

/// Reads one figure of a queue.
type QueueValue = fn(&QueueStatsInfo) -> u64;

fn queue_depths(e: &mut DescriptorEncoder, prefix: &str, queues: &[QueueStatsInfo]) -> fmt::Result {
    let families: [(&str, &str, QueueValue); 3] = [
        ("queue_messages_ready", HELP_READY, |q| q.messages_ready),
        ("queue_messages_unacked", HELP_UNACKED, |q| {
            q.messages_unacknowledged
        }),
        ("queue_messages", HELP_MESSAGES, |q| {
            q.messages_ready + q.messages_unacknowledged
        }),
    ];
    for (name, help, value) in families {
        let name = format!("{prefix}{name}");
        let mut m = e.encode_descriptor(&name, help, None, MetricType::Gauge)?;
        for q in queues {
            m.encode_family(&queue_labels(q))?.encode_gauge(&value(q))?;
        }
    }
    Ok(())
}

fn queue_consumers(
    e: &mut DescriptorEncoder,
    prefix: &str,
    queues: &[QueueStatsInfo],
) -> fmt::Result {
    let name = format!("{prefix}queue_consumers");
    let mut m = e.encode_descriptor(&name, HELP_QUEUE_CONSUMERS, None, MetricType::Gauge)?;
    for q in queues {
        m.encode_family(&queue_labels(q))?
            .encode_gauge(&q.consumers)?;
    }
    Ok(())
}

fn queue_labels(q: &QueueStatsInfo) -> [(&'static str, Escaped<'_>); 2] {
    [("vhost", Escaped(&q.vhost)), ("queue", Escaped(&q.name))]
}

/// `rabbitmq_identity_info` and `rabbitmq_build_info`, in every answer as RabbitMQ has them.
fn identity(e: &mut DescriptorEncoder) -> fmt::Result {
    let node = node_name();
    let identity = [
        ("rabbitmq_node", Escaped(&node)),
        ("rabbitmq_cluster", Escaped(&node)),
        (
            "rabbitmq_cluster_permanent_id",
            Escaped("warren-cluster-id"),
        ),
    ];
    let mut m = e.encode_descriptor(
        "rabbitmq_identity_info",
        "RabbitMQ node & cluster identity info",
        None,
        MetricType::Unknown,
    )?;
    m.encode_family(&identity)?.encode_gauge(&1u64)?;
    let version = env!("CARGO_PKG_VERSION");
    let build = [
        ("rabbitmq_version", version),
        ("prometheus_plugin_version", version),
        ("prometheus_client_version", "0.24"),
        ("erlang_version", "none"),
    ];
    let mut m = e.encode_descriptor(
        "rabbitmq_build_info",
        "RabbitMQ & Erlang/OTP version info",
        None,
        MetricType::Unknown,
    )?;
    m.encode_family(&build)?.encode_gauge(&1u64)
}

/// prometheus-client appends `_total` to counter samples itself: the family name goes
/// without it.
fn bare(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    encode_counter(
        e.encode_descriptor(bare(name), help, None, MetricType::Counter)?,
        v,
    )
}

fn encode_counter(mut m: MetricEncoder, v: u64) -> fmt::Result {
    m.encode_counter::<NoLabelSet, u64, u64>(&v, None)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&v)
}

/// RabbitMQ's `untyped` families (OpenMetrics calls the type `unknown`).
fn untyped(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Unknown)?
        .encode_gauge(&v)
}

/// A label value with the exposition format's escapes (backslash, double quote, newline):
/// queue and vhost names may hold any of them.
#[derive(Debug, Clone, Copy)]
struct Escaped<'a>(&'a str);

impl EncodeLabelValue for Escaped<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}
