//! The `soak` and `soak-report` command lines.

use super::SoakSpec;
use clap::Args;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Broker URI.
    #[arg(long, default_value = crate::cli::DEFAULT_URI)]
    pub uri: String,
    /// Label for the broker in reports.
    #[arg(long, default_value = "broker")]
    pub label: String,
    /// Broker pid, for its RSS from /proc (for RabbitMQ, the beam.smp pid).
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// The broker's memory watermark (as vm_memory_high_watermark.absolute: 256MiB, 1GB,
    /// bytes), to find the RSS samples above it.
    #[arg(long, default_value = "256MiB")]
    pub watermark: String,
    #[arg(long, default_value_t = 2)]
    pub transient_publishers: u32,
    #[arg(long, default_value_t = 2)]
    pub persistent_publishers: u32,
    /// Body size in bytes (at least 8: the id).
    #[arg(short = 's', long, default_value_t = 1024)]
    pub size: usize,
    /// Seconds to publish.
    #[arg(short = 'z', long, default_value_t = 600.0)]
    pub duration: f64,
    /// Unconfirmed messages per publisher at most.
    #[arg(long, default_value_t = 1000)]
    pub window: u64,
    /// The slow consumer's acks per second.
    #[arg(long, default_value_t = 10.0)]
    pub ack_rate: f64,
    /// The slow consumer's prefetch.
    #[arg(long, default_value_t = 10)]
    pub prefetch: u16,
    /// Seconds the drain after publishing may take at most.
    #[arg(long, default_value_t = 1800.0)]
    pub drain_timeout: f64,
    /// Seconds to go on waiting for the publishers' confirms once the queue is drained.
    #[arg(long, default_value_t = 15.0)]
    pub settle_grace: f64,
    /// Also write the figures as JSON here (for `soak-report`).
    #[arg(long)]
    pub json: Option<String>,
}

impl SoakArgs {
    pub fn spec(&self) -> Result<SoakSpec, String> {
        let secs = |v: f64, what: &str| {
            if v.is_finite() && v > 0.0 && v < 86_400.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(format!("{what} must be between 0 and 86400 seconds"))
            }
        };
        if self.size < 8 {
            return Err("--size must be at least 8 (the body carries an 8-byte id)".into());
        }
        if !(self.ack_rate.is_finite() && self.ack_rate > 0.0) || self.window == 0 {
            return Err("--ack-rate and --window must be above 0".into());
        }
        Ok(SoakSpec {
            uri: self.uri.parse().map_err(|e| format!("--uri: {e}"))?,
            label: self.label.clone(),
            broker_pid: self.broker_pid,
            transient_publishers: self.transient_publishers,
            persistent_publishers: self.persistent_publishers,
            size: self.size,
            duration: secs(self.duration, "--duration")?,
            window: self.window,
            ack_rate: self.ack_rate,
            prefetch: self.prefetch.max(1),
            watermark_bytes: parse_size(&self.watermark)?,
            drain_timeout: secs(self.drain_timeout, "--drain-timeout")?,
            settle_grace: secs(self.settle_grace, "--settle-grace")?,
        })
    }
}

#[derive(Debug, Args)]
pub struct SoakReportArgs {
    /// JSON files written by `soak --json`, one column each.
    #[arg(required = true)]
    pub files: Vec<String>,
}

/// A size as RabbitMQ's information units: bytes, or a number with kB/MB/GB (powers of 1000)
/// or KiB/MiB/GiB (and k/M/G, powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad size {s:?}: expected e.g. 256MiB"))?;
    let mult: u64 = match unit.trim() {
        "" => 1,
        "kB" | "KB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "k" | "K" | "kiB" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        u => return Err(format!("bad size unit {u:?} in {s:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_rabbitmq_units() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }
}
