//! The command line (clap) and its translation into scenarios and targets.

use crate::client::AmqpUri;
use crate::floor::FloorSpec;
use crate::runner::RunOptions;
use crate::runner::Target;
use crate::scenario::{self, ExchangeType, FlowSpec, Kind, Overrides, Scenario, StandardParams};
use clap::{Args, Parser, Subcommand};
use std::time::Duration;

pub const DEFAULT_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// warren-perf: throughput and latency of AMQP 0-9-1 brokers, in the spirit of RabbitMQ's
/// PerfTest.
#[derive(Debug, Parser)]
#[command(name = "warren-perf", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Client runtime threads (1 = a single-threaded runtime, the cheapest per message).
    #[arg(long, global = true, default_value_t = 1)]
    pub threads: usize,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one scenario against one broker.
    Run(RunArgs),
    /// Run the standard scenario set against two brokers, interleaved, with ratios.
    Compare(CompareArgs),
    /// List the standard scenarios.
    List(ListArgs),
    /// Measure this machine's latency floor: a forwarder that does no work, paced like
    /// latency-5k (see docs/benchmarks.md).
    Floor(FloorArgs),
    /// The soak benchmark against one broker: flood with a memory watermark, a slow consumer,
    /// then drain and check every confirmed id (scripts/bench-soak runs it on both brokers).
    Soak(crate::soak::args::SoakArgs),
    /// Prints `soak --json` files side by side as one markdown table.
    SoakReport(crate::soak::args::SoakReportArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Broker URI.
    #[arg(long, default_value = DEFAULT_URI)]
    pub uri: String,
    /// Run this standard scenario (see `list`) instead of one built from the flags below;
    /// --duration, --count, -s/--size and --persistent still apply.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Label for the broker in reports.
    #[arg(long, default_value = "broker")]
    pub label: String,
    /// Broker pid, for its CPU and RSS from /proc.
    #[arg(long)]
    pub broker_pid: Option<u32>,
    #[arg(short = 'x', long, default_value_t = 1)]
    pub producers: u32,
    #[arg(short = 'y', long, default_value_t = 1)]
    pub consumers: u32,
    #[arg(long, default_value_t = 1)]
    pub queues: u32,
    /// default (the "" exchange), direct, fanout or topic.
    #[arg(short = 't', long, default_value = "default")]
    pub exchange_type: String,
    /// Direct/topic bindings spread over the queues (default: one per queue).
    #[arg(long, default_value_t = 0)]
    pub bindings: u32,
    /// Body size in bytes (8 or more carries the send time, for latency). Default: 16, or with
    /// --scenario the scenario's own size (e.g. 100 for backlog-N), which this overrides.
    #[arg(short = 's', long)]
    pub size: Option<usize>,
    /// Persistent messages and durable queues (with --scenario: makes a flow or backlog
    /// scenario persistent).
    #[arg(long)]
    pub persistent: bool,
    /// Publisher confirms with at most N unconfirmed messages per producer.
    #[arg(short = 'c', long)]
    pub confirm: Option<u32>,
    /// Consumer prefetch (0 = unlimited).
    #[arg(short = 'q', long, default_value_t = 1000)]
    pub prefetch: u16,
    /// Ack with `multiple` every N deliveries (1 = single acks).
    #[arg(long, default_value_t = 100)]
    pub multi_ack_every: u32,
    /// Consume without acks.
    #[arg(short = 'a', long)]
    pub autoack: bool,
    /// Messages per second per producer (default: flat out).
    #[arg(short = 'r', long)]
    pub rate: Option<f64>,
    /// Seconds to run (or to scale a standard scenario to).
    #[arg(short = 'z', long, default_value_t = 10.0)]
    pub duration: f64,
    /// For --scenario connections-N / backlog-N: how many.
    #[arg(long)]
    pub count: Option<u64>,
    /// For --scenario retry-pipeline: the retry queue's x-message-ttl, ms (default 20).
    #[arg(long)]
    pub ttl_ms: Option<u64>,
    /// For --scenario retry-pipeline: the most messages published and not yet completed
    /// (default 10,000).
    #[arg(long)]
    pub window: Option<u32>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<String>,
    /// Do not delete the scenario's queues and exchange at the end; prints their names. With
    /// --scenario backlog-N the backlog is also not drained (a durable backlog for a recovery
    /// test: --scenario backlog-1000000 --persistent --keep). No effect on connections-N,
    /// whose exclusive queues go with their connections.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Broker A (the one ratios favour when above 1; Warren).
    #[arg(long)]
    pub uri_a: String,
    /// Broker B (RabbitMQ).
    #[arg(long)]
    pub uri_b: String,
    #[arg(long, default_value = "Warren")]
    pub name_a: String,
    #[arg(long, default_value = "RabbitMQ")]
    pub name_b: String,
    /// Broker A's pid (CPU and RSS).
    #[arg(long)]
    pub pid_a: Option<u32>,
    /// Broker B's pid (for RabbitMQ, the beam.smp listening on its port).
    #[arg(long)]
    pub pid_b: Option<u32>,
    /// Seconds per timed scenario.
    #[arg(short = 'z', long, default_value_t = 10.0)]
    pub duration: f64,
    /// Connections in the connection scenario.
    #[arg(long, default_value_t = 1000)]
    pub connections: u32,
    /// Messages in the backlog scenario.
    #[arg(long, default_value_t = 500_000)]
    pub backlog: u64,
    /// Only these scenarios (comma-separated names or prefixes, e.g. transient,latency).
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Times to run each scenario on each broker (medians are reported).
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
    /// Seconds to wait between runs (lets the brokers settle).
    #[arg(long, default_value_t = 2.0)]
    pub pause: f64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<String>,
}

