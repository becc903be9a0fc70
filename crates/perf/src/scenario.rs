//! What a run does: the scenario types, the standard compare set, and the topology (queues,
//! queue arguments, exchange, bindings, routing keys) a flow or retry scenario declares. No
//! I/O here.

use std::time::Duration;
use warren_codec::{FieldTable, FieldValue, LongStr, ShortStr};

/// The exchange producers publish to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeType {
    /// The default exchange (""), routing key = queue name.
    Default,
    Direct,
    Fanout,
    Topic,
}

impl ExchangeType {
    pub fn parse(s: &str) -> Option<ExchangeType> {
        match s {
            "default" | "" => Some(ExchangeType::Default),
            "direct" => Some(ExchangeType::Direct),
            "fanout" => Some(ExchangeType::Fanout),
            "topic" => Some(ExchangeType::Topic),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ExchangeType::Default => "default",
            ExchangeType::Direct => "direct",
            ExchangeType::Fanout => "fanout",
            ExchangeType::Topic => "topic",
        }
    }
}

/// Producers and consumers moving messages for a fixed time.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSpec {
    pub producers: u32,
    pub consumers: u32,
    pub queues: u32,
    pub exchange: ExchangeType,
    /// Bindings for direct and topic exchanges, spread over the queues (at least one each).
    pub bindings: u32,
    /// Body size in bytes. Bodies of 8 bytes or more carry the send time (for latency).
    pub size: usize,
    /// delivery_mode 2 and durable queues.
    pub persistent: bool,
    /// Publisher confirms with at most this many unconfirmed messages per producer.
    pub confirm: Option<u32>,
    /// Consumer prefetch (basic.qos), 0 = unlimited.
    pub prefetch: u16,
    /// Ack every N deliveries with `multiple` (1 = ack each one singly).
    pub multi_ack_every: u32,
    /// Consume with no_ack (no acks at all).
    pub autoack: bool,
    /// Messages per second per producer; `None` = as fast as possible.
    pub rate: Option<f64>,
    pub duration: Duration,
}

impl Default for FlowSpec {
    fn default() -> Self {
        FlowSpec {
            producers: 1,
            consumers: 1,
            queues: 1,
            exchange: ExchangeType::Default,
            bindings: 0,
            size: 16,
            persistent: false,
            confirm: None,
            prefetch: 1000,
            multi_ack_every: 100,
            autoack: false,
            rate: None,
            duration: Duration::from_secs(10),
        }
    }
}

/// A dead-letter retry pipeline (RabbitMQ's DLX + TTL pattern): producers publish to a work
/// queue whose dead-letter route leads to a retry queue; the retry queue has `x-message-ttl`
/// and dead-letters back to the work queue. The consumer of the work queue nacks (requeue
/// false) each delivery until its `x-death` count for the work queue reaches `retries`, then
/// acks it. A message is *completed* when it is acked.
///
/// The producer is flat out but closed-loop: at most `window` messages are published and not
/// yet completed. Unbounded, it would only measure a growing backlog: Warren has no flow
/// control towards queues (docs/benchmarks.md), so the work queue would grow without limit and
/// every retried message would wait behind all of it, and the completed rate would say how long
/// that backlog took to build. With the window the pipeline holds a bounded number of messages,
/// and it is the broker's rate as long as the window is larger than rate x (TTL + the time a
/// message spends being delivered twice), checked in docs/benchmarks.md by changing it. The
/// measured window starts once a whole window of messages has completed (at most 20 s after
/// the start): before that the pipeline is still filling, and a slower broker spends a larger
/// share of a fixed-length run filling it, so counting those seconds would widen the gap
/// beyond the difference in steady rates.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySpec {
    /// Body size in bytes (8 or more carries the send time: publish-to-completion latency).
    pub size: usize,
    /// delivery_mode 2 and durable queues.
    pub persistent: bool,
    /// The retry queue's `x-message-ttl`.
    pub ttl: Duration,
    /// Deliveries nacked before the one that is acked (each is one trip through the retry
    /// queue).
    pub retries: u32,
    /// Most messages published and not yet completed, over all producers.
    pub window: u32,
    /// Consumer prefetch (basic.qos), 0 = unlimited.
    pub prefetch: u16,
    pub duration: Duration,
}

