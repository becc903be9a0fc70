//! What the soak's samples mean: peak RSS, how long after RSS crossed the watermark every
//! publisher was blocked, block episodes, and throughput before the first block and while
//! unblocked afterwards. Pure functions of the samples, so they are tested on made-up runs.

/// One sample, taken every 100 ms while publishing (seconds from the start).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    pub at: f64,
    /// The broker's VmRSS (`None` without a pid or when /proc could not be read).
    pub rss_kib: Option<u64>,
    /// Messages confirmed so far, over every publisher.
    pub confirmed: u64,
    /// Publishers blocked at that instant.
    pub blocked: u32,
}

/// A connection.blocked (`blocked`) or connection.unblocked one publisher received.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockEvent {
    pub at: f64,
    pub publisher: usize,
    pub blocked: bool,
    pub reason: String,
}

/// The figures of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    pub peak_rss_kib: Option<u64>,
    /// Seconds from the start to the first sample above the watermark.
    pub first_crossing: Option<f64>,
    /// Per crossing of the watermark (a sample above it after one at or below it): seconds
    /// until every publisher was blocked; negative when they all were before the sample saw
    /// the crossing; `None` when RSS went back under (or the run ended) first.
    pub block_latencies: Vec<Option<f64>>,
    /// Per crossing, in the same order: seconds above the watermark (to the end of publishing
    /// when RSS stayed above).
    pub crossing_secs: Vec<f64>,
    /// Intervals with at least one publisher blocked.
    pub episodes: u32,
    /// connection.blocked frames received, over every publisher.
    pub blocked_notices: u32,
    /// Seconds with every publisher blocked.
    pub all_blocked_secs: f64,
    /// Publishers still blocked when publishing stopped.
    pub blocked_at_end: u32,
    /// Confirmed msg/s from the start to the first connection.blocked (the whole run if none).
    pub rate_before_block: Option<f64>,
    /// Confirmed msg/s over the samples with no publisher blocked, after the first unblock.
    pub rate_unblocked_after: Option<f64>,
    /// Seconds of those samples.
    pub unblocked_after_secs: f64,
    /// Confirmed msg/s over the whole publishing phase.
    pub rate_overall: Option<f64>,
}

/// Analyses a run of `publishers` publishers that published for `secs` seconds against a
/// watermark of `watermark_kib`.
pub fn analyse(
    ticks: &[Tick],
    events: &[BlockEvent],
    publishers: u32,
    watermark_kib: u64,
    secs: f64,
) -> Analysis {
    // Only what happened while publishing: unblocks during the drain are not part of it.
    let mut events: Vec<BlockEvent> = events.iter().filter(|e| e.at <= secs).cloned().collect();
    events.sort_by(|a, b| a.at.total_cmp(&b.at));
    let all = all_blocked_intervals(&events, publishers as usize, secs);
    let (episodes, first_block, first_unblock, blocked_at_end) = episodes(&events);
    let mut a = Analysis {
        peak_rss_kib: ticks.iter().filter_map(|t| t.rss_kib).max(),
        first_crossing: crossings(ticks, watermark_kib).first().map(|c| c.0),
        block_latencies: crossings(ticks, watermark_kib)
            .into_iter()
            .map(|(start, end)| block_latency(&all, start, end))
            .collect(),
        crossing_secs: crossings(ticks, watermark_kib)
            .into_iter()
            .map(|(start, end)| end.min(secs) - start)
            .collect(),
        episodes,
        blocked_notices: events.iter().filter(|e| e.blocked).count() as u32,
        // A fold from 0.0: an empty f64 `sum` is -0.0, which the report printed as "-0.0 s".
        all_blocked_secs: all.iter().fold(0.0, |t, (s, e)| t + (e - s)),
        blocked_at_end,
        ..Default::default()
    };
    let confirmed_at = |t: f64| {
        ticks
            .iter()
            .take_while(|k| k.at <= t)
            .last()
            .map_or(0, |k| k.confirmed)
    };
    let end = first_block.unwrap_or(secs);
    a.rate_before_block = rate(confirmed_at(end), end);
    a.rate_overall = rate(ticks.last().map_or(0, |t| t.confirmed), secs);
    if let Some(from) = first_unblock {
        let (mut n, mut dt) = (0u64, 0f64);
        for w in ticks.windows(2) {
            if w[0].at >= from && w[0].blocked == 0 && w[1].blocked == 0 {
                n += w[1].confirmed.saturating_sub(w[0].confirmed);
                dt += w[1].at - w[0].at;
            }
        }
        a.rate_unblocked_after = rate(n, dt);
        a.unblocked_after_secs = dt;
    }
    a
}

fn rate(n: u64, secs: f64) -> Option<f64> {
    (secs > 0.0).then(|| n as f64 / secs)
}

/// (time above, time back at or under) for each crossing of the watermark; the second is the
/// last sample's time when RSS stayed above.
fn crossings(ticks: &[Tick], watermark_kib: u64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut above = false;
    for t in ticks {
        let Some(rss) = t.rss_kib else { continue };
        let now_above = rss > watermark_kib;
        if now_above && !above {
            out.push((t.at, f64::INFINITY));
        } else if !now_above && above {
            if let Some(last) = out.last_mut() {
                last.1 = t.at;
            }
        }
        above = now_above;
    }
    out
}

