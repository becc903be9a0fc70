//! The soak benchmark (`warren-perf soak`, driven by scripts/bench-soak): publishers flood
//! 1 KiB transient and persistent messages into a durable queue against a consumer that acks
//! 10 msg/s, for minutes, against a broker with a memory watermark; the broker's RSS is
//! sampled every 100 ms. Then publishing stops, the queue is drained, and every confirmed id
//! is checked to have been delivered exactly once.
//!
//! - [`ledger`]: per-id confirm states and delivery counts, and the check.
//! - [`analysis`]: peak RSS, watermark-to-blocked time, episodes, rates from the samples.
//! - [`publisher`], [`consumer`]: the connections' loops.
//! - [`report`]: markdown tables and JSON; [`args`]: the command line.

pub mod analysis;
pub mod args;
mod consumer;
pub mod ledger;
mod publisher;
pub mod report;

use crate::client::{AmqpUri, ClientError, Conn};
use analysis::{Analysis, BlockEvent, Tick};
use ledger::{Deliveries, PublisherLedger, Verdict};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakSpec {
    pub uri: AmqpUri,
    pub label: String,
    pub broker_pid: Option<u32>,
    pub transient_publishers: u32,
    pub persistent_publishers: u32,
    pub size: usize,
    pub duration: Duration,
    /// Unconfirmed messages per publisher.
    pub window: u64,
    /// The slow consumer's acks per second, and its prefetch.
    pub ack_rate: f64,
    pub prefetch: u16,
    pub watermark_bytes: u64,
    /// The longest the drain may take.
    pub drain_timeout: Duration,
    /// Once the queue is drained, how long to go on waiting for the publishers' last
    /// confirms (a broker may keep them blocked).
    pub settle_grace: Duration,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct SoakResult {
    pub spec: SoakSpec,
    pub analysis: Analysis,
    pub ticks: Vec<Tick>,
    pub events: Vec<BlockEvent>,
    pub transient: Verdict,
    pub persistent: Verdict,
    pub slow_acked: u64,
    /// Queue depth when publishing stopped, and after the drain (`None` if unreadable).
    pub queued_at_stop: Option<u32>,
    pub queued_after_drain: Option<u32>,
    pub drained: u64,
    /// Seconds from the start of the drain to its last delivery.
    pub drain_secs: f64,
    /// The broker's RSS once the drain was over.
    pub rss_after_drain_kib: Option<u64>,
    pub foreign_deliveries: u64,
    /// Connection errors, one line each.
    pub errors: Vec<String>,
}

/// State the connections' tasks share with the sampler.
pub(crate) struct Shared {
    t0: Instant,
    confirmed: AtomicU64,
    blocked: AtomicU32,
    events: Mutex<Vec<BlockEvent>>,
    slow_acked: AtomicU64,
    drained: AtomicU64,
}

impl Shared {
    /// Records a publisher's connection.blocked (`now_blocked`) or unblocked.
    fn blocked_changed(&self, publisher: usize, was: &mut bool, now_blocked: bool, reason: String) {
        let at = self.t0.elapsed().as_secs_f64();
        if now_blocked != *was {
            if now_blocked {
                self.blocked.fetch_add(1, Ordering::Relaxed);
            } else {
                self.blocked.fetch_sub(1, Ordering::Relaxed);
            }
            *was = now_blocked;
        }
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events.push(BlockEvent {
            at,
            publisher,
            blocked: now_blocked,
            reason,
        });
    }
}

const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// The drain is over once nothing arrived for this long with the queue empty.
const DRAIN_QUIET: Duration = Duration::from_secs(1);

type PubTask = tokio::task::JoinHandle<(Result<(), ClientError>, PublisherLedger)>;
type ConsTask = tokio::task::JoinHandle<(Result<(), ClientError>, Deliveries)>;

/// Runs the soak against one broker.
pub async fn run(spec: &SoakSpec, progress: impl Fn(&str)) -> Result<SoakResult, ClientError> {
    let queue = format!("warren-perf-soak-{}", std::process::id());
    let mut admin = Conn::connect(&spec.uri, "warren-perf soak admin").await?;
    admin.open_channel(1).await?;
    admin.declare_queue(1, &queue, true).await?;
    let n = (spec.transient_publishers + spec.persistent_publishers) as usize;
    let shared = Arc::new(Shared {
        t0: Instant::now(),
        confirmed: AtomicU64::new(0),
        blocked: AtomicU32::new(0),
        events: Mutex::new(Vec::new()),
        slow_acked: AtomicU64::new(0),
        drained: AtomicU64::new(0),
    });
    let (stop_tx, stop) = watch::channel(false);
    let (give_up_tx, give_up) = watch::channel(false);
    let (sampler_tx, sampler_stop) = watch::channel(false);
    let (slow_tx, slow_stop) = watch::channel(false);
    let slow_conn = consumer::connect(&spec.uri, &queue, "slow", Some(spec.prefetch)).await?;
    let mut pubs = Vec::new();
    for i in 0..n {
        pubs.push(publisher::connect(&spec.uri, i).await?);
    }
    let slow = tokio::spawn(consumer::slow(
        slow_conn,
        spec.ack_rate,
        n,
        shared.clone(),
        slow_stop,
    ));
    let sampler = tokio::spawn(sample(spec.broker_pid, shared.clone(), sampler_stop));
    let pub_tasks: Vec<PubTask> = pubs
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let plan = publisher::PublisherPlan {
                index: i,
                persistent: i >= spec.transient_publishers as usize,
                size: spec.size,
                queue: queue.clone(),
                window: spec.window,
            };
            let (s, g) = (stop.clone(), give_up.clone());
            tokio::spawn(publisher::publish(c, plan, shared.clone(), s, g))
        })
        .collect();
    progress(&format!(
        "{}: publishing for {:?}",
        spec.label, spec.duration
    ));
    tokio::time::sleep(spec.duration).await;
    let publish_secs = shared.t0.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    let _ = slow_tx.send(true);
    let mut errors = Vec::new();
    let slow_got = collect(slow, "slow consumer", &mut errors).await;
    let queued_at_stop = passive_count(&mut admin, &queue).await;
    progress(&format!(
        "{}: publishing stopped; {} queued; draining",
        spec.label,
        fmt_opt(queued_at_stop)
    ));
    let drain_started = Instant::now();
    let (drain_tx, drain_stop) = watch::channel(false);
    let drain_conn = consumer::connect(&spec.uri, &queue, "drain", None).await?;
    let drain = tokio::spawn(consumer::drain(drain_conn, n, shared.clone(), drain_stop));
    let (drained_fully, last_delivery) =
        wait_drained(spec, &shared, &mut admin, &queue, &pub_tasks).await;
    let _ = give_up_tx.send(true);
    let ledgers = collect_publishers(pub_tasks, &mut errors).await;
    let _ = drain_tx.send(true);
    let drain_got = collect(drain, "drain", &mut errors).await;
    let _ = sampler_tx.send(true);
    let ticks = sampler.await.unwrap_or_default();
    let queued_after_drain = passive_count(&mut admin, &queue).await;
    if !drained_fully {
        errors.push(format!("drain timed out after {:?}", spec.drain_timeout));
    }
    let _ = admin.delete_queue(1, &queue).await;
    let _ = admin.close().await;
    let mut got = slow_got;
    got.merge(&drain_got);
    let lost = ledger::lost_ids(&ledgers, &got, 10);
    if !lost.is_empty() {
        errors.push(format!(
            "confirmed but never delivered (publisher, sequence number): {:?}",
            lost.iter()
                .map(|id| (id >> ledger::SEQ_BITS, id & ((1 << ledger::SEQ_BITS) - 1)))
                .collect::<Vec<_>>()
        ));
    }
    let events = shared
        .events
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let analysis = analysis::analyse(
        &ticks,
        &events,
        n as u32,
        spec.watermark_bytes / 1024,
        publish_secs,
    );
    Ok(SoakResult {
        spec: spec.clone(),
        analysis,
        transient: ledger::verify(&ledgers, &got, false),
        persistent: ledger::verify(&ledgers, &got, true),
        slow_acked: shared.slow_acked.load(Ordering::Relaxed),
        queued_at_stop,
        queued_after_drain,
        drained: shared.drained.load(Ordering::Relaxed),
        drain_secs: last_delivery
            .saturating_duration_since(drain_started)
            .as_secs_f64(),
        rss_after_drain_kib: spec
            .broker_pid
            .and_then(|p| crate::procstat::sample(Some(p)))
            .and_then(|s| s.rss_kib),
        foreign_deliveries: got.foreign,
        ticks: ticks.into_iter().filter(|t| t.at <= publish_secs).collect(),
        events,
        errors,
    })
}