impl Default for RetrySpec {
    fn default() -> Self {
        RetrySpec {
            size: 16,
            persistent: false,
            ttl: Duration::from_millis(20),
            retries: 1,
            window: 10_000,
            prefetch: 1000,
            duration: Duration::from_secs(10),
        }
    }
}

/// The names of a retry pipeline's two queues.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryQueues {
    pub work: String,
    pub retry: String,
}

/// One kind of measurement.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Flow(FlowSpec),
    /// A DLX + TTL retry pipeline; see [`RetrySpec`].
    Retry(RetrySpec),
    /// Open `count` connections, each with one channel, one server-named exclusive
    /// auto-delete queue and one consumer (with acks) on it; hold them, close them (which
    /// deletes the queues). Measures the opening rate and broker RSS per connection.
    Connections {
        count: u32,
        hold: Duration,
    },
    /// Publish `messages` into one queue with nobody consuming (confirmed, so they are really
    /// in the queue), then drain them with one consumer. Measures broker RSS per queued
    /// message (from a steady RSS before publishing to the RSS with the backlog queued).
    Backlog {
        messages: u64,
        size: usize,
        persistent: bool,
        confirm: u32,
        prefetch: u16,
        multi_ack_every: u32,
        /// Upper bound on the whole scenario.
        timeout: Duration,
    },
    /// `burst` flat out (its queues deleted at its end, with whatever they still hold), then
    /// at once `measured` on the same broker; the result is `measured`'s. Finds what a burst
    /// leaves behind that slows everyone after it (issue 17: latency after fanout-10).
    AfterBurst {
        burst: Box<FlowSpec>,
        measured: Box<FlowSpec>,
    },
}

/// A named scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub kind: Kind,
}

/// Command-line overrides of a standard scenario's messages (`run --scenario ... -s N
/// --persistent`, and for the retry pipeline `--ttl-ms` and `--window`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overrides {
    /// Body size in bytes instead of the scenario's own.
    pub size: Option<usize>,
    /// Persistent messages and durable queues (`false` leaves the scenario as it is).
    pub persistent: bool,
    /// The retry queue's TTL (retry pipeline only).
    pub ttl: Option<Duration>,
    /// The most messages in the pipeline (retry pipeline only).
    pub window: Option<u32>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        self.size.is_none() && !self.persistent && self.ttl.is_none() && self.window.is_none()
    }

    fn retry_only(&self) -> bool {
        self.ttl.is_some() || self.window.is_some()
    }
}

impl Scenario {
    /// Applies `o` to a flow or backlog scenario (the name stays; the description says what
    /// changed). Connection scenarios send no messages: overriding them is an error.
    pub fn apply(&mut self, o: Overrides) -> Result<(), String> {
        if o.is_empty() {
            return Ok(());
        }
        if o.retry_only() && !matches!(self.kind, Kind::Retry(_)) {
            return Err(format!(
                "{} is not a retry pipeline: --ttl-ms and --window do not apply",
                self.name
            ));
        }
        match &mut self.kind {
            Kind::Connections { .. } => Err(format!(
                "{} sends no messages: --size and --persistent do not apply",
                self.name
            )),
            Kind::AfterBurst { .. } => Err(format!(
                "{} is two standard runs in a row: --size and --persistent do not apply",
                self.name
            )),
            Kind::Retry(r) => {
                if let Some(size) = o.size {
                    r.size = size;
                }
                r.persistent |= o.persistent;
                if let Some(ttl) = o.ttl {
                    r.ttl = ttl;
                }
                if let Some(window) = o.window {
                    r.window = window;
                }
                validate_retry(r)?;
                self.description = retry_description(r);
                Ok(())
            }
            Kind::Flow(f) => {
                if let Some(size) = o.size {
                    f.size = size;
                }
                f.persistent |= o.persistent;
                validate(f)?;
                self.description = format!(
                    "{}; overridden: {} B, {}",
                    self.description,
                    f.size,
                    if f.persistent {
                        "persistent"
                    } else {
                        "transient"
                    }
                );
                Ok(())
            }
            Kind::Backlog {
                messages,
                size,
                persistent,
                confirm,
                ..
            } => {
                if let Some(s) = o.size {
                    check_size(s)?;
                    *size = s;
                }
                *persistent |= o.persistent;
                self.description = backlog_description(*messages, *size, *persistent, *confirm);
                Ok(())
            }
        }
    }
}

