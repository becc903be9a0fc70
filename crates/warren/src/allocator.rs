//! The process's allocator, jemalloc, and its options; and how the broker hands the pages it
//! holds freed back to the OS over the memory watermark (`warren_server::set_freed_memory_release`).
//!
//! jemalloc rather than the system allocator: under glibc malloc many connection tasks freeing
//! message buffers on other threads contend on arena locks (docs/benchmarks.md, "Allocator").
//! It is built unprefixed (Cargo.toml), so it is the C `malloc` too and RocksDB's C++
//! allocations use it as well.

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// jemalloc's options, read from this symbol at its first allocation. A background thread hands
// pages freed for a second back to the OS: without it, bodies paged out under memory pressure,
// or a drained backlog, free memory that jemalloc keeps (nothing allocates while publishers
// are blocked), RSS stays over the watermark and the memory alarm never clears (after a soak's
// drain: 492 MiB kept, 135 MiB with it; docs/storage.md, "Paging"; docs/benchmarks.md, "Soak").
// A second is too long over the watermark, though: there the broker purges at once
// ([`release_freed_memory`]) before it raises the alarm.
//
// On Linux jemalloc reads `malloc_conf`; where the platform forces a prefix it reads
// `_rjem_malloc_conf`. Both point at the same options.
#[cfg(not(target_env = "msvc"))]
const JEMALLOC_OPTIONS: &[u8] = b"background_thread:true,dirty_decay_ms:1000\0";

#[cfg(not(target_env = "msvc"))]
#[allow(unsafe_code, non_upper_case_globals)] // an exported symbol: jemalloc's documented hook
#[export_name = "malloc_conf"]
pub static malloc_conf: Option<&'static u8> = Some(&JEMALLOC_OPTIONS[0]);

#[cfg(not(target_env = "msvc"))]
#[allow(unsafe_code, non_upper_case_globals)] // the same hook under jemalloc's prefixed name
#[export_name = "_rjem_malloc_conf"]
pub static prefixed_malloc_conf: Option<&'static u8> = Some(&JEMALLOC_OPTIONS[0]);

/// Tells the broker how to return freed pages (called once, before it starts).
pub fn install() {
    #[cfg(not(target_env = "msvc"))]
    warren_server::set_freed_memory_release(release_freed_memory);
}

/// Every arena's unused dirty pages back to the OS, now (`arena.<MALLCTL_ARENAS_ALL>.purge`).
///
/// A raw `mallctl`: tikv-jemalloc-ctl, the maintained wrapper, has no call for a control that
/// takes and returns nothing (its `write` passes a value, which jemalloc refuses here).
#[cfg(not(target_env = "msvc"))]
fn release_freed_memory() {
    /// `MALLCTL_ARENAS_ALL` (4096) in the control's name: every arena.
    const PURGE_ALL: &[u8] = b"arena.4096.purge\0";
    // SAFETY: the name is a NUL-terminated string naming a control that reads and writes
    // nothing, so null old/new pointers and zero lengths are what it expects.
    #[allow(unsafe_code)]
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    debug_assert_eq!(rc, 0, "arena.4096.purge");
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn resident_mib() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        (pages * 4096) >> 20
    }

    /// 256 MiB of 1 KiB allocations (message bodies' size in the soak), touched and freed:
    /// jemalloc keeps the pages for up to its decay time; the release returns them at once.
    #[test]
    fn released_pages_leave_the_resident_set_at_once() {
        let before = resident_mib();
        let bodies: Vec<Box<[u8]>> = (0..256 * 1024)
            .map(|i| vec![i as u8; 1024].into())
            .collect();
        let held = resident_mib();
        assert!(
            held >= before + 200,
            "{before} MiB, then {held} MiB holding 256 MiB"
        );
        drop(bodies);
        release_freed_memory();
        let after = resident_mib();
        assert!(
            after < before + 64,
            "{before} MiB before, {held} MiB held, {after} MiB once freed and released"
        );
    }
}
