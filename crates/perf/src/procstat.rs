//! CPU time and resident memory of a process from Linux's /proc (the broker's by pid, the
//! perf tool's own as `self`).

/// /proc reports CPU time in clock ticks of USER_HZ, which Linux fixes at 100 for userspace.
const TICKS_PER_SEC: f64 = 100.0;

/// One sample of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// User plus system CPU seconds since the process started (all threads).
    pub cpu_secs: f64,
    /// Resident set size in KiB (`None` if /proc/PID/status could not be read).
    pub rss_kib: Option<u64>,
}

/// utime + stime from the text of /proc/PID/stat, in seconds.
pub fn parse_stat_cpu(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may contain spaces: skip past it.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name, field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

/// VmRSS in KiB from the text of /proc/PID/status.
pub fn parse_status_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Samples a process: `None` for this process, `Some(pid)` for another.
pub fn sample(pid: Option<u32>) -> Option<ProcSample> {
    let dir = match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".to_string(),
    };
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("{dir}/status")).ok();
    Some(ProcSample {
        cpu_secs: parse_stat_cpu(&stat)?,
        rss_kib: status.as_deref().and_then(parse_status_rss),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_name() {
        let stat = "4667 (beam.smp x) S 4600 4667 4667 0 -1 4194560 123 0 0 0 250 50 0 0 20 0 \
                    30 0 1000 2000000 30000 18446744073709551615";
        assert_eq!(parse_stat_cpu(stat), Some(3.0));
        assert_eq!(parse_stat_cpu("garbage"), None);
    }

    #[test]
    fn parses_vmrss() {
        let status = "Name:\tbeam.smp\nVmPeak:\t 2000 kB\nVmRSS:\t  124856 kB\nThreads:\t30\n";
        assert_eq!(parse_status_rss(status), Some(124_856));
        assert_eq!(parse_status_rss("Name: x\n"), None);
    }

    #[test]
    fn samples_itself() {
        let s = sample(None).expect("/proc/self is readable on Linux");
        assert!(s.cpu_secs >= 0.0);
        assert!(s.rss_kib.unwrap_or(0) > 0);
    }
}