/// The description of a backlog scenario.
pub fn backlog_description(messages: u64, size: usize, persistent: bool, confirm: u32) -> String {
    format!(
        "publish {messages} x {size} B {} (confirms {confirm} in flight) with no consumer, \
         then drain with 1 consumer; broker RSS per queued message",
        if persistent {
            "persistent, durable queue"
        } else {
            "transient"
        }
    )
}

/// The description of a retry-pipeline scenario.
pub fn retry_description(r: &RetrySpec) -> String {
    format!(
        "1 producer -> work queue -> 1 consumer, {} B {}; the consumer nacks each message {} \
         (dead-lettered to a retry queue with x-message-ttl {} ms, which dead-letters it back) \
         and acks it after {}; at most {} messages in the pipeline; completed (acked) msg/s",
        r.size,
        if r.persistent {
            "persistent, durable queues"
        } else {
            "transient"
        },
        if r.retries == 1 {
            "once".to_string()
        } else {
            format!("{} times", r.retries)
        },
        r.ttl.as_millis(),
        if r.retries == 1 {
            "its retry".to_string()
        } else {
            format!("{} retries", r.retries)
        },
        r.window,
    )
}

/// Knobs the compare mode applies to the whole standard set.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardParams {
    pub duration: Duration,
    pub connections: u32,
    pub backlog: u64,
}

impl Default for StandardParams {
    fn default() -> Self {
        StandardParams {
            duration: Duration::from_secs(10),
            connections: 1000,
            backlog: 500_000,
        }
    }
}

/// The standard scenario set, in the order compare mode runs it. The connection scenario runs
/// first so that its RSS delta is not blurred by memory the broker kept from earlier runs. The
/// retry pipeline came later than the others and runs last, so that the earlier scenarios run
/// exactly as they did before it existed (their figures stay comparable with older runs).
pub fn standard_set(p: &StandardParams) -> Vec<Scenario> {
    let flow = |f: FlowSpec| {
        Kind::Flow(FlowSpec {
            duration: p.duration,
            ..f
        })
    };
    vec![
        Scenario {
            name: format!("connections-{}", p.connections),
            description: format!(
                "open {} connections, each with 1 channel, 1 server-named exclusive auto-delete \
                 queue and 1 consumer; hold 3 s; broker RSS per connection",
                p.connections
            ),
            kind: Kind::Connections {
                count: p.connections,
                hold: Duration::from_secs(3),
            },
        },
        Scenario {
            name: "transient-16b".into(),
            description: "1 producer -> 1 queue -> 1 consumer, 16 B, transient, flat out".into(),
            kind: flow(FlowSpec::default()),
        },
        Scenario {
            name: "transient-1k".into(),
            description: "1 -> 1, 1 KiB, transient, flat out".into(),
            kind: flow(FlowSpec {
                size: 1024,
                ..FlowSpec::default()
            }),
        },
        Scenario {
            name: "persistent-confirms".into(),
            description: "1 -> 1, 1 KiB, persistent, durable queue, confirms 1,000 in flight"
                .into(),
            kind: flow(FlowSpec {
                size: 1024,
                persistent: true,
                confirm: Some(1000),
                ..FlowSpec::default()
            }),
        },
        Scenario {
            name: "fanout-10".into(),
            description: "1 producer -> fanout -> 10 queues -> 10 consumers, 16 B".into(),
            kind: flow(FlowSpec {
                queues: 10,
                consumers: 10,
                exchange: ExchangeType::Fanout,
                ..FlowSpec::default()
            }),
        },
        Scenario {
            name: "topic-1k-bindings".into(),
            description: "1 producer -> topic, 1000 bindings over 10 queues -> 10 consumers, 16 B"
                .into(),
            kind: flow(FlowSpec {
                queues: 10,
                consumers: 10,
                exchange: ExchangeType::Topic,
                bindings: 1000,
                ..FlowSpec::default()
            }),
        },
        Scenario {
            name: "latency-5k".into(),
            description: "1 -> 1, 16 B, fixed 5,000 msg/s: end-to-end latency".into(),
            kind: flow(FlowSpec {
                rate: Some(5000.0),
                ..FlowSpec::default()
            }),
        },
        Scenario {
            name: format!("backlog-{}", short_count(p.backlog)),
            description: backlog_description(p.backlog, 100, false, 1000),
            kind: Kind::Backlog {
                messages: p.backlog,
                size: 100,
                persistent: false,
                confirm: 1000,
                prefetch: 1000,
                multi_ack_every: 100,
                timeout: Duration::from_secs(300),
            },
        },
        {
            let r = RetrySpec {
                duration: p.duration,
                ..RetrySpec::default()
            };
            Scenario {
                name: "retry-pipeline".into(),
                description: retry_description(&r),
                kind: Kind::Retry(r),
            }
        },
        Scenario {
            name: "latency-after-fanout".into(),
            description: "fanout-10 flat out, then at once latency-5k on the same broker: \
                          latency after a burst"
                .into(),
            kind: Kind::AfterBurst {
                burst: Box::new(FlowSpec {
                    duration: p.duration,
                    queues: 10,
                    consumers: 10,
                    exchange: ExchangeType::Fanout,
                    ..FlowSpec::default()
                }),
                measured: Box::new(FlowSpec {
                    duration: p.duration,
                    rate: Some(5000.0),
                    ..FlowSpec::default()
                }),
            },
        },
    ]
}

