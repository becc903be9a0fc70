//! Resource alarms: memory (the broker's resident set against `vm_memory_high_watermark`) and
//! disk (free space on the data dir's file system against `disk_free_limit`), measured on a
//! timer and raised or cleared through the flow state ([`crate::flow`]), which blocks the
//! connections that publish.
//!
//! As RabbitMQ 3.10's default strategy, memory used is the resident set size (from
//! `/proc/self/statm`, one small read), and a relative watermark is a fraction of the
//! machine's memory, or of the cgroup's limit (v2 `memory.max`, v1 `memory.limit_in_bytes`)
//! when that is lower. Free disk space is what `statvfs` gives unprivileged users (`df`'s
//! "Available", which RabbitMQ reads). Disk is checked every second, memory every 100 ms,
//! every 20 ms past the paging threshold (RabbitMQ: 2.5 s), and both at once when a threshold
//! changes.
//!
//! Past `vm_memory_high_watermark_paging_ratio` of the watermark the broker is "under memory
//! pressure": a flag ([`MemoryPressure`]) that queues read with one relaxed load on publish
//! and that makes them page bodies out to the store (docs/storage.md, "Paging"). Memory is
//! read that often so paging starts before a fast publisher has taken the broker far past
//! the threshold; one read of `/proc/self/statm` costs a few microseconds.
//!
//! Over the watermark, pages the allocator holds freed are handed back to the OS and memory is
//! measured again before the alarm is raised: the binary owns the allocator and passes how
//! ([`set_freed_memory_release`]). At the peaks of a soak three quarters of the resident set
//! were such pages (docs/storage.md, "Freed pages count as used").

use crate::config::{DiskFreeLimit, MemoryWatermark};
use crate::flow::{Flow, Reasons};
use crate::info::AlarmsInfo;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use tracing::{debug, info, warn};

/// How often memory is measured below the paging threshold...
const MEMORY_INTERVAL: Duration = Duration::from_millis(100);
/// ... and above it, where a publisher flood reaches the watermark: at 100 ms one passed it by
/// 50-100 MiB before the alarm (docs/storage.md, "Under memory pressure").
const MEMORY_INTERVAL_UNDER_PRESSURE: Duration = Duration::from_millis(20);
/// How often disk is measured (and queues are asked to page out while under pressure).
const SLOW_INTERVAL: Duration = Duration::from_secs(1);

/// Whether memory use is past the paging threshold, and which queues' paging is behind it.
/// Cheap to clone and to read.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemoryPressure {
    on: Arc<AtomicBool>,
    behind: Arc<Behind>,
}

/// How many queues are behind with their paging; while any is, connections read nothing
/// ([`Reasons::PAGING_BACKLOG`]). Without a flow (unit tests of queues) it only counts.
#[derive(Debug, Default)]
struct Behind {
    queues: Mutex<usize>,
    flow: Option<Arc<Flow>>,
    /// How many times a queue fell behind (tests).
    holds: AtomicU64,
}

impl Behind {
    /// Counts one queue in or out; the flow changes with the count under the same lock, so
    /// two queues crossing at once cannot leave it set with none behind, or the reverse.
    fn count(&self, queue_in: bool) {
        let mut n = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if queue_in {
            *n += 1;
            self.holds.fetch_add(1, Ordering::Relaxed);
        } else {
            *n = n.saturating_sub(1);
        }
        if let Some(flow) = &self.flow {
            if flow.is_set(Reasons::PAGING_BACKLOG) != (*n > 0) {
                debug!(
                    queues_behind = *n,
                    "paging behind its publishers: they wait while > 0"
                );
            }
            flow.set(Reasons::PAGING_BACKLOG, *n > 0);
        }
    }
}

/// One queue's paging is behind while this lives (see [`MemoryPressure::falling_behind`]).
#[derive(Debug)]
pub(crate) struct PagingBehind(Arc<Behind>);

impl Drop for PagingBehind {
    fn drop(&mut self) {
        self.0.count(false);
    }
}