#[derive(Debug, Args)]
pub struct FloorArgs {
    /// Records per second.
    #[arg(short = 'r', long, default_value_t = 5000.0)]
    pub rate: f64,
    /// Seconds to run.
    #[arg(short = 'z', long, default_value_t = 10.0)]
    pub duration: f64,
    /// Worker threads of the forwarder's runtime (default: one per core, as Warren's).
    #[arg(long)]
    pub forwarder_threads: Option<usize>,
    /// Times to run it (each printed, then the medians).
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
    /// A forwarder that busy-polls (never sleeps) instead of a tokio runtime.
    #[arg(long)]
    pub spin: bool,
}

impl FloorArgs {
    pub fn spec(&self) -> Result<FloorSpec, String> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err("--rate must be above 0".into());
        }
        Ok(FloorSpec {
            rate: self.rate,
            duration: secs(self.duration, "--duration")?,
            forwarder_threads: self
                .forwarder_threads
                .unwrap_or_else(crate::floor::default_threads),
            spin: self.spin,
        })
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(short = 'z', long, default_value_t = 10.0)]
    pub duration: f64,
}

fn secs(v: f64, what: &str) -> Result<Duration, String> {
    if v.is_finite() && v > 0.0 && v < 86_400.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!("{what} must be between 0 and 86400 seconds"))
    }
}

impl RunArgs {
    /// The scenario these arguments describe.
    pub fn to_scenario(&self) -> Result<Scenario, String> {
        let duration = secs(self.duration, "--duration")?;
        if let Some(name) = &self.scenario {
            let mut p = StandardParams {
                duration,
                ..StandardParams::default()
            };
            if let Some(n) = self.count {
                p.connections = u32::try_from(n).map_err(|_| "--count too large".to_string())?;
                p.backlog = n;
            }
            let set = scenario::standard_set(&p);
            let mut sc = find(&set, name)
                .cloned()
                .ok_or_else(|| format!("no standard scenario {name} (see `warren-perf list`)"))?;
            sc.apply(Overrides {
                size: self.size,
                persistent: self.persistent,
                ttl: self.ttl_ms.map(Duration::from_millis),
                window: self.window,
            })?;
            return Ok(sc);
        }
        if self.ttl_ms.is_some() || self.window.is_some() {
            return Err("--ttl-ms and --window go with --scenario retry-pipeline".into());
        }
        let exchange = ExchangeType::parse(&self.exchange_type)
            .ok_or_else(|| format!("unknown exchange type {}", self.exchange_type))?;
        let f = FlowSpec {
            producers: self.producers,
            consumers: self.consumers,
            queues: self.queues,
            exchange,
            bindings: self.bindings,
            size: self.size.unwrap_or(FlowSpec::default().size),
            persistent: self.persistent,
            confirm: self.confirm,
            prefetch: self.prefetch,
            multi_ack_every: self.multi_ack_every,
            autoack: self.autoack,
            rate: self.rate,
            duration,
        };
        scenario::validate(&f)?;
        Ok(Scenario {
            name: "custom".into(),
            description: describe(&f),
            kind: Kind::Flow(f),
        })
    }

