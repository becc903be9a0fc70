//! The machine's latency floor: the publish-to-receive latency of a broker that does no work at
//! all. A forwarder thread copies every byte from one loopback connection to another, on a
//! multi-threaded tokio runtime shaped like Warren's; the client paces 16-byte records exactly
//! as the latency scenario paces its publishes and timestamps them the same way.
//!
//! What it measures is two thread wake-ups (forwarder, then client) and two trips through the
//! loopback TCP stack: what every broker pays on this machine before it does anything. With
//! `spin` the forwarder busy-polls and only the client's wake-up is left. On a
//! virtual machine with idle vCPUs that is tens of microseconds and noisy, and it bounds the
//! latency ratio any broker can show against another (docs/benchmarks.md, "latency floor").

use crate::stats::{self, LatencySummary};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Bytes per record: the send time, then padding (the latency scenario's body size).
const RECORD: usize = 16;
/// Records per write at most (the producer's batch cap is far above what one pacing tick
/// releases at these rates).
const MAX_BATCH: u64 = 1000;

/// One worker per core: the default of `#[tokio::main]`, which Warren uses.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct FloorSpec {
    /// Records per second.
    pub rate: f64,
    pub duration: Duration,
    /// Worker threads of the forwarder's runtime (Warren's default runtime has one per core).
    pub forwarder_threads: usize,
    /// Busy-poll instead: the forwarder is a plain thread spinning on a non-blocking read, so
    /// it never sleeps and its wake-up drops out (at the cost of a whole core). What a broker
    /// that spins could at best gain.
    pub spin: bool,
}

/// Why a floor measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    #[error("floor: {0}")]
    Io(#[from] std::io::Error),
    #[error("floor: no record came back")]
    NoSamples,
    #[error("floor: {sent} records sent, {received} came back")]
    Lost { sent: u64, received: u64 },
    #[error("floor: rate must be above 0 and duration at least 1 ms")]
    BadSpec,
}

/// Runs the forwarder and the paced client for `spec.duration`; the latency percentiles of
/// the records, every one of which must have come back.
pub async fn measure(spec: FloorSpec) -> Result<LatencySummary, FloorError> {
    if !(spec.rate.is_finite() && spec.rate > 0.0) || spec.duration < Duration::from_millis(1) {
        return Err(FloorError::BadSpec);
    }
    // Bound here, so the port is known before the forwarder thread starts.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let threads = spec.forwarder_threads.max(1);
    let forwarder = if spec.spin {
        std::thread::spawn(move || spin_one_pair(listener))
    } else {
        // Its own runtime on its own threads, as a broker process would have.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_io()
                .build()?;
            rt.block_on(forward_one_pair(listener))
        })
    };
    let res = run_client(port, spec).await;
    // After a complete run the forwarder ends with the client's connections, which are closed
    // by now. After a failure it may still wait for a connection that never came: leave it.
    if res.is_ok() {
        let _ = tokio::task::spawn_blocking(move || forwarder.join()).await;
    }
    res
}

/// The first two connections to `listener`: the sending one, then the receiving one.
fn accept_pair(
    listener: &std::net::TcpListener,
) -> std::io::Result<(std::net::TcpStream, std::net::TcpStream)> {
    let (from, _) = listener.accept()?;
    let (to, _) = listener.accept()?;
    from.set_nodelay(true)?;
    to.set_nodelay(true)?;
    Ok((from, to))
}

/// Copies the sending connection into the receiving one until the sender closes.
async fn forward_one_pair(listener: std::net::TcpListener) -> std::io::Result<()> {
    // Accepting blocks, but nothing else runs on this runtime until the pair is there.
    let (from, to) = accept_pair(&listener)?;
    for s in [&from, &to] {
        s.set_nonblocking(true)?;
    }
    let (mut from, mut to) = (TcpStream::from_std(from)?, TcpStream::from_std(to)?);
    // A task, as a broker's connection is: the wake-up goes through the runtime's scheduler.
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => to.write_all(&buf[..n]).await?,
            }
        }
    })
    .await
    .unwrap_or(Ok(()))
}