fn short_count(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}m", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn check_size(size: usize) -> Result<(), String> {
    if size > 64 * 1024 * 1024 {
        return Err("message size over 64 MiB".into());
    }
    Ok(())
}

/// Checks a flow spec for combinations that cannot work.
pub fn validate(f: &FlowSpec) -> Result<(), String> {
    if f.producers == 0 && f.consumers == 0 {
        return Err("need at least one producer or consumer".into());
    }
    if f.queues == 0 {
        return Err("need at least one queue".into());
    }
    check_size(f.size)?;
    if let Some(r) = f.rate {
        if !(r > 0.0 && r.is_finite()) {
            return Err("rate must be a positive number".into());
        }
    }
    if f.confirm == Some(0) {
        return Err("confirm window must be at least 1".into());
    }
    if f.multi_ack_every == 0 {
        return Err("multi-ack-every must be at least 1".into());
    }
    if !f.autoack && f.prefetch != 0 && f.multi_ack_every > u32::from(f.prefetch) {
        return Err(format!(
            "multi-ack-every ({}) above prefetch ({}) would stall the consumer",
            f.multi_ack_every, f.prefetch
        ));
    }
    if f.duration.is_zero() {
        return Err("duration must be positive".into());
    }
    Ok(())
}

/// Checks a retry spec for combinations that cannot work.
pub fn validate_retry(r: &RetrySpec) -> Result<(), String> {
    check_size(r.size)?;
    if r.retries == 0 {
        return Err("a retry pipeline needs at least one retry".into());
    }
    if r.window == 0 {
        return Err("window must be at least 1".into());
    }
    // x-message-ttl is whole milliseconds; 0 would expire every message at once, before any
    // consumer sees it in the retry queue, which is a different pipeline.
    if r.ttl < Duration::from_millis(1) || r.ttl > Duration::from_secs(3600) {
        return Err("retry TTL must be between 1 ms and 1 hour".into());
    }
    if r.duration.is_zero() {
        return Err("duration must be positive".into());
    }
    Ok(())
}

/// What a flow or retry scenario declares and where producers publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// The exchange to declare (name, type), unless the default exchange is used.
    pub exchange: Option<(String, &'static str)>,
    pub queues: Vec<String>,
    /// queue.declare arguments, one table per queue of `queues` (same order); empty tables
    /// for plain queues.
    pub arguments: Vec<FieldTable>,
    /// (queue, exchange, routing key) for queue.bind.
    pub bindings: Vec<(String, String, String)>,
    /// The exchange producers publish to.
    pub publish_exchange: String,
    /// Routing keys producers cycle through, one per message.
    pub routing_keys: Vec<String>,
}

impl Topology {
    /// The queue consumer `i` reads from (consumers are spread round-robin).
    pub fn consumer_queue(&self, i: u32) -> &str {
        &self.queues[i as usize % self.queues.len()]
    }

    /// How many queues one published message reaches.
    pub fn fan_out(&self, ex: ExchangeType) -> usize {
        match ex {
            ExchangeType::Fanout => self.queues.len(),
            _ => 1,
        }
    }
}