    pub fn options(&self) -> RunOptions {
        RunOptions { keep: self.keep }
    }

    pub fn target(&self) -> Result<Target, String> {
        Ok(Target {
            label: self.label.clone(),
            uri: self.uri.parse::<AmqpUri>().map_err(|e| e.to_string())?,
            pid: self.broker_pid,
        })
    }
}

/// A standard scenario by exact name, else the first one whose name starts with `name`.
pub fn find<'a>(set: &'a [Scenario], name: &str) -> Option<&'a Scenario> {
    set.iter()
        .find(|s| s.name == name)
        .or_else(|| set.iter().find(|s| s.name.starts_with(name)))
}

impl CompareArgs {
    pub fn scenarios(&self) -> Result<Vec<Scenario>, String> {
        let p = StandardParams {
            duration: secs(self.duration, "--duration")?,
            connections: self.connections,
            backlog: self.backlog,
        };
        let set = scenario::standard_set(&p);
        if self.scenarios.is_empty() {
            return Ok(set);
        }
        let picked: Vec<Scenario> = set
            .iter()
            .filter(|s| {
                self.scenarios
                    .iter()
                    .any(|w| s.name.starts_with(w.as_str()))
            })
            .cloned()
            .collect();
        if picked.is_empty() {
            return Err(format!("no standard scenario matches {:?}", self.scenarios));
        }
        Ok(picked)
    }

    pub fn targets(&self) -> Result<(Target, Target), String> {
        let parse = |u: &str| u.parse::<AmqpUri>().map_err(|e| e.to_string());
        Ok((
            Target {
                label: self.name_a.clone(),
                uri: parse(&self.uri_a)?,
                pid: self.pid_a,
            },
            Target {
                label: self.name_b.clone(),
                uri: parse(&self.uri_b)?,
                pid: self.pid_b,
            },
        ))
    }

    pub fn pause(&self) -> Duration {
        Duration::from_secs_f64(self.pause.clamp(0.0, 600.0))
    }
}

