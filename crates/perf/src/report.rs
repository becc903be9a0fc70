//! Turns run results into the text tables and JSON the binary prints: the per-run table, the
//! compare table (A, B and the oriented ratio per scenario and metric), and their JSON forms.

use crate::runner::RunResult;
use crate::stats::{self, Better, LatencySummary};
use serde_json::json;
use std::fmt::Write;

/// One figure the compare table shows for a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
    pub better: Better,
    /// `false` for figures shown for context only (client CPU): no ratio.
    pub compared: bool,
    pub get: fn(&RunResult) -> Option<f64>,
}

fn nonzero(v: f64) -> Option<f64> {
    (v > 0.0).then_some(v)
}

const RECEIVED: Metric = Metric {
    name: "received",
    unit: "msg/s",
    better: Better::Higher,
    compared: true,
    get: |r| nonzero(r.received_rate()),
};
const SENT: Metric = Metric {
    name: "sent",
    unit: "msg/s",
    better: Better::Higher,
    compared: true,
    get: |r| nonzero(r.sent_rate()),
};
const CONFIRMED: Metric = Metric {
    name: "confirmed",
    unit: "msg/s",
    better: Better::Higher,
    compared: true,
    get: |r| nonzero(r.confirmed_rate()),
};
const BACKLOG_PUBLISH: Metric = Metric {
    name: "publish + confirm",
    ..SENT
};
const BACKLOG_DRAIN: Metric = Metric {
    name: "drain",
    ..RECEIVED
};
const P50: Metric = Metric {
    name: "latency p50",
    unit: "us",
    better: Better::Lower,
    compared: true,
    get: |r| r.latency.map(|l| l.p50_us),
};
/// Under flat-out load latency mostly measures queue build-up: shown, not compared.
const P50_LOADED: Metric = Metric {
    name: "latency p50 (flat out, queueing)",
    unit: "us",
    better: Better::Lower,
    compared: false,
    get: |r| r.latency.map(|l| l.p50_us),
};
const P99: Metric = Metric {
    name: "latency p99",
    unit: "us",
    better: Better::Lower,
    compared: true,
    get: |r| r.latency.map(|l| l.p99_us),
};
const P999: Metric = Metric {
    name: "latency p99.9",
    unit: "us",
    better: Better::Lower,
    compared: true,
    get: |r| r.latency.map(|l| l.p999_us),
};
const MAX: Metric = Metric {
    name: "latency max",
    unit: "us",
    better: Better::Lower,
    compared: true,
    get: |r| r.latency.map(|l| l.max_us),
};
const RSS_PER_CONN: Metric = Metric {
    name: "broker RSS per connection",
    unit: "KiB",
    better: Better::Lower,
    compared: true,
    get: |r| r.connections.as_ref().and_then(|c| c.rss_per_conn_kib),
};
const CONN_RATE: Metric = Metric {
    name: "connections opened",
    unit: "conn/s",
    better: Better::Higher,
    compared: true,
    get: |r| {
        let c = r.connections.as_ref()?;
        nonzero(stats::per_sec(c.opened as u64, c.open_secs))
    },
};
const CONN_OPENED: Metric = Metric {
    name: "connections open",
    unit: "count",
    better: Better::Higher,
    compared: false,
    get: |r| r.connections.as_ref().map(|c| c.opened as f64),
};
/// Context for [`BACKLOG_RSS_PER_MSG`], which carries the ratio.
const BACKLOG_RSS: Metric = Metric {
    name: "broker RSS growth with backlog",
    unit: "MiB",
    better: Better::Lower,
    compared: false,
    get: |r| {
        let (a, b) = (r.broker_rss_before_kib?, r.broker_rss_after_kib?);
        Some((b as f64 - a as f64) / 1024.0)
    },
};
const BACKLOG_RSS_PER_MSG: Metric = Metric {
    name: "broker memory per queued message",
    unit: "B",
    better: Better::Lower,
    compared: true,
    get: |r| r.backlog.as_ref().and_then(|b| b.rss_per_msg_bytes),
};
/// Retry pipeline: messages acked after their retries (the runs' `received`).
const COMPLETED: Metric = Metric {
    name: "completed (acked after the retry)",
    ..RECEIVED
};
/// Retry pipeline: the producer is held to the pipeline's window, so what it sends follows
/// what completes: context.
const PUBLISHED: Metric = Metric {
    name: "published",
    compared: false,
    ..SENT
};
/// Retry pipeline: publish to the completing delivery, the TTL wait included; with up to a
/// window of messages in the pipeline it is mostly queueing: shown, not compared.
const P50_PIPELINE: Metric = Metric {
    name: "latency p50, publish to completion (TTL included)",
    compared: false,
    ..P50
};
const P99_PIPELINE: Metric = Metric {
    name: "latency p99, publish to completion (TTL included)",
    compared: false,
    ..P99
};
const BROKER_CPU_COMPLETED: Metric = Metric {
    name: "broker CPU per 100k completed msgs",
    ..BROKER_CPU
};
const CLIENT_CPU_COMPLETED: Metric = Metric {
    name: "client CPU per 100k completed msgs",
    ..CLIENT_CPU
};
const BROKER_CPU: Metric = Metric {
    name: "broker CPU per 100k msgs",
    unit: "s",
    better: Better::Lower,
    compared: true,
    get: |r| r.broker_cpu_per_100k(),
};
const CLIENT_CPU: Metric = Metric {
    name: "client CPU per 100k msgs",
    unit: "s",
    better: Better::Lower,
    compared: false,
    get: |r| r.client_cpu_per_100k(),
};
const BROKER_CPU_CONN: Metric = Metric {
    name: "broker CPU, whole scenario",
    unit: "s",
    better: Better::Lower,
    compared: true,
    get: |r| r.broker_cpu_secs,
};
const CLIENT_CPU_CONN: Metric = Metric {
    name: "client CPU, whole scenario",
    unit: "s",
    better: Better::Lower,
    compared: false,
    get: |r| Some(r.client_cpu_secs),
};

