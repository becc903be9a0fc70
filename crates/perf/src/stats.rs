//! The clock and the pure arithmetic of a run: latency percentiles from an HDR histogram,
//! publisher-confirm bookkeeping, per-second and per-100k-message rates, and the A-versus-B
//! ratio.

use hdrhistogram::Histogram;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// Monotonic nanoseconds since the first call, shared by the senders and receivers of this
/// process (the send time travels in the first 8 bytes of the body).
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

/// Latencies are recorded in nanoseconds, from 1 ns to 60 s, to 3 significant digits.
pub fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static histogram bounds are valid")
}

/// Records one latency in nanoseconds, clamping into the histogram's range.
pub fn record_latency(h: &mut Histogram<u64>, nanos: u64) {
    let v = nanos.clamp(1, h.high());
    // Cannot fail once clamped into range.
    let _ = h.record(v);
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl LatencySummary {
    /// Summarises a nanosecond histogram; `None` when it holds no samples.
    pub fn from_histogram(h: &Histogram<u64>) -> Option<LatencySummary> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Some(LatencySummary {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        })
    }
}

/// Tracks publisher confirms: sequence numbers start at 1 per channel; an ack or nack with
/// `multiple` settles every outstanding number up to its tag.
#[derive(Debug, Default)]
pub struct ConfirmTracker {
    /// Every sequence number up to and including this one is settled.
    settled_upto: u64,
    /// Settled numbers above `settled_upto` (single acks that came out of order).
    singles: BTreeSet<u64>,
    pub acked: u64,
    pub nacked: u64,
}

impl ConfirmTracker {
    /// Applies one ack (`nack == false`) or nack; returns how many messages it settled.
    pub fn settle(&mut self, tag: u64, multiple: bool, nack: bool) -> u64 {
        let n = if multiple {
            if tag <= self.settled_upto {
                0
            } else {
                let already = self.singles.range(..=tag).count() as u64;
                self.singles = self.singles.split_off(&(tag + 1));
                let n = tag - self.settled_upto - already;
                self.settled_upto = tag;
                n
            }
        } else if tag > self.settled_upto && self.singles.insert(tag) {
            1
        } else {
            0
        };
        while self.singles.first() == Some(&(self.settled_upto + 1)) {
            self.singles.pop_first();
            self.settled_upto += 1;
        }
        if nack {
            self.nacked += n;
        } else {
            self.acked += n;
        }
        n
    }

    /// Messages settled either way.
    pub fn settled(&self) -> u64 {
        self.acked + self.nacked
    }
}

/// `count` per second over `secs` (0 when no time passed).
pub fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// CPU seconds per 100k messages (`None` without messages).
pub fn cpu_per_100k(cpu_secs: f64, messages: u64) -> Option<f64> {
    (messages > 0).then(|| cpu_secs * 100_000.0 / messages as f64)
}

/// Which way a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// The compare-mode ratio, oriented so that above 1 always means A (Warren) is better:
/// `a / b` for higher-is-better metrics (throughput), `b / a` for lower-is-better ones
/// (latency, memory, CPU). `None` when either side is missing or the divisor is zero.
pub fn ratio(a: Option<f64>, b: Option<f64>, better: Better) -> Option<f64> {
    let (a, b) = (a?, b?);
    let (num, den) = match better {
        Better::Higher => (a, b),
        Better::Lower => (b, a),
    };
    if den > 0.0 && num.is_finite() && den.is_finite() {
        Some(num / den)
    } else {
        None
    }
}

/// The median of the values present (for repeated rounds).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_from_histogram() {
        let mut h = new_latency_histogram();
        assert_eq!(LatencySummary::from_histogram(&h), None);
        // 1..=1000 microseconds, once each.
        for us in 1..=1000u64 {
            record_latency(&mut h, us * 1000);
        }
        let s = LatencySummary::from_histogram(&h).unwrap();
        assert_eq!(s.count, 1000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.002 + 0.001;
        assert!(close(s.p50_us, 500.0), "{}", s.p50_us);
        assert!(close(s.p99_us, 990.0), "{}", s.p99_us);
        assert!(close(s.p999_us, 999.0), "{}", s.p999_us);
        assert!(close(s.max_us, 1000.0), "{}", s.max_us);
        assert!(close(s.mean_us, 500.5), "{}", s.mean_us);
    }

    #[test]
    fn outliers_are_clamped_not_dropped() {
        let mut h = new_latency_histogram();
        record_latency(&mut h, 0);
        record_latency(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
        let s = LatencySummary::from_histogram(&h).unwrap();
        assert!(s.max_us >= 59_000_000.0);
    }

    #[test]
    fn confirms_single_multiple_and_out_of_order() {
        let mut t = ConfirmTracker::default();
        assert_eq!(t.settle(2, false, false), 1);
        assert_eq!(t.settle(5, false, false), 1);
        // multiple up to 4 settles 1, 3, 4 (2 was already counted)
        assert_eq!(t.settle(4, true, false), 3);
        // 5 was settled singly: the floor moves past it
        assert_eq!(t.settled_upto, 5);
        assert_eq!(t.settle(5, false, false), 0);
        assert_eq!(t.settle(3, true, false), 0);
        assert_eq!(t.settle(8, true, true), 3);
        assert_eq!((t.acked, t.nacked, t.settled()), (5, 3, 8));
    }

    #[test]
    fn ratio_is_oriented_so_above_one_means_a_wins() {
        // throughput: A 200k/s vs B 100k/s
        assert_eq!(ratio(Some(200.0), Some(100.0), Better::Higher), Some(2.0));
        // latency: A 50us vs B 100us -> 2.0
        assert_eq!(ratio(Some(50.0), Some(100.0), Better::Lower), Some(2.0));
        // memory: A worse
        assert_eq!(ratio(Some(40.0), Some(10.0), Better::Lower), Some(0.25));
        assert_eq!(ratio(None, Some(1.0), Better::Higher), None);
        assert_eq!(ratio(Some(1.0), Some(0.0), Better::Higher), None);
        assert_eq!(ratio(Some(0.0), Some(1.0), Better::Lower), None);
    }

    #[test]
    fn rates_and_median() {
        assert_eq!(per_sec(500, 2.0), 250.0);
        assert_eq!(per_sec(5, 0.0), 0.0);
        assert_eq!(cpu_per_100k(2.0, 200_000), Some(1.0));
        assert_eq!(cpu_per_100k(2.0, 0), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