/// Builds the topology of a flow spec; all names start with `prefix`.
pub fn topology(f: &FlowSpec, prefix: &str) -> Topology {
    let queues: Vec<String> = (0..f.queues.max(1))
        .map(|i| format!("{prefix}-q{i}"))
        .collect();
    let xname = format!("{prefix}-x");
    let nb = f.bindings.max(queues.len() as u32);
    let spread = |key: &dyn Fn(u32) -> String| -> Vec<(String, String, String)> {
        (0..nb)
            .map(|j| {
                (
                    queues[j as usize % queues.len()].clone(),
                    xname.clone(),
                    key(j),
                )
            })
            .collect()
    };
    match f.exchange {
        ExchangeType::Default => Topology {
            exchange: None,
            arguments: plain(&queues),
            routing_keys: queues.clone(),
            queues,
            bindings: vec![],
            publish_exchange: String::new(),
        },
        ExchangeType::Fanout => Topology {
            exchange: Some((xname.clone(), "fanout")),
            arguments: plain(&queues),
            bindings: queues
                .iter()
                .map(|q| (q.clone(), xname.clone(), String::new()))
                .collect(),
            queues,
            publish_exchange: xname,
            routing_keys: vec![String::new()],
        },
        ExchangeType::Direct => {
            let bindings = spread(&|j| format!("k{j}"));
            Topology {
                exchange: Some((xname.clone(), "direct")),
                arguments: plain(&queues),
                routing_keys: bindings.iter().map(|b| b.2.clone()).collect(),
                bindings,
                queues,
                publish_exchange: xname,
            }
        }
        ExchangeType::Topic => {
            // Binding j is `perf.j.*`; key `perf.j.x` matches exactly that one binding.
            let bindings = spread(&|j| format!("perf.{j}.*"));
            Topology {
                exchange: Some((xname.clone(), "topic")),
                arguments: plain(&queues),
                routing_keys: (0..nb).map(|j| format!("perf.{j}.x")).collect(),
                bindings,
                queues,
                publish_exchange: xname,
            }
        }
    }
}

fn plain(queues: &[String]) -> Vec<FieldTable> {
    vec![FieldTable::new(); queues.len()]
}

fn dead_letter_to(queue: &str) -> FieldTable {
    let mut t = FieldTable::new();
    // The default exchange with the target queue's name as routing key: no exchange or binding
    // to declare, and the same route on every broker.
    t.push(
        ShortStr::from_static("x-dead-letter-exchange"),
        FieldValue::LongStr(LongStr::from(String::new())),
    );
    t.push(
        ShortStr::from_static("x-dead-letter-routing-key"),
        FieldValue::LongStr(LongStr::from(queue.to_string())),
    );
    t
}