/// The metrics shown for a scenario in the compare table.
pub fn metrics_for(kind: &crate::scenario::Kind) -> Vec<Metric> {
    use crate::scenario::Kind;
    match kind {
        Kind::Connections { .. } => vec![
            RSS_PER_CONN,
            CONN_RATE,
            CONN_OPENED,
            BROKER_CPU_CONN,
            CLIENT_CPU_CONN,
        ],
        Kind::Backlog { .. } => vec![
            BACKLOG_PUBLISH,
            BACKLOG_DRAIN,
            BACKLOG_RSS_PER_MSG,
            BACKLOG_RSS,
            BROKER_CPU,
            CLIENT_CPU,
        ],
        Kind::Retry(_) => vec![
            COMPLETED,
            PUBLISHED,
            P50_PIPELINE,
            P99_PIPELINE,
            BROKER_CPU_COMPLETED,
            CLIENT_CPU_COMPLETED,
        ],
        Kind::AfterBurst { .. } => vec![RECEIVED, P50, P99, P999, MAX, BROKER_CPU, CLIENT_CPU],
        Kind::Flow(f) if f.rate.is_some() => {
            vec![RECEIVED, P50, P99, P999, MAX, BROKER_CPU, CLIENT_CPU]
        }
        Kind::Flow(f) if f.confirm.is_some() => {
            // With a bounded confirm window the queue stays short: latency is meaningful.
            vec![CONFIRMED, RECEIVED, P50, P99, BROKER_CPU, CLIENT_CPU]
        }
        Kind::Flow(_) => vec![SENT, RECEIVED, P50_LOADED, BROKER_CPU, CLIENT_CPU],
    }
}

/// One line of the compare table (medians over rounds).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub scenario: String,
    pub metric: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// `None` for context-only figures or missing values.
    pub ratio: Option<f64>,
}