/// Waits until the publishers have every confirm, the queue is empty and the drain has been
/// quiet for a moment (false if the drain timeout ran out first), and when the drain's last
/// delivery came. Publishers that a broker keeps blocked after the queue emptied get
/// `spec.settle_grace`.
async fn wait_drained(
    spec: &SoakSpec,
    shared: &Shared,
    admin: &mut Conn,
    queue: &str,
    pubs: &[PubTask],
) -> (bool, Instant) {
    let deadline = Instant::now() + spec.drain_timeout;
    // The drain's count and when it last grew (to the nearest poll).
    let mut last = (shared.drained.load(Ordering::Relaxed), Instant::now());
    let mut empty_since: Option<Instant> = None;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let drained = shared.drained.load(Ordering::Relaxed);
        if drained != last.0 {
            last = (drained, Instant::now());
            continue;
        }
        let empty = passive_count(admin, queue).await == Some(0);
        let quiet = last.1.elapsed() >= DRAIN_QUIET;
        if !(empty && quiet) {
            empty_since = None;
            continue;
        }
        let since = *empty_since.get_or_insert_with(Instant::now);
        if pubs.iter().all(|p| p.is_finished()) || since.elapsed() >= spec.settle_grace {
            return (true, last.1);
        }
    }
    (false, last.1)
}