/// Builds a retry pipeline's topology; all names start with `prefix`. Producers publish to the
/// work queue through the default exchange; both dead-letter routes also use it.
pub fn retry_topology(r: &RetrySpec, prefix: &str) -> (Topology, RetryQueues) {
    let q = RetryQueues {
        work: format!("{prefix}-work"),
        retry: format!("{prefix}-retry"),
    };
    let work_args = dead_letter_to(&q.retry);
    let mut retry_args = FieldTable::new();
    retry_args.push(
        ShortStr::from_static("x-message-ttl"),
        FieldValue::I64(r.ttl.as_millis().min(i64::MAX as u128) as i64),
    );
    for (k, v) in dead_letter_to(&q.work).iter() {
        retry_args.push(k.clone(), v.clone());
    }
    let top = Topology {
        exchange: None,
        queues: vec![q.work.clone(), q.retry.clone()],
        arguments: vec![work_args, retry_args],
        bindings: vec![],
        publish_exchange: String::new(),
        routing_keys: vec![q.work.clone()],
    };
    (top, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_set_has_every_scenario_of_the_issue() {
        let set = standard_set(&StandardParams::default());
        let names: Vec<&str> = set.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "connections-1000",
                "transient-16b",
                "transient-1k",
                "persistent-confirms",
                "fanout-10",
                "topic-1k-bindings",
                "latency-5k",
                "backlog-500k",
                "retry-pipeline",
                "latency-after-fanout"
            ]
        );
        for s in &set {
            if let Kind::Flow(f) = &s.kind {
                validate(f).unwrap();
                assert_eq!(f.duration, Duration::from_secs(10));
            }
        }
        let Kind::Retry(r) = &set[8].kind else {
            panic!()
        };
        validate_retry(r).unwrap();
        assert_eq!(
            (r.size, r.persistent, r.ttl, r.retries, r.duration),
            (
                16,
                false,
                Duration::from_millis(20),
                1,
                Duration::from_secs(10)
            )
        );
        assert!(
            set[8].description.contains("x-message-ttl 20 ms"),
            "{}",
            set[8].description
        );
        // The issue's parameters: 1,000 confirms in flight, 500,000 x 100 B transient backlog.
        let Kind::Flow(pc) = &set[3].kind else {
            panic!()
        };
        assert_eq!(
            (pc.confirm, pc.size, pc.persistent),
            (Some(1000), 1024, true)
        );
        assert!(set[3].description.contains("1,000 in flight"));
        let Kind::Backlog {
            messages,
            size,
            persistent,
            ..
        } = set[7].kind
        else {
            panic!()
        };
        assert_eq!((messages, size, persistent), (500_000, 100, false));
        assert!(set[7].description.contains("500000 x 100 B transient"));
        assert!(matches!(set[0].kind, Kind::Connections { count: 1000, .. }));
        assert!(set[0]
            .description
            .contains("exclusive auto-delete queue and 1 consumer"));
    }

    #[test]
    fn overrides_change_backlog_and_flow_messages() {
        let set = standard_set(&StandardParams::default());
        let mut b = set[7].clone();
        b.apply(Overrides::default()).unwrap();
        assert_eq!(b, set[7]);
        b.apply(Overrides {
            size: Some(1024),
            persistent: true,
            ..Overrides::default()
        })
        .unwrap();
        let Kind::Backlog {
            size, persistent, ..
        } = b.kind
        else {
            panic!()
        };
        assert_eq!((size, persistent), (1024, true));
        assert!(
            b.description.contains("1024 B persistent"),
            "{}",
            b.description
        );
        assert_eq!(b.name, "backlog-500k");
        let mut f = set[1].clone();
        f.apply(Overrides {
            size: Some(100),
            ..Overrides::default()
        })
        .unwrap();
        let Kind::Flow(spec) = &f.kind else { panic!() };
        assert_eq!((spec.size, spec.persistent), (100, false));
        assert!(f.description.ends_with("overridden: 100 B, transient"));
        let mut c = set[0].clone();
        assert!(c
            .apply(Overrides {
                persistent: true,
                ..Overrides::default()
            })
            .is_err());
        assert!(set[7]
            .clone()
            .apply(Overrides {
                size: Some(65 * 1024 * 1024),
                ..Overrides::default()
            })
            .is_err());
    }

    #[test]
    fn overrides_change_the_retry_pipeline_and_only_it() {
        let set = standard_set(&StandardParams::default());
        let mut r = set[8].clone();
        r.apply(Overrides {
            size: Some(1024),
            persistent: true,
            ttl: Some(Duration::from_millis(50)),
            window: Some(500),
        })
        .unwrap();
        let Kind::Retry(spec) = &r.kind else { panic!() };
        assert_eq!(
            (
                spec.size,
                spec.persistent,
                spec.ttl,
                spec.window,
                spec.retries
            ),
            (1024, true, Duration::from_millis(50), 500, 1)
        );
        assert!(r.description.contains("1024 B persistent, durable queues"));
        assert!(r.description.contains("x-message-ttl 50 ms"));
        assert!(r.description.contains("at most 500 messages"));
        // A window of 0 would never publish; a TTL under 1 ms is not a TTL x-message-ttl has.
        for bad in [
            Overrides {
                window: Some(0),
                ..Overrides::default()
            },
            Overrides {
                ttl: Some(Duration::ZERO),
                ..Overrides::default()
            },
        ] {
            assert!(set[8].clone().apply(bad).is_err(), "{bad:?}");
        }
        // --ttl-ms and --window mean nothing to the other scenarios.
        let err = set[1]
            .clone()
            .apply(Overrides {
                window: Some(10),
                ..Overrides::default()
            })
            .unwrap_err();
        assert!(err.contains("not a retry pipeline"), "{err}");
        assert!(validate_retry(&RetrySpec {
            retries: 0,
            ..RetrySpec::default()
        })
        .is_err());
    }

    #[test]
    fn retry_topology_dead_letters_work_to_retry_and_back() {
        let spec = RetrySpec {
            ttl: Duration::from_millis(30),
            ..RetrySpec::default()
        };
        let (t, q) = retry_topology(&spec, "p");
        assert_eq!((q.work.as_str(), q.retry.as_str()), ("p-work", "p-retry"));
        assert_eq!(t.queues, vec!["p-work".to_string(), "p-retry".to_string()]);
        assert_eq!(t.arguments.len(), 2);
        // Producers publish to the work queue through the default exchange; nothing to bind.
        assert_eq!(
            (t.exchange.clone(), t.publish_exchange.as_str()),
            (None, "")
        );
        assert_eq!(t.routing_keys, vec!["p-work".to_string()]);
        assert!(t.bindings.is_empty());
        let text =
            |t: &FieldTable, k: &str| t.get(k).and_then(FieldValue::as_str).map(String::from);
        let work = &t.arguments[0];
        assert_eq!(text(work, "x-dead-letter-exchange").as_deref(), Some(""));
        assert_eq!(
            text(work, "x-dead-letter-routing-key").as_deref(),
            Some("p-retry")
        );
        assert_eq!(work.get("x-message-ttl"), None);
        let retry = &t.arguments[1];
        assert_eq!(
            retry.get("x-message-ttl").and_then(FieldValue::as_i64),
            Some(30)
        );
        assert_eq!(text(retry, "x-dead-letter-exchange").as_deref(), Some(""));
        assert_eq!(
            text(retry, "x-dead-letter-routing-key").as_deref(),
            Some("p-work")
        );
        // Flow topologies declare plain queues.
        let flow = topology(
            &FlowSpec {
                queues: 3,
                ..FlowSpec::default()
            },
            "f",
        );
        assert_eq!(flow.arguments, vec![FieldTable::new(); 3]);
    }

    #[test]
    fn topic_topology_routes_each_key_to_one_binding() {
        let f = FlowSpec {
            queues: 10,
            exchange: ExchangeType::Topic,
            bindings: 1000,
            ..FlowSpec::default()
        };
        let t = topology(&f, "p");
        assert_eq!(t.bindings.len(), 1000);
        assert_eq!(t.routing_keys.len(), 1000);
        assert_eq!(
            t.bindings[7],
            ("p-q7".into(), "p-x".into(), "perf.7.*".into())
        );
        assert_eq!(t.routing_keys[7], "perf.7.x");
        assert_eq!(t.bindings.iter().filter(|b| b.0 == "p-q3").count(), 100);
        assert_eq!(t.exchange, Some(("p-x".into(), "topic")));
    }

    #[test]
    fn fanout_and_default_topologies() {
        let f = FlowSpec {
            queues: 3,
            exchange: ExchangeType::Fanout,
            ..FlowSpec::default()
        };
        let t = topology(&f, "p");
        assert_eq!(t.bindings.len(), 3);
        assert_eq!(t.routing_keys, vec![String::new()]);
        assert_eq!(t.fan_out(ExchangeType::Fanout), 3);
        let t = topology(&FlowSpec::default(), "p");
        assert_eq!(
            (t.exchange.clone(), t.publish_exchange.as_str()),
            (None, "")
        );
        assert_eq!(t.routing_keys, vec!["p-q0".to_string()]);
        assert_eq!(t.consumer_queue(5), "p-q0");
    }

    #[test]
    fn validation_rejects_stalls_and_nonsense() {
        let ok = FlowSpec::default();
        assert!(validate(&ok).is_ok());
        let stall = FlowSpec {
            prefetch: 10,
            multi_ack_every: 50,
            ..ok.clone()
        };
        assert!(validate(&stall).unwrap_err().contains("stall"));
        assert!(validate(&FlowSpec {
            autoack: true,
            ..stall
        })
        .is_ok());
        assert!(validate(&FlowSpec {
            rate: Some(0.0),
            ..ok.clone()
        })
        .is_err());
        assert!(validate(&FlowSpec {
            confirm: Some(0),
            ..ok
        })
        .is_err());
    }
}