/// Builds the rows for one scenario from the runs of broker A and broker B.
pub fn rows_for(
    scenario: &str,
    metrics: &[Metric],
    a: &[&RunResult],
    b: &[&RunResult],
) -> Vec<Row> {
    metrics
        .iter()
        .map(|m| {
            let av = stats::median(a.iter().filter_map(|r| (m.get)(r)).collect());
            let bv = stats::median(b.iter().filter_map(|r| (m.get)(r)).collect());
            Row {
                scenario: scenario.to_string(),
                metric: m.name,
                unit: m.unit,
                better: m.better,
                a: av,
                b: bv,
                ratio: if m.compared {
                    stats::ratio(av, bv, m.better)
                } else {
                    None
                },
            }
        })
        .collect()
}

/// A number for a table: thousands separators for big values, decimals for small ones.
pub fn fmt_num(v: Option<f64>) -> String {
    let Some(v) = v else {
        return "-".to_string();
    };
    let a = v.abs();
    if a >= 1000.0 {
        let s = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".to_string()
    } else {
        format!("{v:.3}")
    }
}

/// The compare table as Markdown (readable as plain text too).
pub fn compare_table(a_label: &str, b_label: &str, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| scenario | metric | {a_label} | {b_label} | ratio (>1 = {a_label} better) |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|");
    let mut last = "";
    for r in rows {
        let scen = if r.scenario == last {
            ""
        } else {
            r.scenario.as_str()
        };
        last = &r.scenario;
        let ratio = match (r.ratio, r.better) {
            (Some(x), Better::Higher) => format!("{x:.2}x ({a_label}/{b_label})"),
            (Some(x), Better::Lower) => format!("{x:.2}x ({b_label}/{a_label})"),
            (None, _) => "-".to_string(),
        };
        let _ = writeln!(
            s,
            "| {scen} | {} ({}) | {} | {} | {ratio} |",
            r.metric,
            r.unit,
            fmt_num(r.a),
            fmt_num(r.b)
        );
    }
    s
}

/// The latency-floor runs measured beside one paced scenario (see [`crate::floor`]).
#[derive(Debug, Clone)]
pub struct FloorRuns {
    pub scenario: String,
    pub runs: Vec<LatencySummary>,
}

/// Medians of the floor runs: (p50, p99) in microseconds.
pub fn floor_medians(f: &FloorRuns) -> (Option<f64>, Option<f64>) {
    (
        stats::median(f.runs.iter().map(|l| l.p50_us).collect()),
        stats::median(f.runs.iter().map(|l| l.p99_us).collect()),
    )
}

/// The compared p99 of a scenario from the compare rows: (A, B).
fn p99s(rows: &[Row], scenario: &str) -> (Option<f64>, Option<f64>) {
    rows.iter()
        .find(|r| r.scenario == scenario && r.metric == P99.name)
        .map_or((None, None), |r| (r.a, r.b))
}

/// The floor beside each paced scenario, with the p99 ratio a broker doing no work at all
/// would have shown against B: the most any broker can show on this machine.
pub fn floor_table(a_label: &str, b_label: &str, floors: &[FloorRuns], rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| scenario | floor p50 (us) | floor p99 (us) | {a_label} p99 (us) | {b_label} p99 (us) \
         | best possible ratio ({b_label} p99 / floor p99) | {a_label}'s ratio |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    for f in floors {
        let (p50, p99) = floor_medians(f);
        let (a, b) = p99s(rows, &f.scenario);
        let x = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}x"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            f.scenario,
            fmt_num(p50),
            fmt_num(p99),
            fmt_num(a),
            fmt_num(b),
            x(stats::ratio(p99, b, Better::Lower)),
            x(stats::ratio(a, b, Better::Lower)),
        );
    }
    s
}

pub fn floors_json(floors: &[FloorRuns], rows: &[Row]) -> serde_json::Value {
    serde_json::Value::Array(
        floors
            .iter()
            .map(|f| {
                let (p50, p99) = floor_medians(f);
                let (_, b) = p99s(rows, &f.scenario);
                json!({
                    "scenario": f.scenario,
                    "p50_us": p50,
                    "p99_us": p99,
                    "runs": f.runs.iter().map(|l| json!({"p50_us": l.p50_us, "p99_us": l.p99_us, "p999_us": l.p999_us, "max_us": l.max_us})).collect::<Vec<_>>(),
                    "best_possible_p99_ratio_against_b": stats::ratio(p99, b, Better::Lower),
                })
            })
            .collect(),
    )
}