/// Samples the broker's RSS, the confirms and the blocked publishers until `stop`.
async fn sample(
    pid: Option<u32>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Vec<Tick> {
    let mut ticks = Vec::new();
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return ticks,
            _ = every.tick() => ticks.push(Tick {
                at: shared.t0.elapsed().as_secs_f64(),
                rss_kib: pid.and_then(|p| crate::procstat::sample(Some(p))).and_then(|s| s.rss_kib),
                confirmed: shared.confirmed.load(Ordering::Relaxed),
                blocked: shared.blocked.load(Ordering::Relaxed),
            }),
        }
    }
}

async fn collect(task: ConsTask, what: &str, errors: &mut Vec<String>) -> Deliveries {
    match task.await {
        Ok((res, got)) => {
            if let Err(e) = res {
                errors.push(format!("{what}: {e}"));
            }
            got
        }
        Err(e) => {
            errors.push(format!("{what}: task failed: {e}"));
            Deliveries::default()
        }
    }
}

async fn collect_publishers(tasks: Vec<PubTask>, errors: &mut Vec<String>) -> Vec<PublisherLedger> {
    let mut out = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await {
            Ok((res, ledger)) => {
                if let Err(e) = res {
                    errors.push(format!("publisher {i}: {e}"));
                }
                out.push(ledger);
            }
            Err(e) => {
                errors.push(format!("publisher {i}: task failed: {e}"));
                out.push(PublisherLedger::default());
            }
        }
    }
    out
}

/// The queue's message count from a passive declare.
async fn passive_count(admin: &mut Conn, queue: &str) -> Option<u32> {
    admin.passive_declare(1, queue).await.ok()
}

fn fmt_opt(v: Option<u32>) -> String {
    v.map_or_else(|| "?".into(), |n| n.to_string())
}