/// The busy-polling forwarder: a non-blocking read in a tight loop.
fn spin_one_pair(listener: std::net::TcpListener) -> std::io::Result<()> {
    use std::io::{ErrorKind, Read, Write};
    let (mut from, mut to) = accept_pair(&listener)?;
    from.set_nonblocking(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => to.write_all(&buf[..n])?,
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

async fn run_client(port: u16, spec: FloorSpec) -> Result<LatencySummary, FloorError> {
    let mut send = TcpStream::connect(("127.0.0.1", port)).await?;
    send.set_nodelay(true)?;
    // Connected only now, so it is second in the accept queue: the receiving one.
    let mut recv = TcpStream::connect(("127.0.0.1", port)).await?;
    recv.set_nodelay(true)?;
    let receiver = tokio::spawn(async move {
        let mut hist = stats::new_latency_histogram();
        let mut buf = vec![0u8; 64 * 1024];
        let mut have = 0;
        loop {
            let n = match recv.read(&mut buf[have..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            have += n;
            let now = stats::now_ns();
            let whole = have - have % RECORD;
            for rec in buf[..whole].chunks_exact(RECORD) {
                let mut ts = [0u8; 8];
                ts.copy_from_slice(&rec[..8]);
                stats::record_latency(&mut hist, now.saturating_sub(u64::from_be_bytes(ts)));
            }
            buf.copy_within(whole..have, 0);
            have -= whole;
        }
        hist
    });

    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut out = Vec::with_capacity(RECORD * 64);
    while start.elapsed() < spec.duration {
        // The latency scenario's pacing: everything due by now goes in one write, stamped now.
        let allowed = (start.elapsed().as_secs_f64() * spec.rate) as u64 + 1;
        let due = allowed.saturating_sub(sent).min(MAX_BATCH);
        if due == 0 {
            let next = start + Duration::from_secs_f64((sent + 1) as f64 / spec.rate);
            tokio::time::sleep_until(next).await;
            continue;
        }
        let ts = stats::now_ns().to_be_bytes();
        out.clear();
        for _ in 0..due {
            out.extend_from_slice(&ts);
            out.extend_from_slice(&[0u8; RECORD - 8]);
        }
        send.write_all(&out).await?;
        sent += due;
        tokio::task::yield_now().await;
    }
    // Closing the sending side ends the forwarder, which closes the receiving side.
    send.shutdown().await?;
    drop(send);
    let hist = tokio::time::timeout(Duration::from_secs(10), receiver)
        .await
        .map_err(|_| FloorError::NoSamples)?
        .map_err(|_| FloorError::NoSamples)?;
    let summary = LatencySummary::from_histogram(&hist).ok_or(FloorError::NoSamples)?;
    if summary.count != sent {
        return Err(FloorError::Lost {
            sent,
            received: summary.count,
        });
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_record_comes_back_with_a_plausible_latency() {
        let spec = FloorSpec {
            rate: 2000.0,
            duration: Duration::from_millis(300),
            forwarder_threads: 2,
            spin: false,
        };
        for spin in [false, true] {
            let s = measure(FloorSpec { spin, ..spec })
                .await
                .expect("floor run");
            // 300 ms at 2,000/s (fewer if a busy machine delays the last pacing tick past the
            // end); `measure` fails unless every record sent came back.
            assert!((100..=601).contains(&s.count), "records back: {}", s.count);
            assert!(s.p50_us > 0.0 && s.p50_us <= s.p99_us && s.p99_us <= s.max_us);
            assert!(
                s.max_us < 1_000_000.0,
                "a loopback round took {} us",
                s.max_us
            );
        }
    }

    #[tokio::test]
    async fn a_nonsense_spec_is_refused() {
        let spec = FloorSpec {
            rate: 0.0,
            duration: Duration::from_secs(1),
            forwarder_threads: 1,
            spin: false,
        };
        assert!(matches!(measure(spec).await, Err(FloorError::BadSpec)));
    }
}