/// A one-line description of a flow spec.
pub fn describe(f: &FlowSpec) -> String {
    format!(
        "{} producer(s) -> {} ({}) {} queue(s) -> {} consumer(s), {} B, {}{}{}, prefetch {}, {}",
        f.producers,
        f.exchange.name(),
        f.bindings.max(f.queues),
        f.queues,
        f.consumers,
        f.size,
        if f.persistent {
            "persistent"
        } else {
            "transient"
        },
        f.confirm
            .map(|c| format!(", confirms {c} in flight"))
            .unwrap_or_default(),
        f.rate
            .map(|r| format!(", {r} msg/s per producer"))
            .unwrap_or_default(),
        f.prefetch,
        if f.autoack {
            "autoack".to_string()
        } else {
            format!("ack every {}", f.multi_ack_every)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap()
    }

    #[test]
    fn run_flags_become_a_flow_scenario() {
        let cli = parse(&[
            "warren-perf",
            "run",
            "-x",
            "2",
            "-y",
            "3",
            "--queues",
            "3",
            "-t",
            "topic",
            "--bindings",
            "30",
            "-s",
            "1024",
            "--persistent",
            "-c",
            "50",
            "-q",
            "200",
            "--multi-ack-every",
            "10",
            "-r",
            "5000",
            "-z",
            "1.5",
        ]);
        let Command::Run(a) = cli.command else {
            panic!()
        };
        let sc = a.to_scenario().unwrap();
        let Kind::Flow(f) = sc.kind else { panic!() };
        assert_eq!(
            f,
            FlowSpec {
                producers: 2,
                consumers: 3,
                queues: 3,
                exchange: ExchangeType::Topic,
                bindings: 30,
                size: 1024,
                persistent: true,
                confirm: Some(50),
                prefetch: 200,
                multi_ack_every: 10,
                autoack: false,
                rate: Some(5000.0),
                duration: Duration::from_millis(1500),
            }
        );
        assert_eq!(cli.threads, 1);
    }

    #[test]
    fn run_defaults_and_bad_values() {
        let Command::Run(a) = parse(&["warren-perf", "run"]).command else {
            panic!()
        };
        let Kind::Flow(f) = a.to_scenario().unwrap().kind else {
            panic!()
        };
        assert_eq!(f, FlowSpec::default());
        assert_eq!(a.target().unwrap().uri.port, 5672);
        let Command::Run(a) = parse(&["warren-perf", "run", "-t", "headers"]).command else {
            panic!()
        };
        assert!(a.to_scenario().is_err());
        let Command::Run(a) = parse(&["warren-perf", "run", "-q", "10"]).command else {
            panic!()
        };
        assert!(a.to_scenario().unwrap_err().contains("stall"));
        let Command::Run(a) = parse(&["warren-perf", "run", "-z", "0"]).command else {
            panic!()
        };
        assert!(a.to_scenario().is_err());
    }

    #[test]
    fn run_picks_a_standard_scenario_by_name_or_prefix() {
        let Command::Run(a) =
            parse(&["warren-perf", "run", "--scenario", "latency", "-z", "1"]).command
        else {
            panic!()
        };
        let sc = a.to_scenario().unwrap();
        assert_eq!(sc.name, "latency-5k");
        let Kind::Flow(f) = sc.kind else { panic!() };
        assert_eq!((f.rate, f.duration), (Some(5000.0), Duration::from_secs(1)));
        let Command::Run(a) = parse(&[
            "warren-perf",
            "run",
            "--scenario",
            "connections",
            "--count",
            "50",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!(a.to_scenario().unwrap().name, "connections-50");
    }

    #[test]
    fn run_size_and_persistent_override_a_standard_scenario() {
        let scenario_of = |args: &[&str]| {
            let Command::Run(a) = parse(args).command else {
                panic!()
            };
            a.to_scenario()
        };
        let backlog = |sc: Scenario| match sc.kind {
            Kind::Backlog {
                messages,
                size,
                persistent,
                ..
            } => (messages, size, persistent),
            other => panic!("{other:?}"),
        };
        let sc = scenario_of(&["warren-perf", "run", "--scenario", "backlog"]).unwrap();
        assert_eq!(backlog(sc), (500_000, 100, false));
        let sc = scenario_of(&[
            "warren-perf",
            "run",
            "--scenario",
            "backlog",
            "--count",
            "1000",
            "-s",
            "4096",
            "--persistent",
        ])
        .unwrap();
        assert_eq!(sc.name, "backlog-1k");
        assert_eq!(backlog(sc), (1000, 4096, true));
        let sc = scenario_of(&[
            "warren-perf",
            "run",
            "--scenario",
            "transient-1k",
            "-s",
            "64",
        ])
        .unwrap();
        let Kind::Flow(f) = sc.kind else { panic!() };
        assert_eq!((f.size, f.persistent), (64, false));
        assert!(
            scenario_of(&["warren-perf", "run", "--scenario", "conn", "--persistent"])
                .unwrap_err()
                .contains("do not apply")
        );
    }

    #[test]
    fn retry_pipeline_by_name_with_its_own_overrides() {
        let scenario_of = |args: &[&str]| {
            let Command::Run(a) = parse(args).command else {
                panic!()
            };
            a.to_scenario()
        };
        let sc = scenario_of(&[
            "warren-perf",
            "run",
            "--scenario",
            "retry",
            "-z",
            "3",
            "--ttl-ms",
            "50",
            "--window",
            "5000",
        ])
        .unwrap();
        assert_eq!(sc.name, "retry-pipeline");
        let Kind::Retry(r) = sc.kind else { panic!() };
        assert_eq!(
            (r.duration, r.ttl, r.window, r.retries),
            (Duration::from_secs(3), Duration::from_millis(50), 5000, 1)
        );
        assert!(scenario_of(&["warren-perf", "run", "--ttl-ms", "50"])
            .unwrap_err()
            .contains("retry-pipeline"));
        assert!(scenario_of(&[
            "warren-perf",
            "run",
            "--scenario",
            "transient-16b",
            "--window",
            "5"
        ])
        .unwrap_err()
        .contains("not a retry pipeline"));
        let Command::Compare(c) = parse(&[
            "warren-perf",
            "compare",
            "--uri-a",
            "amqp://127.0.0.1:5683",
            "--uri-b",
            "amqp://127.0.0.1:5672",
            "--scenarios",
            "retry-pipeline",
        ])
        .command
        else {
            panic!()
        };
        let names: Vec<String> = c.scenarios().unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["retry-pipeline"]);
    }

    #[test]
    fn keep_flag_parses() {
        let Command::Run(a) = parse(&[
            "warren-perf",
            "run",
            "-x",
            "1",
            "-y",
            "0",
            "--persistent",
            "-s",
            "100",
            "-c",
            "1000",
            "-z",
            "15",
            "--keep",
        ])
        .command
        else {
            panic!()
        };
        assert!(a.options().keep);
        let Kind::Flow(f) = a.to_scenario().unwrap().kind else {
            panic!()
        };
        assert_eq!(
            (f.producers, f.consumers, f.size, f.persistent, f.confirm),
            (1, 0, 100, true, Some(1000))
        );
        let Command::Run(a) = parse(&["warren-perf", "run"]).command else {
            panic!()
        };
        assert_eq!(a.options(), RunOptions { keep: false });
    }

    #[test]
    fn compare_args_select_scenarios_and_targets() {
        let cli = parse(&[
            "warren-perf",
            "--threads",
            "2",
            "compare",
            "--uri-a",
            "amqp://127.0.0.1:5673",
            "--uri-b",
            "amqp://127.0.0.1:5672",
            "--pid-b",
            "4667",
            "--scenarios",
            "transient,latency",
            "-z",
            "3",
            "--backlog",
            "1000",
        ]);
        assert_eq!(cli.threads, 2);
        let Command::Compare(c) = cli.command else {
            panic!()
        };
        let names: Vec<String> = c.scenarios().unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "transient-16b",
                "transient-1k",
                "latency-5k",
                "latency-after-fanout"
            ]
        );
        let (a, b) = c.targets().unwrap();
        assert_eq!(
            (a.label.as_str(), a.uri.port, a.pid),
            ("Warren", 5673, None)
        );
        assert_eq!(
            (b.label.as_str(), b.uri.port, b.pid),
            ("RabbitMQ", 5672, Some(4667))
        );
        assert!(Cli::try_parse_from(["warren-perf", "compare", "--uri-a", "x"]).is_err());
    }

    #[test]
    fn floor_flags_become_a_floor_spec() {
        let floor = |args: &[&str]| {
            let mut all = vec!["warren-perf", "floor"];
            all.extend_from_slice(args);
            match parse(&all).command {
                Command::Floor(f) => f,
                other => panic!("{other:?}"),
            }
        };
        let spec = floor(&[]).spec().unwrap();
        assert_eq!(spec.rate, 5000.0);
        assert_eq!(spec.duration, Duration::from_secs(10));
        assert!(spec.forwarder_threads >= 1 && !spec.spin);
        let spec = floor(&["--spin", "-r", "200", "-z", "2", "--forwarder-threads", "1"])
            .spec()
            .unwrap();
        assert_eq!(
            (spec.rate, spec.duration, spec.forwarder_threads, spec.spin),
            (200.0, Duration::from_secs(2), 1, true)
        );
        assert!(floor(&["--rate", "0"]).spec().is_err());
        assert!(floor(&["-z", "0"]).spec().is_err());
    }
}
