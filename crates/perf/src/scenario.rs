//! What a run does: the scenario types, the standard compare set, and the topology (queues,
//! exchange, bindings, routing keys) a flow scenario declares. No I/O here.

use std::time::Duration;

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

/// One kind of measurement.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Flow(FlowSpec),
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
}

/// A named scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub kind: Kind,
}

/// Command-line overrides of a standard scenario's messages (`run --scenario ... -s N
/// --persistent`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overrides {
    /// Body size in bytes instead of the scenario's own.
    pub size: Option<usize>,
    /// Persistent messages and durable queues (`false` leaves the scenario as it is).
    pub persistent: bool,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        self.size.is_none() && !self.persistent
    }
}

impl Scenario {
    /// Applies `o` to a flow or backlog scenario (the name stays; the description says what
    /// changed). Connection scenarios send no messages: overriding them is an error.
    pub fn apply(&mut self, o: Overrides) -> Result<(), String> {
        if o.is_empty() {
            return Ok(());
        }
        match &mut self.kind {
            Kind::Connections { .. } => Err(format!(
                "{} sends no messages: --size and --persistent do not apply",
                self.name
            )),
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
/// first so that its RSS delta is not blurred by memory the broker kept from earlier runs.
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

/// What a flow scenario declares and where producers publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// The exchange to declare (name, type), unless the default exchange is used.
    pub exchange: Option<(String, &'static str)>,
    pub queues: Vec<String>,
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
            routing_keys: queues.clone(),
            queues,
            bindings: vec![],
            publish_exchange: String::new(),
        },
        ExchangeType::Fanout => Topology {
            exchange: Some((xname.clone(), "fanout")),
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
                routing_keys: (0..nb).map(|j| format!("perf.{j}.x")).collect(),
                bindings,
                queues,
                publish_exchange: xname,
            }
        }
    }
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
                "backlog-500k"
            ]
        );
        for s in &set {
            if let Kind::Flow(f) = &s.kind {
                validate(f).unwrap();
                assert_eq!(f.duration, Duration::from_secs(10));
            }
        }
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
            persistent: false,
        })
        .unwrap();
        let Kind::Flow(spec) = &f.kind else { panic!() };
        assert_eq!((spec.size, spec.persistent), (100, false));
        assert!(f.description.ends_with("overridden: 100 B, transient"));
        let mut c = set[0].clone();
        assert!(c
            .apply(Overrides {
                size: None,
                persistent: true
            })
            .is_err());
        assert!(set[7]
            .clone()
            .apply(Overrides {
                size: Some(65 * 1024 * 1024),
                persistent: false
            })
            .is_err());
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