/// Intervals (start, end) during which all `n` publishers were blocked.
fn all_blocked_intervals(events: &[BlockEvent], n: usize, end: f64) -> Vec<(f64, f64)> {
    let mut blocked = vec![false; n];
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut since: Option<f64> = None;
    for e in events {
        if let Some(b) = blocked.get_mut(e.publisher) {
            *b = e.blocked;
        }
        let all = n > 0 && blocked.iter().all(|b| *b);
        match (all, since) {
            (true, None) => since = Some(e.at),
            (false, Some(s)) => {
                out.push((s, e.at));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(s) = since {
        out.push((s, end.max(s)));
    }
    out
}

/// Seconds from a crossing at `start` to all publishers blocked, if that happened before RSS
/// was back under the watermark at `end`.
fn block_latency(all: &[(f64, f64)], start: f64, end: f64) -> Option<f64> {
    all.iter()
        .find(|(s, e)| *e > start && *s <= end)
        .map(|(s, _)| s - start)
}

/// (episodes with any publisher blocked, first block, first unblock, blocked at the end).
fn episodes(events: &[BlockEvent]) -> (u32, Option<f64>, Option<f64>, u32) {
    let mut blocked = std::collections::BTreeSet::new();
    let (mut n, mut first_block, mut first_unblock) = (0, None, None);
    for e in events {
        if e.blocked {
            if blocked.is_empty() {
                n += 1;
            }
            blocked.insert(e.publisher);
            first_block.get_or_insert(e.at);
        } else {
            blocked.remove(&e.publisher);
            if blocked.is_empty() && first_block.is_some() {
                first_unblock.get_or_insert(e.at);
            }
        }
    }
    (n, first_block, first_unblock, blocked.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at: f64, publisher: usize, blocked: bool) -> BlockEvent {
        BlockEvent {
            at,
            publisher,
            blocked,
            reason: "low on memory".into(),
        }
    }

    /// 10 s at 0.5 s steps; RSS (MiB) and blocked publishers per step.
    fn ticks(rss_mib: &[u64], blocked: &[u32], per_step: u64) -> Vec<Tick> {
        rss_mib
            .iter()
            .zip(blocked)
            .enumerate()
            .map(|(i, (r, b))| Tick {
                at: i as f64 * 0.5,
                rss_kib: Some(r * 1024),
                confirmed: i as u64 * per_step,
                blocked: *b,
            })
            .collect()
    }

    #[test]
    fn a_run_that_blocks_and_recovers() {
        // Crosses 256 MiB at 1.0 s; both publishers blocked at 1.3 s; unblocked at 2.2 and
        // 2.4 s; RSS back under at 2.5 s; crosses again at 3.5 s, blocked from 3.2 s already.
        let rss = [100, 200, 300, 300, 280, 250, 240, 300, 300, 200];
        let blocked = [0, 0, 0, 2, 2, 0, 0, 2, 2, 0];
        let t = ticks(&rss, &blocked, 1000);
        let events = [
            ev(1.2, 0, true),
            ev(1.3, 1, true),
            ev(2.2, 0, false),
            ev(2.4, 1, false),
            ev(3.2, 1, true),
            ev(3.2, 0, true),
            ev(4.4, 0, false),
            ev(4.4, 1, false),
        ];
        let a = analyse(&t, &events, 2, 256 * 1024, 5.0);
        assert_eq!(a.peak_rss_kib, Some(300 * 1024));
        assert_eq!(a.first_crossing, Some(1.0));
        let lat: Vec<f64> = a.block_latencies.iter().map(|l| l.unwrap()).collect();
        assert!(
            (lat[0] - 0.3).abs() < 1e-9 && (lat[1] + 0.3).abs() < 1e-9,
            "{lat:?}"
        );
        assert_eq!((a.episodes, a.blocked_notices, a.blocked_at_end), (2, 4, 0));
        assert!((a.all_blocked_secs - (0.9 + 1.2)).abs() < 1e-9);
        // 2 steps of 1000 before 1.2 s: the sample at 1.0 s had 2000 confirmed.
        assert!((a.rate_before_block.unwrap() - 2000.0 / 1.2).abs() < 1e-9);
        // After the first unblock (2.4 s) only the window 2.5-3.0 has no publisher blocked at
        // either end.
        assert!((a.unblocked_after_secs - 0.5).abs() < 1e-9);
        assert!((a.rate_unblocked_after.unwrap() - 2000.0).abs() < 1e-9);
    }

    #[test]
    fn a_run_that_stays_blocked() {
        let t = ticks(&[100, 300, 300, 300], &[0, 1, 2, 2], 500);
        // The unblocks come during the drain, after publishing stopped at 2 s.
        let events = [
            ev(0.6, 0, true),
            ev(1.1, 1, true),
            ev(9.0, 0, false),
            ev(9.0, 1, false),
        ];
        let a = analyse(&t, &events, 2, 256 * 1024, 2.0);
        assert_eq!(a.block_latencies, vec![Some(1.1 - 0.5)]);
        assert_eq!(a.crossing_secs, vec![1.5], "above to the end of publishing");
        assert_eq!((a.episodes, a.blocked_at_end), (1, 2));
        assert_eq!(a.rate_unblocked_after, None);
        assert!((a.all_blocked_secs - 0.9).abs() < 1e-9);
    }

    #[test]
    fn a_crossing_without_a_full_block() {
        let t = ticks(&[300, 200, 200], &[1, 0, 0], 10);
        let events = [ev(0.2, 0, true), ev(0.7, 0, false)];
        let a = analyse(&t, &events, 2, 256 * 1024, 1.5);
        assert_eq!(a.block_latencies, vec![None]);
        assert_eq!(a.crossing_secs, vec![0.5], "back under at the next sample");
        assert_eq!(format!("{:.1}", a.all_blocked_secs), "0.0");
        assert_eq!(a.rate_before_block, Some(0.0));
    }
}
