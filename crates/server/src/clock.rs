//! The broker's time for TTLs and expiry: milliseconds since the Unix epoch, read here and
//! nowhere else (message and queue TTLs, `x-expires`, `x-delay`, the publish times stored with
//! persistent messages).
//!
//! The wall clock is read once, at the first call; every reading after that is that time plus
//! the `tokio::time::Instant` elapsed since. So the clock follows tokio's:
//! - Tests can `tokio::time::pause` and `advance` and see messages, queues and delayed
//!   messages expire without sleeping; the expiry timers sleep on the same clock.
//! - Within a run, a TTL counts elapsed time, as a timer does: stepping the wall clock (NTP,
//!   an operator setting the date) neither expires messages early nor keeps them late.
//! - Across a restart, the new process anchors to the wall clock again, and the publish times
//!   stored with recovered messages (the previous run's readings: its anchor plus the elapsed
//!   time) are compared with it. The downtime therefore counts against a recovered message's
//!   TTL, as it does in RabbitMQ. The error is what the previous run's monotonic clock drifted
//!   from the wall clock over its uptime (NTP slewing, a wall-clock step, time the machine was
//!   suspended, which the monotonic clock does not count): a recovered message expires that
//!   much early or late. Reading the wall clock every time had the same error, made at the
//!   other end (at the step rather than at the restart).
//! - A broker restarted inside one process (the tests do this) keeps the anchor: its stored
//!   times and its readings stay on one timeline, paused or not.
//! - The anchor is taken on the real monotonic clock even when the first call happens in a
//!   paused runtime: a paused runtime reads the wall time at which its clock stopped plus what
//!   it has advanced since, and its instants from before the anchor map to earlier times (not
//!   to the anchor), so its readings move exactly as its own clock does.

use std::sync::OnceLock;
use tokio::time::Instant;

/// The real monotonic instant of the first reading, and the wall clock's ms since the epoch then.
static ANCHOR: OnceLock<(Instant, u64)> = OnceLock::new();

/// Milliseconds since the Unix epoch, on tokio's clock (see the module doc).
pub(crate) fn now_ms() -> u64 {
    let now = Instant::now();
    let &(at, epoch_ms) =
        ANCHOR.get_or_init(|| (Instant::from_std(std::time::Instant::now()), wall_ms()));
    match now.checked_duration_since(at) {
        Some(ahead) => epoch_ms.saturating_add(ahead.as_millis() as u64),
        // Rounded up behind the anchor (as `as_millis` rounds down ahead of it), so whole-ms
        // steps of paused time move the result by exactly as much on either side.
        None => {
            epoch_ms.saturating_sub(at.duration_since(now).as_nanos().div_ceil(1_000_000) as u64)
        }
    }
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_clock_moves_with_paused_tokio_time_only() {
        let start = now_ms();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(now_ms(), start, "paused: real time passing does not count");
        tokio::time::advance(Duration::from_millis(90_000)).await;
        assert_eq!(now_ms(), start + 90_000);
    }

    #[test]
    fn the_clock_is_near_the_wall_clock() {
        let (a, b) = (now_ms(), wall_ms());
        // Anchored at most a test run ago; a test run does not drift by more than a second.
        assert!(a.abs_diff(b) < 1_000, "clock {a} vs wall {b}");
    }
}