/// The table of individual runs (run mode, and every run of compare mode).
pub fn runs_table(runs: &[RunResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| scenario | broker | secs | sent/s | confirmed/s | received/s | p50 us | p99 us | p99.9 us | max us | client CPU % | broker CPU % | client CPU s/100k | broker CPU s/100k | errors |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for r in runs {
        let wall = r.secs.max(1e-9);
        let lat = |f: fn(&crate::stats::LatencySummary) -> f64| fmt_num(r.latency.as_ref().map(f));
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} |",
            r.scenario,
            r.broker,
            r.secs,
            fmt_num(Some(r.sent_rate())),
            fmt_num(Some(r.confirmed_rate())),
            fmt_num(Some(r.received_rate())),
            lat(|l| l.p50_us),
            lat(|l| l.p99_us),
            lat(|l| l.p999_us),
            lat(|l| l.max_us),
            100.0 * r.client_cpu_secs / wall,
            r.broker_cpu_secs
                .map(|c| format!("{:.0}", 100.0 * c / wall))
                .unwrap_or_else(|| "-".into()),
            fmt_num(r.client_cpu_per_100k()),
            fmt_num(r.broker_cpu_per_100k()),
            if r.errors.is_empty() {
                String::new()
            } else {
                r.errors.join("; ")
            },
        );
    }
    s
}

/// One line per connection, backlog or retry run with the figures the runs table has no column
/// for.
pub fn details(runs: &[RunResult]) -> String {
    let mut s = String::new();
    for r in runs {
        let rss = format!(
            "broker RSS {} -> {} KiB",
            fmt_num(r.broker_rss_before_kib.map(|v| v as f64)),
            fmt_num(r.broker_rss_after_kib.map(|v| v as f64))
        );
        if let Some(c) = &r.connections {
            let _ = writeln!(
                s,
                "- {} on {}: opened {}/{} ({} failed) in {:.2} s; {rss}; {} KiB per connection",
                r.scenario,
                r.broker,
                c.opened,
                c.requested,
                c.failed,
                c.open_secs,
                fmt_num(c.rss_per_conn_kib),
            );
        }
        if let Some(b) = &r.backlog {
            let _ = writeln!(
                s,
                "- {} on {}: {} messages, publish+confirm {:.2} s, drain {:.2} s; {rss} (after publishing); {} B per queued message",
                r.scenario, r.broker, b.messages, b.publish_secs, b.drain_secs,
                fmt_num(b.rss_per_msg_bytes),
            );
        }
        if let Some(t) = &r.retry {
            let _ = writeln!(
                s,
                "- {} on {}: {} completed ({}/s), {} deliveries nacked for a retry, {} retr{} per message, retry TTL {} ms, window {}",
                r.scenario,
                r.broker,
                r.received,
                fmt_num(Some(r.received_rate())),
                t.nacked,
                t.retries,
                if t.retries == 1 { "y" } else { "ies" },
                t.ttl_ms,
                t.window,
            );
        }
    }
    s
}

/// What `--keep` left in the broker, one name a line (printed at the end of a run).
pub fn kept(r: &RunResult) -> String {
    let mut s = String::new();
    if r.kept_queues.is_empty() && r.kept_exchange.is_none() {
        let _ = writeln!(
            s,
            "kept: nothing ({} declares no queues to keep)",
            r.scenario
        );
        return s;
    }
    for q in &r.kept_queues {
        let _ = writeln!(s, "kept queue: {q}");
    }
    if let Some(x) = &r.kept_exchange {
        let _ = writeln!(s, "kept exchange: {x}");
    }
    s
}