impl MemoryPressure {
    /// Pressure whose queues that fall behind pause `flow`.
    pub(crate) fn with_flow(flow: Arc<Flow>) -> MemoryPressure {
        MemoryPressure {
            on: Arc::default(),
            behind: Arc::new(Behind {
                flow: Some(flow),
                ..Behind::default()
            }),
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Tests force pressure on or off (the monitor sets it again on its next check).
    pub(crate) fn set(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// A queue's paging write cannot take every body waiting for one: publishing pauses until
    /// the returned guard is dropped. A queue holds it only with a write in flight and drops
    /// it when that write is done (or never runs), so it cannot outlive the work that ends it.
    pub(crate) fn falling_behind(&self) -> PagingBehind {
        self.behind.count(true);
        PagingBehind(self.behind.clone())
    }

    /// How many queues are behind with their paging now, and how many times one fell behind.
    #[cfg(test)]
    pub(crate) fn queues_behind(&self) -> (usize, u64) {
        let n = *self.behind.queues.lock().unwrap_or_else(|p| p.into_inner());
        (n, self.behind.holds.load(Ordering::Relaxed))
    }
}

/// Hands the allocator's freed pages back to the OS at once; see [`set_freed_memory_release`].
pub type FreedMemoryRelease = fn();

static FREED_MEMORY_RELEASE: OnceLock<FreedMemoryRelease> = OnceLock::new();

/// How brokers started after this call return freed pages to the OS over the memory watermark.
/// The allocator belongs to the process, not to a broker, so this is set once per process (a
/// second call is ignored); the `warren` binary sets jemalloc's purge. Unset, RSS counts pages
/// the allocator holds freed until it returns them itself (jemalloc: within a second).
pub fn set_freed_memory_release(release: FreedMemoryRelease) {
    let _ = FREED_MEMORY_RELEASE.set(release);
}

/// Called once a second while under memory pressure (the broker asks every queue to page out).
pub(crate) type PressureHook = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct HookSlot(Mutex<Option<PressureHook>>);

impl std::fmt::Debug for HookSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookSlot")
    }
}

/// Used when the machine's memory cannot be read (RabbitMQ falls back to 1 GiB too).
const FALLBACK_TOTAL_MEMORY: u64 = 1 << 30;

/// The thresholds, changeable at runtime, and what the last check measured.
#[derive(Debug)]
struct State {
    watermark: MemoryWatermark,
    /// `vm_memory_high_watermark_paging_ratio`.
    paging_ratio: f64,
    disk_limit: DiskFreeLimit,
    memory_used: u64,
    /// `None` until measured, or when `statvfs` fails.
    disk_free: Option<u64>,
    /// The last `statvfs` failed (logged once, not every second).
    disk_failing: bool,
}

/// The broker's two resource alarms.
#[derive(Debug)]
pub(crate) struct Alarms {
    flow: Arc<Flow>,
    data_dir: PathBuf,
    /// The memory a relative watermark is a fraction of (read once, at start).
    total_memory: u64,
    state: Mutex<State>,
    pressure: MemoryPressure,
    pressure_hook: HookSlot,
    /// [`set_freed_memory_release`]'s, as it was when the broker was built.
    release: Option<FreedMemoryRelease>,
}

impl Alarms {
    pub(crate) fn new(
        flow: Arc<Flow>,
        data_dir: PathBuf,
        watermark: MemoryWatermark,
        paging_ratio: f64,
        disk_limit: DiskFreeLimit,
    ) -> Arc<Alarms> {
        Arc::new(Alarms {
            pressure: MemoryPressure::with_flow(flow.clone()),
            flow,
            data_dir,
            total_memory: total_memory(),
            pressure_hook: HookSlot::default(),
            release: FREED_MEMORY_RELEASE.get().copied(),
            state: Mutex::new(State {
                watermark,
                paging_ratio,
                disk_limit,
                memory_used: 0,
                disk_free: None,
                disk_failing: false,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The memory-pressure flag queues read.
    pub(crate) fn pressure(&self) -> &MemoryPressure {
        &self.pressure
    }

    /// What to call once a second while under memory pressure.
    pub(crate) fn set_pressure_hook(&self, hook: PressureHook) {
        *self
            .pressure_hook
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// Measures memory every [`MEMORY_INTERVAL`] (under pressure, every
    /// [`MEMORY_INTERVAL_UNDER_PRESSURE`]) and disk every second, for as long as the broker
    /// runs.
    pub(crate) async fn monitor(self: Arc<Self>) {
        let mut slow_due = tokio::time::Instant::now();
        loop {
            let now = tokio::time::Instant::now();
            if now < slow_due {
                self.check_memory();
            } else {
                slow_due = now + SLOW_INTERVAL;
                self.check();
                if self.pressure.is_on() {
                    let hook = self.pressure_hook.0.lock();
                    if let Some(hook) = &*hook.unwrap_or_else(|p| p.into_inner()) {
                        hook();
                    }
                }
            }
            let wait = if self.pressure.is_on() {
                MEMORY_INTERVAL_UNDER_PRESSURE
            } else {
                MEMORY_INTERVAL
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Measures memory now: sets or clears the alarm and the pressure flag.
    fn check_memory(&self) {
        let mut s = self.lock();
        let limit = self.memory_limit(s.watermark);
        if let Some(used) = self.measure_memory(limit) {
            s.memory_used = used;
            self.memory(used, limit, s.paging_ratio);
        }
    }

    /// The resident set; over `limit`, what is left of it once the allocator has returned the
    /// pages it holds freed. A page-out or a compaction frees tens of MiB at once, and the
    /// allocator keeps them for its decay time: counted, they raised the alarm for memory
    /// nobody used. Only over the limit: from 90 % of it on, purging at every check cost the
    /// soak's publishers about a third of their throughput (docs/benchmarks.md).
    fn measure_memory(&self, limit: u64) -> Option<u64> {
        let used = resident_memory()?;
        match self.release {
            Some(release) if used > limit => {
                release();
                resident_memory()
            }
            _ => Some(used),
        }
    }

    /// Measures memory and disk now and sets or clears each alarm.
    pub(crate) fn check(&self) {
        self.check_memory();
        let free = disk_free(&self.data_dir);
        // Held while the alarm changes, so two checks (the timer's, an admin's) apply in order.
        let mut s = self.lock();
        match free {
            Ok(free) => {
                s.disk_free = Some(free);
                s.disk_failing = false;
                self.disk(free, self.disk_limit(s.disk_limit));
            }
            Err(e) => {
                if !s.disk_failing {
                    warn!(dir = %self.data_dir.display(), error = %e,
                          "cannot measure free disk space; the disk alarm stays as it was");
                }
                s.disk_free = None;
                s.disk_failing = true;
            }
        }
    }

    fn memory(&self, used: u64, limit: u64, paging_ratio: f64) {
        let pressure = used as f64 > limit as f64 * paging_ratio;
        if pressure != self.pressure.is_on() {
            debug!(
                used,
                threshold = (limit as f64 * paging_ratio) as u64,
                pressure,
                "memory pressure: queues page message bodies out while it lasts"
            );
            self.pressure.set(pressure);
        }
        let alarm = used > limit;
        if alarm == self.flow.is_set(Reasons::MEMORY) {
            return;
        }
        if alarm {
            warn!(
                used,
                allowed = limit,
                "memory resource limit alarm set: publishers will be blocked until this alarm \
                 clears"
            );
        } else {
            info!(used, allowed = limit, "memory resource limit alarm cleared");
        }
        self.flow.set(Reasons::MEMORY, alarm);
    }

    fn disk(&self, free: u64, limit: u64) {
        let alarm = free < limit;
        if alarm == self.flow.is_set(Reasons::DISK) {
            return;
        }
        if alarm {
            warn!(
                free,
                limit,
                "disk resource limit alarm set: free disk space is insufficient, publishers \
                 will be blocked until this alarm clears"
            );
        } else {
            info!(free, limit, "disk resource limit alarm cleared");
        }
        self.flow.set(Reasons::DISK, alarm);
    }

    /// The memory watermark in bytes.
    fn memory_limit(&self, watermark: MemoryWatermark) -> u64 {
        match watermark {
            MemoryWatermark::Absolute(bytes) => bytes,
            MemoryWatermark::Relative(f) => (self.total_memory as f64 * f) as u64,
        }
    }

    /// The free disk space limit in bytes.
    fn disk_limit(&self, limit: DiskFreeLimit) -> u64 {
        match limit {
            DiskFreeLimit::Absolute(bytes) => bytes,
            DiskFreeLimit::MemRelative(f) => (self.total_memory as f64 * f) as u64,
        }
    }

    /// A new memory watermark, applied at once.
    pub(crate) fn set_memory_high_watermark(&self, watermark: MemoryWatermark) {
        self.lock().watermark = watermark;
        self.check();
    }

    /// A new free disk space limit, applied at once.
    pub(crate) fn set_disk_free_limit(&self, limit: DiskFreeLimit) {
        self.lock().disk_limit = limit;
        self.check();
    }

    /// The alarms and what the last check measured.
    pub(crate) fn info(&self) -> AlarmsInfo {
        let s = self.lock();
        AlarmsInfo {
            memory_alarm: self.flow.is_set(Reasons::MEMORY),
            disk_alarm: self.flow.is_set(Reasons::DISK),
            memory_used: s.memory_used,
            memory_limit: self.memory_limit(s.watermark),
            total_memory: self.total_memory,
            disk_free: s.disk_free,
            disk_free_limit: self.disk_limit(s.disk_limit),
        }
    }
}

/// The resident set size in bytes: `/proc/self/statm`'s second field, in pages.
fn resident_memory() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

/// Bytes available to unprivileged users on the file system holding `dir`.
fn disk_free(dir: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// The machine's memory, or the cgroup's limit when that is lower.
fn total_memory() -> u64 {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| mem_total(&m));
    let Some(machine) = machine else {
        warn!("cannot read the machine's memory: a relative watermark counts 1 GiB");
        return FALLBACK_TOTAL_MEMORY;
    };
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .and_then(|s| s.trim().parse::<u64>().ok());
    cgroup.map_or(machine, |limit| limit.min(machine))
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarms(watermark: MemoryWatermark, disk: DiskFreeLimit) -> (Arc<Flow>, Arc<Alarms>) {
        let flow = Flow::new();
        let dir = std::env::temp_dir();
        (flow.clone(), Alarms::new(flow, dir, watermark, 0.5, disk))
    }

    #[test]
    fn memory_past_the_paging_ratio_of_the_watermark_is_pressure_without_an_alarm() {
        let used = resident_memory().unwrap();
        // The watermark at 1.5 x what is used: over half of it, under all of it.
        let (flow, alarms) = alarms(
            MemoryWatermark::Absolute(used * 3 / 2),
            DiskFreeLimit::Absolute(0),
        );
        alarms.check();
        assert!(alarms.pressure().is_on() && !flow.is_set(Reasons::MEMORY));
        alarms.set_memory_high_watermark(MemoryWatermark::Absolute(used * 4));
        assert!(!alarms.pressure().is_on());
        alarms.set_memory_high_watermark(MemoryWatermark::Absolute(1));
        assert!(alarms.pressure().is_on() && flow.is_set(Reasons::MEMORY));
    }

    #[test]
    fn freed_memory_is_released_only_over_the_watermark() {
        static RELEASES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        fn release() {
            RELEASES.fetch_add(1, Ordering::Relaxed);
        }
        let used = resident_memory().unwrap();
        let (_, far) = alarms(
            MemoryWatermark::Absolute(used * 4),
            DiskFreeLimit::Absolute(0),
        );
        let far = Alarms {
            release: Some(release),
            ..Arc::into_inner(far).unwrap()
        };
        far.check();
        assert_eq!(
            RELEASES.load(Ordering::Relaxed),
            0,
            "a quarter of the watermark"
        );
        far.set_memory_high_watermark(MemoryWatermark::Absolute(used * 3 / 2));
        assert_eq!(RELEASES.load(Ordering::Relaxed), 0, "two thirds of it");
        far.set_memory_high_watermark(MemoryWatermark::Absolute(1));
        assert_eq!(RELEASES.load(Ordering::Relaxed), 1, "over it");
        assert!(
            far.info().memory_used > 1,
            "measured again after the release"
        );
    }

    #[test]
    fn publishing_pauses_while_any_queue_is_behind_with_its_paging() {
        let (flow, alarms) = alarms(
            MemoryWatermark::Absolute(1 << 40),
            DiskFreeLimit::Absolute(0),
        );
        let pressure = alarms.pressure().clone();
        let first = pressure.falling_behind();
        let second = pressure.clone().falling_behind();
        assert!(flow.is_set(Reasons::PAGING_BACKLOG));
        drop(first);
        assert!(
            flow.is_set(Reasons::PAGING_BACKLOG),
            "one queue is still behind"
        );
        assert_eq!(pressure.queues_behind(), (1, 2));
        drop(second);
        assert!(!flow.is_set(Reasons::PAGING_BACKLOG));
        assert_eq!(pressure.queues_behind(), (0, 2));
        // Not an alarm: clients are not told, and the alarms' view does not change.
        assert!(!alarms.info().memory_alarm);
    }

    #[test]
    fn memory_over_the_watermark_sets_the_alarm_and_a_raise_clears_it() {
        let (flow, alarms) = alarms(MemoryWatermark::Absolute(1), DiskFreeLimit::Absolute(0));
        alarms.check();
        assert!(flow.is_set(Reasons::MEMORY));
        let info = alarms.info();
        assert!(info.memory_alarm && info.memory_used > 1 && info.memory_limit == 1);
        alarms.set_memory_high_watermark(MemoryWatermark::Absolute(u64::MAX));
        assert!(!flow.is_set(Reasons::MEMORY));
        alarms.set_memory_high_watermark(MemoryWatermark::Relative(0.0));
        assert!(
            flow.is_set(Reasons::MEMORY),
            "0 of the machine blocks everything"
        );
    }

    #[test]
    fn free_space_under_the_limit_sets_the_disk_alarm() {
        let (flow, alarms) = alarms(MemoryWatermark::Relative(1.0), DiskFreeLimit::Absolute(0));
        alarms.check();
        assert!(!flow.is_set(Reasons::DISK));
        assert!(alarms.info().disk_free.is_some_and(|f| f > 0));
        alarms.set_disk_free_limit(DiskFreeLimit::Absolute(u64::MAX));
        assert!(flow.is_set(Reasons::DISK));
        assert!(alarms.info().disk_alarm);
        alarms.set_disk_free_limit(DiskFreeLimit::MemRelative(0.0));
        assert!(!flow.is_set(Reasons::DISK));
    }

    #[test]
    fn a_file_system_that_cannot_be_measured_leaves_the_alarm_as_it_was() {
        let flow = Flow::new();
        let gone = std::env::temp_dir().join("warren-no-such-dir/data");
        let alarms = Alarms::new(
            flow.clone(),
            gone,
            MemoryWatermark::Relative(1.0),
            0.5,
            DiskFreeLimit::Absolute(u64::MAX),
        );
        alarms.check();
        assert!(!flow.is_set(Reasons::DISK));
        assert_eq!(alarms.info().disk_free, None);
    }

    #[test]
    fn relative_thresholds_are_fractions_of_the_memory() {
        let (_, alarms) = alarms(
            MemoryWatermark::Relative(0.5),
            DiskFreeLimit::MemRelative(2.0),
        );
        let info = alarms.info();
        assert!(info.total_memory > 0);
        assert_eq!(info.memory_limit, info.total_memory / 2);
        assert_eq!(info.disk_free_limit, info.total_memory * 2);
    }

    #[test]
    fn meminfo_total() {
        let text = "MemTotal:       24683792 kB\nMemFree:         1115236 kB\n";
        assert_eq!(mem_total(text), Some(24_683_792 * 1024));
        assert_eq!(mem_total("nothing"), None);
    }
}
