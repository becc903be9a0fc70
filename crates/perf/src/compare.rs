//! Compare mode: runs a scenario set against two brokers in one process, interleaved per
//! scenario (A then B, the order flipped every other round so neither broker always goes
//! first), and builds the ratio table.

use crate::floor::{self, FloorSpec};
use crate::procstat;
use crate::report::{self, FloorRuns, Row};
use crate::runner::{self, RunResult, Target};
use crate::scenario::{Kind, Scenario};
use std::time::Duration;

/// Everything a compare run produced.
#[derive(Debug, Clone)]
pub struct CompareReport {
    pub a: String,
    pub b: String,
    pub runs: Vec<RunResult>,
    pub rows: Vec<Row>,
    /// (scenario, broker, error) for runs that failed outright.
    pub failures: Vec<(String, String, String)>,
    /// The machine's latency floor, measured in each round of every paced scenario.
    pub floors: Vec<FloorRuns>,
}

impl CompareReport {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "a": self.a,
            "b": self.b,
            "ratio": "A/B for higher-is-better metrics, B/A for lower-is-better: above 1 means A is better",
            "rows": report::rows_json(&self.rows),
            "latency_floor": report::floors_json(&self.floors, &self.rows),
            "runs": self.runs.iter().map(RunResult::to_json).collect::<Vec<_>>(),
            "failures": self.failures.iter().map(|(s, b, e)| serde_json::json!({
                "scenario": s, "broker": b, "error": e
            })).collect::<Vec<_>>(),
        })
    }
}

/// The order in which the two brokers run in `round` (0-based): A first on even rounds.
pub fn order(round: u32) -> [usize; 2] {
    if round.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    }
}

/// The floor measurement matching a paced (fixed-rate) scenario: same rate and duration.
pub fn floor_spec_for(sc: &Scenario) -> Option<FloorSpec> {
    match &sc.kind {
        Kind::Flow(f) => f.rate.map(|rate| FloorSpec {
            rate: rate * f64::from(f.producers.max(1)),
            duration: f.duration,
            forwarder_threads: floor::default_threads(),
            spin: false,
        }),
        _ => None,
    }
}

/// A broker counts as settled below this share of one core.
const SETTLED_CPU: f64 = 0.15;

/// Waits (at most 30 s) until the broker's CPU use over half a second drops below
/// [`SETTLED_CPU`], so that one run's leftovers (queues being deleted, garbage collection)
/// do not slow the next. Returns how long it waited; without a pid it returns at once.
pub async fn settle(pid: Option<u32>) -> Duration {
    let start = tokio::time::Instant::now();
    let Some(pid) = pid else {
        return Duration::ZERO;
    };
    let step = Duration::from_millis(500);
    while start.elapsed() < Duration::from_secs(30) {
        let Some(a) = procstat::sample(Some(pid)) else {
            break;
        };
        tokio::time::sleep(step).await;
        let Some(b) = procstat::sample(Some(pid)) else {
            break;
        };
        if (b.cpu_secs - a.cpu_secs) / step.as_secs_f64() < SETTLED_CPU {
            break;
        }
    }
    start.elapsed()
}

/// Runs every scenario `rounds` times on both targets. `progress` is told what is about to run
/// and what each run gave (the binary prints it).
pub async fn compare(
    set: &[Scenario],
    a: &Target,
    b: &Target,
    rounds: u32,
    pause: Duration,
    mut progress: impl FnMut(&str),
) -> CompareReport {
    let targets = [a, b];
    let mut runs = Vec::new();
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    let mut floors = Vec::new();
    for t in targets {
        settle(t.pid).await;
    }
    for sc in set {
        let mut mine: [Vec<RunResult>; 2] = [vec![], vec![]];
        let floor_spec = floor_spec_for(sc);
        let mut floor_runs = FloorRuns {
            scenario: sc.name.clone(),
            runs: Vec::new(),
        };
        for round in 0..rounds.max(1) {
            for i in order(round) {
                let t = targets[i];
                progress(&format!(
                    "{} on {} (round {}/{})",
                    sc.name,
                    t.label,
                    round + 1,
                    rounds.max(1)
                ));
                match runner::run(sc, t).await {
                    Ok(r) => {
                        progress(&format!(
                            "  sent {:.0}/s, confirmed {:.0}/s, received {:.0}/s{}",
                            r.sent_rate(),
                            r.confirmed_rate(),
                            r.received_rate(),
                            if r.errors.is_empty() {
                                String::new()
                            } else {
                                format!(", errors: {}", r.errors.join("; "))
                            }
                        ));
                        mine[i].push(r);
                    }
                    Err(e) => {
                        progress(&format!("  failed: {e}"));
                        failures.push((sc.name.clone(), t.label.clone(), e.to_string()));
                    }
                }
                tokio::time::sleep(pause).await;
                for t in targets {
                    let waited = settle(t.pid).await;
                    if waited > Duration::from_secs(2) {
                        progress(&format!(
                            "  ({} busy: waited {:.1} s for it to settle)",
                            t.label,
                            waited.as_secs_f64()
                        ));
                    }
                }
            }
            if let Some(spec) = floor_spec {
                // After both brokers, with both idle: what any broker pays here before working.
                progress(&format!(
                    "{} latency floor (round {}/{})",
                    sc.name,
                    round + 1,
                    rounds.max(1)
                ));
                match floor::measure(spec).await {
                    Ok(l) => {
                        progress(&format!("  p50 {:.1} us, p99 {:.1} us", l.p50_us, l.p99_us));
                        floor_runs.runs.push(l);
                    }
                    Err(e) => progress(&format!("  failed: {e}")),
                }
                tokio::time::sleep(pause).await;
            }
        }
        if floor_spec.is_some() {
            floors.push(floor_runs);
        }
        let ar: Vec<&RunResult> = mine[0].iter().collect();
        let br: Vec<&RunResult> = mine[1].iter().collect();
        rows.extend(report::rows_for(
            &sc.name,
            &report::metrics_for(&sc.kind),
            &ar,
            &br,
        ));
        let [ma, mb] = mine;
        runs.extend(ma);
        runs.extend(mb);
    }
    CompareReport {
        a: a.label.clone(),
        b: b.label.clone(),
        runs,
        rows,
        failures,
        floors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_alternates() {
        assert_eq!(order(0), [0, 1]);
        assert_eq!(order(1), [1, 0]);
        assert_eq!(order(2), [0, 1]);
    }
}