pub fn rows_json(rows: &[Row]) -> serde_json::Value {
    serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "scenario": r.scenario,
                    "metric": r.metric,
                    "unit": r.unit,
                    "better": match r.better { Better::Higher => "higher", Better::Lower => "lower" },
                    "a": r.a,
                    "b": r.b,
                    "ratio_a_better_if_above_1": r.ratio,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::LatencySummary;

    fn run(broker: &str, received: u64, p50: f64) -> RunResult {
        RunResult {
            scenario: "s".into(),
            broker: broker.into(),
            secs: 10.0,
            sent: received,
            confirmed: 0,
            nacked: 0,
            received,
            latency: Some(LatencySummary {
                count: received,
                p50_us: p50,
                p99_us: p50 * 2.0,
                p999_us: p50 * 3.0,
                max_us: p50 * 4.0,
                mean_us: p50,
            }),
            client_cpu_secs: 1.0,
            broker_cpu_secs: Some(2.0),
            broker_rss_before_kib: None,
            broker_rss_after_kib: None,
            connections: None,
            backlog: None,
            retry: None,
            errors: vec![],
            kept_queues: vec![],
            kept_exchange: None,
        }
    }

    #[test]
    fn rows_take_medians_and_orient_ratios() {
        let a = [
            run("W", 300_000, 100.0),
            run("W", 200_000, 50.0),
            run("W", 250_000, 80.0),
        ];
        let b = [run("R", 100_000, 200.0)];
        let ar: Vec<&RunResult> = a.iter().collect();
        let br: Vec<&RunResult> = b.iter().collect();
        let rows = rows_for("s", &[RECEIVED, P50, CLIENT_CPU], &ar, &br);
        assert_eq!(rows[0].a, Some(25_000.0));
        assert_eq!(rows[0].ratio, Some(2.5));
        assert_eq!(rows[1].a, Some(80.0));
        assert_eq!(rows[1].ratio, Some(2.5));
        // context-only metric: no ratio
        assert_eq!(rows[2].ratio, None);
        let t = compare_table("Warren", "RabbitMQ", &rows);
        assert!(
            t.contains("| s | received (msg/s) | 25,000 | 10,000 | 2.50x (Warren/RabbitMQ) |"),
            "{t}"
        );
        assert!(
            t.contains("| latency p50 (us) | 80.0 | 200 | 2.50x (RabbitMQ/Warren) |"),
            "{t}"
        );
    }

    #[test]
    fn floor_table_gives_the_best_possible_ratio_beside_the_brokers() {
        // p99 is twice p50 in `run`: Warren 160, RabbitMQ 600.
        let a = [run("W", 50_000, 80.0)];
        let b = [run("R", 50_000, 300.0)];
        let ar: Vec<&RunResult> = a.iter().collect();
        let br: Vec<&RunResult> = b.iter().collect();
        let rows = rows_for("latency-5k", &[P50, P99], &ar, &br);
        let floor = |p50_us, p99_us| LatencySummary {
            count: 50_000,
            p50_us,
            p99_us,
            p999_us: p99_us,
            max_us: p99_us,
            mean_us: p50_us,
        };
        let floors = [FloorRuns {
            scenario: "latency-5k".into(),
            runs: vec![floor(40.0, 100.0), floor(50.0, 150.0), floor(45.0, 120.0)],
        }];
        let t = floor_table("Warren", "RabbitMQ", &floors, &rows);
        // Medians: floor p99 120, so the best possible ratio is 600 / 120 = 5x; Warren's 3.75x.
        assert!(
            t.contains("| latency-5k | 45.0 | 120 | 160 | 600 | 5.00x | 3.75x |"),
            "{t}"
        );
        let j = floors_json(&floors, &rows);
        assert_eq!(j[0]["best_possible_p99_ratio_against_b"], 5.0);
        assert_eq!(j[0]["runs"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn backlog_memory_per_message_is_compared_lower_better() {
        let backlog = |broker: &str, before: u64, after: u64, per_msg: f64| RunResult {
            broker_rss_before_kib: Some(before),
            broker_rss_after_kib: Some(after),
            backlog: Some(crate::runner::BacklogStats {
                messages: 1000,
                publish_secs: 1.0,
                drain_secs: 1.0,
                rss_per_msg_bytes: Some(per_msg),
            }),
            ..run(broker, 1000, 1.0)
        };
        let (a, b) = (backlog("W", 0, 100, 150.0), backlog("R", 0, 1000, 1200.0));
        let metrics = metrics_for(&crate::scenario::Kind::Backlog {
            messages: 1000,
            size: 100,
            persistent: false,
            confirm: 1000,
            prefetch: 1000,
            multi_ack_every: 100,
            timeout: std::time::Duration::from_secs(1),
        });
        let rows = rows_for("backlog-1k", &metrics, &[&a], &[&b]);
        let row = rows
            .iter()
            .find(|r| r.metric == "broker memory per queued message")
            .unwrap();
        assert_eq!(
            (row.a, row.b, row.ratio),
            (Some(150.0), Some(1200.0), Some(8.0))
        );
        let t = compare_table("Warren", "RabbitMQ", &rows);
        assert!(
            t.contains(
                "| broker memory per queued message (B) | 150 | 1,200 | 8.00x (RabbitMQ/Warren) |"
            ),
            "{t}"
        );
        assert!(details(&[a]).contains("150 B per queued message"));
    }

    #[test]
    fn retry_pipeline_compares_completions_and_cpu_per_completion() {
        let retry = |broker: &str, completed: u64, broker_cpu: f64| RunResult {
            sent: completed + 20_000,
            broker_cpu_secs: Some(broker_cpu),
            retry: Some(crate::runner::RetryStats {
                nacked: completed + 1000,
                retries: 1,
                ttl_ms: 20,
                window: 20_000,
            }),
            ..run(broker, completed, 20_000.0)
        };
        // 10 s runs: 100k/s and 10k/s completed; CPU per 100k *completed* messages.
        let (a, b) = (retry("W", 1_000_000, 8.0), retry("R", 100_000, 9.0));
        assert_eq!(a.broker_cpu_per_100k(), Some(0.8));
        assert_eq!(b.broker_cpu_per_100k(), Some(9.0));
        let spec = crate::scenario::RetrySpec::default();
        let rows = rows_for(
            "retry-pipeline",
            &metrics_for(&crate::scenario::Kind::Retry(spec)),
            &[&a],
            &[&b],
        );
        let get = |m: &str| rows.iter().find(|r| r.metric.starts_with(m)).unwrap();
        assert_eq!(get("completed").ratio, Some(10.0));
        assert_eq!(get("published").ratio, None, "context: follows completions");
        assert_eq!(get("latency p50").ratio, None, "queueing: not compared");
        let cpu = get("broker CPU per 100k completed");
        assert!((cpu.ratio.unwrap() - 11.25).abs() < 1e-9, "{cpu:?}");
        let d = details(&[a]);
        assert!(
            d.contains("1000000 completed (100,000/s), 1001000 deliveries nacked for a retry, 1 retry per message, retry TTL 20 ms, window 20000"),
            "{d}"
        );
    }

    #[test]
    fn kept_names_are_listed() {
        let mut r = run("W", 1, 1.0);
        assert!(kept(&r).starts_with("kept: nothing"));
        r.kept_queues = vec!["p-q0".into(), "p-q1".into()];
        r.kept_exchange = Some("p-x".into());
        assert_eq!(
            kept(&r),
            "kept queue: p-q0\nkept queue: p-q1\nkept exchange: p-x\n"
        );
        assert_eq!(r.to_json()["kept_queues"][1], "p-q1");
    }

    #[test]
    fn number_formatting() {
        assert_eq!(fmt_num(None), "-");
        assert_eq!(fmt_num(Some(1_234_567.4)), "1,234,567");
        assert_eq!(fmt_num(Some(-1500.0)), "-1,500");
        assert_eq!(fmt_num(Some(123.4)), "123");
        assert_eq!(fmt_num(Some(12.34)), "12.3");
        assert_eq!(fmt_num(Some(1.234)), "1.23");
        assert_eq!(fmt_num(Some(0.01234)), "0.012");
        assert_eq!(fmt_num(Some(0.0)), "0");
    }
}
