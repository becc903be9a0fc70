//! The soak's markdown: one broker's figures (metric, value) and timeline, its JSON (which
//! keeps the rows), and the side-by-side table of several brokers' JSON files.

use super::analysis::{Analysis, Tick};
use super::ledger::Verdict;
use super::SoakResult;
use serde_json::{json, Value};

/// The goals the issue sets: peak RSS at most the watermark + 25 %, all publishers blocked
/// within 1 s of crossing it.
const RSS_GOAL: f64 = 1.25;
const BLOCK_GOAL_SECS: f64 = 1.0;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn rate(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |r| format!("{r:.0}"))
}

fn yes(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// The rows of one run: (metric, value).
pub fn rows(r: &SoakResult) -> Vec<(String, String)> {
    let s = &r.spec;
    let a = &r.analysis;
    let wm_kib = s.watermark_bytes / 1024;
    let n = s.transient_publishers + s.persistent_publishers;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| out.push((k.to_string(), v));
    row("watermark", format!("{:.0} MiB", mib(wm_kib)));
    row(
        "publishers",
        format!(
            "{} transient + {} persistent, {} B bodies, {} unconfirmed each at most",
            s.transient_publishers, s.persistent_publishers, s.size, s.window
        ),
    );
    row(
        "publishing time",
        format!("{:.0} s", s.duration.as_secs_f64()),
    );
    row(
        "peak broker RSS",
        a.peak_rss_kib.map_or_else(
            || "n/a (no pid)".into(),
            |p| {
                let ratio = p as f64 / wm_kib.max(1) as f64;
                format!(
                    "{:.0} MiB ({:.0} % of the watermark; goal <= 125 %: {})",
                    mib(p),
                    ratio * 100.0,
                    yes(ratio <= RSS_GOAL)
                )
            },
        ),
    );
    row(
        "first RSS sample above the watermark",
        a.first_crossing
            .map_or_else(|| "never".into(), |t| format!("at {t:.1} s")),
    );
    row(
        "crossing -> every publisher blocked, or back under",
        block_latency(&r.analysis),
    );
    row(
        "block episodes (connection.blocked frames)",
        format!("{} ({})", a.episodes, a.blocked_notices),
    );
    row(
        "time with every publisher blocked",
        format!(
            "{:.1} s ({:.0} %)",
            a.all_blocked_secs,
            100.0 * a.all_blocked_secs / s.duration.as_secs_f64().max(0.001)
        ),
    );
    row(
        "publishers blocked when publishing stopped",
        format!("{} of {n}", a.blocked_at_end),
    );
    row(
        "confirmed msg/s before the first block",
        rate(a.rate_before_block),
    );
    row(
        "confirmed msg/s while unblocked, after the first unblock",
        match a.rate_unblocked_after {
            None if a.episodes > 0 => "n/a (never unblocked)".into(),
            v => format!("{} (over {:.1} s)", rate(v), a.unblocked_after_secs),
        },
    );
    row("confirmed msg/s overall", rate(a.rate_overall));
    row(
        "confirmed (transient / persistent)",
        format!("{} / {}", r.transient.confirmed, r.persistent.confirmed),
    );
    row("acked by the slow consumer", r.slow_acked.to_string());
    row(
        "queued when publishing stopped / after the drain",
        format!(
            "{} / {}",
            super::fmt_opt(r.queued_at_stop),
            super::fmt_opt(r.queued_after_drain)
        ),
    );
    row(
        "drained (autoack)",
        format!(
            "{} in {:.1} s (to the last delivery)",
            r.drained, r.drain_secs
        ),
    );
    row(
        "broker RSS after the drain",
        r.rss_after_drain_kib
            .map_or_else(|| "n/a".into(), |k| format!("{:.0} MiB", mib(k))),
    );
    row("exactly once (transient)", verdict(&r.transient));
    row("exactly once (persistent)", verdict(&r.persistent));
    row(
        "unconfirmed at the end (transient / persistent)",
        format!(
            "{} / {} ({} / {} of them delivered)",
            r.transient.unconfirmed,
            r.persistent.unconfirmed,
            r.transient.unconfirmed_delivered,
            r.persistent.unconfirmed_delivered
        ),
    );
    let mut errors = r.errors.clone();
    if r.foreign_deliveries > 0 {
        errors.push(format!("{} deliveries without an id", r.foreign_deliveries));
    }
    row(
        "errors",
        if errors.is_empty() {
            "none".into()
        } else {
            errors.join("; ")
        },
    );
    out
}

/// How fast each crossing of the watermark ended: every publisher blocked, or RSS back under
/// before they all were (a peak between two of the broker's own memory checks). The goal holds
/// when each crossing ended either way within 1 s.
fn block_latency(a: &Analysis) -> String {
    let Some(first) = a.block_latencies.first() else {
        return "n/a (never crossed)".into();
    };
    let blocked: Vec<f64> = a.block_latencies.iter().flatten().copied().collect();
    let back_under: Vec<f64> = a
        .block_latencies
        .iter()
        .zip(&a.crossing_secs)
        .filter(|(l, _)| l.is_none())
        .map(|(_, secs)| *secs)
        .collect();
    let max = |v: &[f64]| v.iter().copied().reduce(f64::max);
    let worst = max(&blocked)
        .into_iter()
        .chain(max(&back_under))
        .reduce(f64::max)
        .unwrap_or(0.0);
    let first = match (first, a.crossing_secs.first()) {
        (Some(s), _) => format!("blocked in {s:.2} s"),
        (None, Some(secs)) => format!("back under in {secs:.2} s, not blocked"),
        (None, None) => "not blocked".into(),
    };
    let mut text = format!("first {first}");
    if a.block_latencies.len() > 1 {
        text += &format!(
            ", worst {worst:.2} s over {} crossings",
            a.block_latencies.len()
        );
    }
    if let Some(longest) = max(&back_under) {
        text += &format!(
            "; {} back under without a full block (longest above: {longest:.2} s)",
            back_under.len()
        );
    }
    format!("{text} (goal < 1 s: {})", yes(worst < BLOCK_GOAL_SECS))
}

fn verdict(v: &Verdict) -> String {
    let mut text = format!(
        "{} of {} confirmed delivered once; lost {}, duplicated {}",
        v.confirmed_once, v.confirmed, v.lost, v.duplicated
    );
    if v.nacked > 0 {
        text += &format!(", nacked {}", v.nacked);
    }
    if v.never_published > 0 {
        text += &format!(", {} ids never published", v.never_published);
    }
    text
}

/// (seconds, max RSS MiB in the step, confirmed msg/s in the step, publishers blocked at its
/// end), about 20 steps of at least 5 s.
pub fn timeline(ticks: &[Tick], secs: f64) -> Vec<(f64, Option<f64>, f64, u32)> {
    let step = (secs / 20.0).round().max(5.0);
    let mut out = Vec::new();
    let mut from = 0usize;
    let mut edge = step;
    for (i, t) in ticks.iter().enumerate() {
        if t.at + 1e-9 < edge && i + 1 < ticks.len() {
            continue;
        }
        let part = &ticks[from..=i];
        let start = if from == 0 { None } else { ticks.get(from - 1) };
        let (t0, c0) = start.map_or((0.0, 0), |s| (s.at, s.confirmed));
        let rss = part.iter().filter_map(|k| k.rss_kib).max().map(mib);
        let dt = (t.at - t0).max(1e-9);
        out.push((
            t.at,
            rss,
            t.confirmed.saturating_sub(c0) as f64 / dt,
            t.blocked,
        ));
        from = i + 1;
        edge += step;
    }
    out
}

/// One run as markdown: its table and its timeline.
pub fn markdown(r: &SoakResult) -> String {
    let mut s = format!(
        "### {}\n\n| metric | {} |\n|---|---|\n",
        r.spec.label, r.spec.label
    );
    for (k, v) in rows(r) {
        s += &format!("| {k} | {v} |\n");
    }
    s += "\n| t (s) | peak RSS (MiB) | confirmed msg/s | publishers blocked |\n|---|---|---|---|\n";
    for (t, rss, rate, blocked) in timeline(&r.ticks, r.spec.duration.as_secs_f64()) {
        let rss = rss.map_or_else(|| "n/a".into(), |m| format!("{m:.0}"));
        s += &format!("| {t:.0} | {rss} | {rate:.0} | {blocked} |\n");
    }
    s
}

/// The JSON of one run: its rows, timeline, block events and every RSS sample (a crossing's
/// block latency can be traced back to the samples and events it came from).
pub fn to_json(r: &SoakResult) -> Value {
    json!({
        "label": r.spec.label,
        "rows": rows(r).into_iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "timeline": timeline(&r.ticks, r.spec.duration.as_secs_f64())
            .into_iter()
            .map(|(t, rss, rate, b)| json!({"t": t, "rss_mib": rss, "confirmed_per_s": rate, "blocked": b}))
            .collect::<Vec<_>>(),
        "events": r.events.iter()
            .map(|e| json!({"at": e.at, "publisher": e.publisher, "blocked": e.blocked, "reason": e.reason}))
            .collect::<Vec<_>>(),
        "samples": r.ticks.iter()
            .map(|t| json!({"at": t.at, "rss_kib": t.rss_kib, "blocked": t.blocked}))
            .collect::<Vec<_>>(),
    })
}

/// Several runs' JSON side by side: one row per metric, one column per broker.
pub fn side_by_side(runs: &[Value]) -> Result<String, String> {
    let labels: Vec<&str> = runs
        .iter()
        .map(|r| r["label"].as_str().unwrap_or("?"))
        .collect();
    let rows: Vec<Vec<(String, String)>> = runs
        .iter()
        .map(|r| {
            r["rows"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|kv| {
                            let s = |i: usize| kv[i].as_str().unwrap_or("").to_string();
                            (s(0), s(1))
                        })
                        .collect()
                })
                .ok_or_else(|| "a soak JSON file without rows".to_string())
        })
        .collect::<Result<_, _>>()?;
    let mut s = format!("| metric | {} |\n|---|", labels.join(" | "));
    s += &"---|".repeat(labels.len());
    s.push('\n');
    for (i, (k, _)) in rows.first().into_iter().flatten().enumerate() {
        let vals: Vec<&str> = rows
            .iter()
            .map(|r| r.get(i).map_or("", |kv| kv.1.as_str()))
            .collect();
        s += &format!("| {k} | {} |\n", vals.join(" | "));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_steps_rates_and_peaks() {
        let ticks: Vec<Tick> = (0..=100)
            .map(|i| Tick {
                at: i as f64 * 0.1,
                rss_kib: Some(1024 * (i as u64 % 7)),
                confirmed: i as u64 * 100,
                blocked: u32::from(i >= 50),
            })
            .collect();
        let tl = timeline(&ticks, 10.0);
        assert_eq!(tl.len(), 2);
        assert!((tl[0].0 - 5.0).abs() < 1e-9 && (tl[0].2 - 1000.0).abs() < 1e-6);
        assert_eq!((tl[0].1, tl[0].3), (Some(6.0), 1));
        assert!((tl[1].0 - 10.0).abs() < 1e-9 && (tl[1].2 - 1000.0).abs() < 1e-6);
    }

    #[test]
    fn side_by_side_joins_rows() {
        let a = json!({"label": "Warren", "rows": [["peak", "1"], ["rate", "2"]]});
        let b = json!({"label": "RabbitMQ", "rows": [["peak", "3"], ["rate", "4"]]});
        let t = side_by_side(&[a, b]).unwrap();
        assert_eq!(
            t,
            "| metric | Warren | RabbitMQ |\n|---|---|---|\n| peak | 1 | 3 |\n| rate | 2 | 4 |\n"
        );
        assert!(side_by_side(&[json!({"label": "x"})]).is_err());
    }

    fn crossings(latencies: &[Option<f64>], secs: &[f64]) -> String {
        block_latency(&Analysis {
            block_latencies: latencies.to_vec(),
            crossing_secs: secs.to_vec(),
            ..Default::default()
        })
    }

    #[test]
    fn each_crossing_ends_in_a_block_or_back_under_within_a_second() {
        assert_eq!(crossings(&[], &[]), "n/a (never crossed)");
        assert_eq!(
            crossings(&[Some(0.3), None], &[2.0, 0.1]),
            "first blocked in 0.30 s, worst 0.30 s over 2 crossings; \
             1 back under without a full block (longest above: 0.10 s) (goal < 1 s: met)"
        );
        assert_eq!(
            crossings(&[None, None], &[0.1, 1.5]),
            "first back under in 0.10 s, not blocked, worst 1.50 s over 2 crossings; \
             2 back under without a full block (longest above: 1.50 s) (goal < 1 s: NOT met)"
        );
        assert!(crossings(&[Some(1.2)], &[3.0]).ends_with("(goal < 1 s: NOT met)"));
    }
}
