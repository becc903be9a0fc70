//! Runs one scenario against one broker: declares the topology, drives the producer and
//! consumer hot loops, samples client and broker CPU/RSS around the measured window, cleans
//! up, and returns a [`RunResult`]. Every loop here is bounded in time (and, where it publishes
//! a fixed amount, in count) and stops by itself.
//!
//! The retry pipeline is a flow run with two additions: the consumer reads each delivery's
//! `x-death` and nacks it (requeue false) or acks it, and the producer keeps a window of
//! messages in the pipeline, woken by the consumer as messages complete.

use crate::client::{self, AmqpUri, ClientError, Conn, ConnReader, ConnWriter, Incoming};
use crate::procstat::{self, ProcSample};
use crate::scenario::{self, FlowSpec, Kind, RetryQueues, RetrySpec, Scenario, Topology};
use crate::stats::{self, ConfirmTracker, LatencySummary};
use bytes::{Buf, BytesMut};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::Instant;
use warren_codec::frame;
use warren_codec::generated::{BasicAck, BasicNack, BasicPublish, FRAME_HEADER};
use warren_codec::{BasicProperties, ContentHeader, Method, ShortStr};

/// A broker to measure.
#[derive(Debug, Clone)]
pub struct Target {
    /// Shown in reports ("Warren", "RabbitMQ").
    pub label: String,
    pub uri: AmqpUri,
    /// The broker's pid, for CPU and RSS from /proc.
    pub pid: Option<u32>,
}

/// How to run a scenario, beyond what it measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Leave the scenario's queues and exchange in the broker (not deleted at the end); their
    /// names are in [`RunResult::kept_queues`] and [`RunResult::kept_exchange`].
    pub keep: bool,
}

/// Connection-scenario figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnStats {
    pub requested: u32,
    pub opened: u32,
    pub failed: u32,
    pub open_secs: f64,
    /// Broker RSS growth per open connection, KiB.
    pub rss_per_conn_kib: Option<f64>,
}

/// Backlog-scenario figures.
#[derive(Debug, Clone, PartialEq)]
pub struct BacklogStats {
    pub messages: u64,
    pub publish_secs: f64,
    pub drain_secs: f64,
    /// Broker memory per queued message, bytes: (RSS with the whole backlog queued - steady
    /// RSS before publishing) / messages queued (confirmed).
    pub rss_per_msg_bytes: Option<f64>,
}

/// Retry-pipeline figures (the completed messages are [`RunResult::received`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryStats {
    /// Deliveries nacked (requeue false) for a retry in the measured window.
    pub nacked: u64,
    /// Retries per message before its ack.
    pub retries: u32,
    /// The retry queue's TTL, ms.
    pub ttl_ms: u64,
    /// The most messages in the pipeline.
    pub window: u32,
}

/// Everything measured in one run of one scenario against one broker.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub scenario: String,
    pub broker: String,
    /// Length of the measured window.
    pub secs: f64,
    pub sent: u64,
    pub confirmed: u64,
    /// Publisher nacks (confirm mode).
    pub nacked: u64,
    /// Messages consumed; in the retry pipeline, messages completed (acked after their
    /// retries), not deliveries.
    pub received: u64,
    /// Publish-to-deliver latency (flow scenarios with bodies of 8 bytes or more); in the retry
    /// pipeline, publish to the completing delivery, TTLs included.
    pub latency: Option<LatencySummary>,
    pub client_cpu_secs: f64,
    pub broker_cpu_secs: Option<f64>,
    pub broker_rss_before_kib: Option<u64>,
    pub broker_rss_after_kib: Option<u64>,
    pub connections: Option<ConnStats>,
    pub backlog: Option<BacklogStats>,
    pub retry: Option<RetryStats>,
    /// Errors from individual producers or consumers (the run still reports what it got).
    pub errors: Vec<String>,
    /// Queues left in the broker at the end (`--keep`).
    pub kept_queues: Vec<String>,
    /// The exchange left in the broker at the end (`--keep`), if the scenario declared one.
    pub kept_exchange: Option<String>,
}

impl RunResult {
    fn empty(scenario: &str, broker: &str) -> RunResult {
        RunResult {
            scenario: scenario.to_string(),
            broker: broker.to_string(),
            secs: 0.0,
            sent: 0,
            confirmed: 0,
            nacked: 0,
            received: 0,
            latency: None,
            client_cpu_secs: 0.0,
            broker_cpu_secs: None,
            broker_rss_before_kib: None,
            broker_rss_after_kib: None,
            connections: None,
            backlog: None,
            retry: None,
            errors: vec![],
            kept_queues: vec![],
            kept_exchange: None,
        }
    }

    pub fn sent_rate(&self) -> f64 {
        match &self.backlog {
            Some(b) => stats::per_sec(b.messages.min(self.confirmed), b.publish_secs),
            None => stats::per_sec(self.sent, self.secs),
        }
    }

    pub fn confirmed_rate(&self) -> f64 {
        match &self.backlog {
            Some(b) => stats::per_sec(self.confirmed, b.publish_secs),
            None => stats::per_sec(self.confirmed, self.secs),
        }
    }

    pub fn received_rate(&self) -> f64 {
        match &self.backlog {
            Some(b) => stats::per_sec(self.received, b.drain_secs),
            None => stats::per_sec(self.received, self.secs),
        }
    }

    /// Messages the CPU figures are divided by: published ones (confirmed when confirming); in
    /// the retry pipeline, completed ones (each costs a publish, its retries and an ack).
    pub fn messages_for_cpu(&self) -> u64 {
        if self.retry.is_some() {
            return self.received;
        }
        self.sent.max(self.confirmed)
    }

    pub fn broker_cpu_per_100k(&self) -> Option<f64> {
        stats::cpu_per_100k(self.broker_cpu_secs?, self.messages_for_cpu())
    }

    pub fn client_cpu_per_100k(&self) -> Option<f64> {
        stats::cpu_per_100k(self.client_cpu_secs, self.messages_for_cpu())
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        json!({
            "scenario": self.scenario,
            "broker": self.broker,
            "secs": self.secs,
            "sent": self.sent,
            "confirmed": self.confirmed,
            "nacked": self.nacked,
            "received": self.received,
            "sent_per_sec": self.sent_rate(),
            "confirmed_per_sec": self.confirmed_rate(),
            "received_per_sec": self.received_rate(),
            "latency_us": self.latency.map(|l| json!({
                "count": l.count, "p50": l.p50_us, "p99": l.p99_us, "p99_9": l.p999_us,
                "max": l.max_us, "mean": l.mean_us,
            })),
            "client_cpu_secs": self.client_cpu_secs,
            "client_cpu_secs_per_100k": self.client_cpu_per_100k(),
            "broker_cpu_secs": self.broker_cpu_secs,
            "broker_cpu_secs_per_100k": self.broker_cpu_per_100k(),
            "broker_rss_before_kib": self.broker_rss_before_kib,
            "broker_rss_after_kib": self.broker_rss_after_kib,
            "connections": self.connections.as_ref().map(|c| json!({
                "requested": c.requested, "opened": c.opened, "failed": c.failed,
                "open_secs": c.open_secs, "rss_per_conn_kib": c.rss_per_conn_kib,
            })),
            "backlog": self.backlog.as_ref().map(|b| json!({
                "messages": b.messages, "publish_secs": b.publish_secs, "drain_secs": b.drain_secs,
                "rss_per_msg_bytes": b.rss_per_msg_bytes,
            })),
            "retry": self.retry.as_ref().map(|r| json!({
                "completed": self.received, "nacked_for_retry": r.nacked, "retries": r.retries,
                "ttl_ms": r.ttl_ms, "window": r.window,
            })),
            "errors": self.errors,
            "kept_queues": self.kept_queues,
            "kept_exchange": self.kept_exchange,
        })
    }
}

/// Runs `sc` against `target`, deleting what it declared at the end.
pub async fn run(sc: &Scenario, target: &Target) -> Result<RunResult, ClientError> {
    run_with(sc, target, RunOptions::default()).await
}

/// Runs `sc` against `target` with `opts`.
pub async fn run_with(
    sc: &Scenario,
    target: &Target,
    opts: RunOptions,
) -> Result<RunResult, ClientError> {
    match &sc.kind {
        Kind::Flow(f) => run_flow(&sc.name, f, target, opts).await,
        Kind::Retry(r) => run_retry(&sc.name, r, target, opts).await,
        Kind::AfterBurst { burst, measured } => {
            run_flow(&format!("{} (burst)", sc.name), burst, target, opts).await?;
            run_flow(&sc.name, measured, target, opts).await
        }
        Kind::Connections { count, hold } => run_connections(&sc.name, *count, *hold, target).await,
        Kind::Backlog {
            messages,
            size,
            persistent,
            confirm,
            prefetch,
            multi_ack_every,
            timeout,
        } => {
            let spec = FlowSpec {
                size: *size,
                persistent: *persistent,
                confirm: Some(*confirm),
                prefetch: *prefetch,
                multi_ack_every: *multi_ack_every,
                ..FlowSpec::default()
            };
            run_backlog(&sc.name, &spec, *messages, *timeout, target, opts).await
        }
    }
}

fn unique_prefix() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    format!(
        "warren-perf-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    confirmed: AtomicU64,
    nacked: AtomicU64,
    /// Messages consumed (retry pipeline: completed).
    received: AtomicU64,
    /// Retry pipeline: deliveries nacked for a retry.
    rejected: AtomicU64,
}

/// The counters at one instant (the retry pipeline's window starts after a warm-up, so its
/// figures are differences).
#[derive(Debug, Clone, Copy, Default)]
struct Snapshot {
    sent: u64,
    confirmed: u64,
    nacked: u64,
    received: u64,
    rejected: u64,
}

impl Counters {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            sent: self.sent.load(Ordering::Relaxed),
            confirmed: self.confirmed.load(Ordering::Relaxed),
            nacked: self.nacked.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }
}

/// The longest a retry run waits for its pipeline to fill before measuring.
const RETRY_WARM_UP_MAX: Duration = Duration::from_secs(20);

/// A retry run's shared state: the pipeline's bound, the wake-up the consumer gives the
/// producer when messages complete, and whether the measured window (after the warm-up) has
/// started.
#[derive(Clone)]
struct RetryRun {
    queues: RetryQueues,
    retries: u32,
    ttl_ms: u64,
    window: u64,
    wake: Arc<Notify>,
    measuring: Arc<AtomicBool>,
}

/// One pre-encoded publish (method, header and body frames) per routing key; only the
/// timestamp is patched per message.
struct Templates {
    /// Each template with the offset of its body's first byte when bodies carry a timestamp
    /// (the offset depends on the routing key's length).
    frames: Vec<(BytesMut, Option<usize>)>,
    /// Messages per write.
    batch: u64,
}

fn templates(top: &Topology, f: &FlowSpec, frame_max: u32) -> Templates {
    let props = BasicProperties {
        delivery_mode: Some(if f.persistent { 2 } else { 1 }),
        ..Default::default()
    };
    let header = ContentHeader::new(f.size as u64, props);
    let body = vec![0u8; f.size];
    let exchange = ShortStr::new(top.publish_exchange.clone().into_bytes()).unwrap_or_default();
    // The timestamp must sit whole in the first body frame.
    let first_body = (frame_max as usize).saturating_sub(frame::FRAME_OVERHEAD);
    let stamped = f.size >= 8 && (frame_max == 0 || first_body >= 8);
    let frames = top
        .routing_keys
        .iter()
        .map(|rk| {
            let m = Method::BasicPublish(BasicPublish {
                exchange: exchange.clone(),
                routing_key: ShortStr::new(rk.clone().into_bytes()).unwrap_or_default(),
                ..Default::default()
            });
            let mut b = BytesMut::new();
            frame::encode_method(1, &m, &mut b);
            frame::encode_header(1, &header, &mut b);
            let body_at = b.len() + 7;
            frame::encode_body(1, &body, frame_max, &mut b);
            (b, stamped.then_some(body_at))
        })
        .collect::<Vec<_>>();
    let one = frames.first().map(|b| b.0.len()).unwrap_or(64).max(1);
    Templates {
        batch: (64 * 1024 / one).clamp(1, 256) as u64,
        frames,
    }
}

struct ProducerPlan {
    tpl: Arc<Templates>,
    confirm: Option<u32>,
    /// Retry pipeline: at most this many messages published and not yet completed (sent minus
    /// received, over every producer); `wake` is notified as messages complete.
    window: Option<(u64, Arc<Notify>)>,
    rate: Option<f64>,
    /// Stop after this many messages (and their confirms).
    limit: Option<u64>,
    /// Give up here whatever happens.
    hard_deadline: Instant,
}

/// The producer hot loop: one task owns both halves and selects between writing the pending
/// batch, reading confirms, pacing, and the stop signal. `write` is cancel-safe, so a pending
/// batch is never torn.
async fn producer(
    r: &mut ConnReader,
    w: &mut ConnWriter,
    plan: ProducerPlan,
    counters: Arc<Counters>,
    mut go: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ClientError> {
    if go.wait_for(|v| *v).await.is_err() {
        return Ok(());
    }
    let start = Instant::now();
    let tpl = plan.tpl;
    let mut sent: u64 = 0;
    let mut tracker = ConfirmTracker::default();
    let mut pending = BytesMut::with_capacity(128 * 1024);
    let mut seq: usize = 0;
    let wake = plan.window.as_ref().map(|(_, w)| w.clone());
    loop {
        if *stop.borrow() || Instant::now() >= plan.hard_deadline {
            break;
        }
        let limit_left = plan.limit.map_or(u64::MAX, |l| l - sent);
        if limit_left == 0 && pending.is_empty() {
            let confirmed_all = plan.confirm.is_none() || tracker.settled() >= sent;
            if confirmed_all {
                break;
            }
        }
        let mut next_due = None;
        let mut window_full = false;
        if pending.is_empty() && limit_left > 0 {
            let room = plan.confirm.map_or(u64::MAX, |wnd| {
                (wnd as u64).saturating_sub(sent - tracker.settled())
            });
            let room = match &plan.window {
                None => room,
                Some((max, _)) => {
                    let in_pipeline = counters
                        .sent
                        .load(Ordering::Relaxed)
                        .saturating_sub(counters.received.load(Ordering::Relaxed));
                    let left = max.saturating_sub(in_pipeline);
                    window_full = left == 0;
                    room.min(left)
                }
            };
            let due = match plan.rate {
                None => u64::MAX,
                Some(rate) => {
                    let allowed = (start.elapsed().as_secs_f64() * rate) as u64 + 1;
                    let due = allowed.saturating_sub(sent);
                    if due == 0 {
                        next_due = Some(start + Duration::from_secs_f64((sent + 1) as f64 / rate));
                    }
                    due
                }
            };
            let n = tpl.batch.min(room).min(due).min(limit_left);
            if n > 0 {
                let ts = stats::now_ns();
                for _ in 0..n {
                    let (t, ts_offset) = &tpl.frames[seq % tpl.frames.len()];
                    seq = seq.wrapping_add(1);
                    let at = pending.len();
                    pending.extend_from_slice(t);
                    if let Some(off) = *ts_offset {
                        pending[at + off..at + off + 8].copy_from_slice(&ts.to_be_bytes());
                    }
                }
                sent += n;
                counters.sent.fetch_add(n, Ordering::Relaxed);
            }
        }
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            res = r.fill() => {
                res?;
                while let Some(raw) = r.next_buffered()? {
                    match client::classify(raw)? {
                        Incoming::Ack { delivery_tag, multiple } => {
                            let n = tracker.settle(delivery_tag, multiple, false);
                            counters.confirmed.fetch_add(n, Ordering::Relaxed);
                        }
                        Incoming::Nack { delivery_tag, multiple } => {
                            let n = tracker.settle(delivery_tag, multiple, true);
                            counters.nacked.fetch_add(n, Ordering::Relaxed);
                        }
                        Incoming::Other { channel, method } => client::check_other(channel, &method)?,
                        _ => {}
                    }
                }
            }
            res = w.write_some(&pending), if !pending.is_empty() => {
                let n = res?;
                pending.advance(n);
                if pending.is_empty() {
                    pending.clear();
                    // Each batch lets the other tasks of a single-threaded runtime run.
                    tokio::task::yield_now().await;
                }
            }
            _ = tokio::time::sleep_until(next_due.unwrap_or(plan.hard_deadline)), if next_due.is_some() => {}
            // A stored permit (a completion while we were busy) makes this return at once, so
            // no wake-up is lost; a stale one costs one more pass round the loop.
            _ = async {
                match &wake {
                    Some(w) => w.notified().await,
                    None => std::future::pending().await,
                }
            }, if window_full => {}
            _ = tokio::time::sleep_until(plan.hard_deadline) => break,
        }
    }
    // Hand any torn batch to the writer so a clean close can finish it.
    w.buf.extend_from_slice(&pending);
    Ok(())
}

/// What a retry-pipeline consumer needs: whose `x-death` count to read, how many retries make
/// a message complete, and whom to wake when messages complete.
struct RetryPlan {
    work_queue: String,
    retries: u32,
    wake: Arc<Notify>,
    /// Latencies are recorded from the end of the warm-up on.
    measuring: Arc<AtomicBool>,
}

struct ConsumerPlan {
    autoack: bool,
    multi_ack_every: u32,
    /// Retry pipeline: settle each delivery singly, nack or ack by its `x-death` count.
    retry: Option<RetryPlan>,
    timestamps: bool,
    /// Stop by itself after this many messages.
    limit: Option<u64>,
    hard_deadline: Instant,
}

/// The consumer hot loop: decode every frame already buffered, queue acks, flush them, read.
async fn consumer(
    r: &mut ConnReader,
    w: &mut ConnWriter,
    plan: ConsumerPlan,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) -> Result<Histogram<u64>, ClientError> {
    let mut hist = stats::new_latency_histogram();
    let mut tag: u64 = 0;
    let mut remaining: u64 = 0;
    let mut first_body = false;
    let mut unacked: u32 = 0;
    let mut total: u64 = 0;
    let multiple = plan.multi_ack_every > 1;
    // Retry pipeline: the x-death rejected count of the delivery being read (its header comes
    // before its body).
    let mut tries: u64 = 0;
    loop {
        let mut got = 0u64;
        let mut rejected = 0u64;
        while let Some(raw) = r.next_buffered()? {
            let mut complete = false;
            if let Some(rp) = &plan.retry {
                if raw.kind == FRAME_HEADER {
                    tries = client::rejected_count(&raw.payload, &rp.work_queue)?;
                }
            }
            let completes = plan
                .retry
                .as_ref()
                .is_none_or(|rp| tries >= u64::from(rp.retries));
            // Only completing deliveries carry a latency worth recording (publish to the end
            // of the pipeline; the retried ones would mix in the first hop), and only after the
            // warm-up.
            let record = completes
                && plan
                    .retry
                    .as_ref()
                    .is_none_or(|rp| rp.measuring.load(Ordering::Relaxed));
            match client::classify(raw)? {
                Incoming::Deliver { delivery_tag } => {
                    tag = delivery_tag;
                    first_body = true;
                }
                Incoming::Header { body_size } => {
                    remaining = body_size;
                    complete = body_size == 0;
                }
                Incoming::Body { payload } => {
                    if first_body && plan.timestamps && record && payload.len() >= 8 {
                        let sent_at = (&payload[..8]).get_u64();
                        stats::record_latency(&mut hist, stats::now_ns().saturating_sub(sent_at));
                    }
                    first_body = false;
                    remaining = remaining.saturating_sub(payload.len() as u64);
                    complete = remaining == 0;
                }
                Incoming::Other { channel, method } => {
                    if let Method::BasicCancel(_) = method {
                        return Ok(hist);
                    }
                    client::check_other(channel, &method)?;
                }
                _ => {}
            }
            if complete && plan.retry.is_some() {
                // Each delivery is settled on its own, as a retrying consumer decides per
                // message; `multiple` would also settle deliveries that need the other answer.
                if completes {
                    w.push_method(
                        1,
                        &Method::BasicAck(BasicAck {
                            delivery_tag: tag,
                            multiple: false,
                        }),
                    );
                    got += 1;
                } else {
                    w.push_method(
                        1,
                        &Method::BasicNack(BasicNack {
                            delivery_tag: tag,
                            multiple: false,
                            requeue: false,
                        }),
                    );
                    rejected += 1;
                }
            } else if complete {
                got += 1;
                if !plan.autoack {
                    unacked += 1;
                    if unacked >= plan.multi_ack_every {
                        w.push_method(
                            1,
                            &Method::BasicAck(BasicAck {
                                delivery_tag: tag,
                                multiple,
                            }),
                        );
                        unacked = 0;
                    }
                }
            }
        }
        if rejected > 0 {
            counters.rejected.fetch_add(rejected, Ordering::Relaxed);
        }
        if got > 0 {
            counters.received.fetch_add(got, Ordering::Relaxed);
            total += got;
            if let Some(rp) = &plan.retry {
                rp.wake.notify_one();
            }
        }
        if !w.buf.is_empty() {
            let left = plan.hard_deadline.saturating_duration_since(Instant::now());
            tokio::time::timeout(left, w.flush())
                .await
                .map_err(|_| ClientError::Timeout("writing acks"))??;
        }
        if plan.limit.is_some_and(|l| total >= l) {
            return Ok(hist);
        }
        tokio::select! {
            biased;
            _ = stop.changed() => return Ok(hist),
            res = r.fill() => res?,
            _ = tokio::time::sleep_until(plan.hard_deadline) => return Ok(hist),
        }
    }
}

/// Closes a connection whose halves a hot loop used, bounded in time; errors are ignored
/// (the run is over).
async fn close_quietly(r: ConnReader, w: ConnWriter) {
    let _ = tokio::time::timeout(Duration::from_secs(10), Conn::reunite(r, w).close()).await;
}

/// How long producers and consumers of a timed run get to stop after the stop signal.
const STOP_GRACE: Duration = Duration::from_secs(15);

type ProducerHandle = tokio::task::JoinHandle<(Result<(), ClientError>, ConnReader, ConnWriter)>;
type ConsumerHandle =
    tokio::task::JoinHandle<(Result<Histogram<u64>, ClientError>, ConnReader, ConnWriter)>;

async fn start_consumer(
    target: &Target,
    queue: &str,
    plan: ConsumerPlan,
    prefetch: u16,
    counters: &Arc<Counters>,
    stop: &watch::Receiver<bool>,
) -> Result<ConsumerHandle, ClientError> {
    let mut c = Conn::connect(&target.uri, "warren-perf consumer").await?;
    c.open_channel(1).await?;
    if !plan.autoack {
        c.qos(1, prefetch).await?;
    }
    c.consume(1, queue, "warren-perf", plan.autoack).await?;
    let (mut r, mut w) = c.split();
    let counters = counters.clone();
    let stop = stop.clone();
    Ok(tokio::spawn(async move {
        let res = consumer(&mut r, &mut w, plan, counters, stop).await;
        (res, r, w)
    }))
}

async fn start_producer(
    target: &Target,
    plan: ProducerPlan,
    counters: &Arc<Counters>,
    go: &watch::Receiver<bool>,
    stop: &watch::Receiver<bool>,
) -> Result<ProducerHandle, ClientError> {
    let mut c = Conn::connect(&target.uri, "warren-perf producer").await?;
    c.open_channel(1).await?;
    if plan.confirm.is_some() {
        c.confirm_select(1).await?;
    }
    let (mut r, mut w) = c.split();
    let counters = counters.clone();
    let (go, stop) = (go.clone(), stop.clone());
    Ok(tokio::spawn(async move {
        let res = producer(&mut r, &mut w, plan, counters, go, stop).await;
        (res, r, w)
    }))
}

async fn declare(admin: &mut Conn, top: &Topology, durable: bool) -> Result<(), ClientError> {
    if let Some((name, kind)) = &top.exchange {
        admin.declare_exchange(1, name, kind, durable).await?;
    }
    for (i, q) in top.queues.iter().enumerate() {
        let args = top.arguments.get(i).cloned().unwrap_or_default();
        admin.declare_queue_with(1, q, durable, args).await?;
    }
    admin.bind_many(1, &top.bindings).await
}

/// Deletes what a scenario declared, unless `--keep` asked to leave it (then the names go
/// into the result).
async fn finish(
    target: &Target,
    top: &Topology,
    opts: RunOptions,
    res: Result<RunResult, ClientError>,
) -> Result<RunResult, ClientError> {
    match res {
        Ok(mut r) if opts.keep => {
            r.kept_queues = top.queues.clone();
            r.kept_exchange = top.exchange.as_ref().map(|(name, _)| name.clone());
            Ok(r)
        }
        res => {
            teardown(target, top).await;
            res
        }
    }
}

async fn teardown(target: &Target, top: &Topology) {
    let work = async {
        let mut admin = Conn::connect(&target.uri, "warren-perf cleanup").await?;
        admin.open_channel(1).await?;
        for q in &top.queues {
            admin.delete_queue(1, q).await?;
        }
        if let Some((name, _)) = &top.exchange {
            admin.delete_exchange(1, name).await?;
        }
        admin.close().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), work).await;
}

fn sample_pair(pid: Option<u32>) -> (Option<ProcSample>, Option<ProcSample>) {
    (
        procstat::sample(None),
        pid.and_then(|p| procstat::sample(Some(p))),
    )
}

fn cpu_delta(a: Option<ProcSample>, b: Option<ProcSample>) -> Option<f64> {
    Some((b?.cpu_secs - a?.cpu_secs).max(0.0))
}

/// Joins producers and consumers (each must finish by `until`), closing their connections.
async fn join_all(
    producers: Vec<ProducerHandle>,
    consumers: Vec<ConsumerHandle>,
    until: Instant,
    errors: &mut Vec<String>,
) -> Histogram<u64> {
    let mut hist = stats::new_latency_histogram();
    for h in producers {
        let abort = h.abort_handle();
        match tokio::time::timeout_at(until, h).await {
            Ok(Ok((res, r, w))) => {
                if let Err(e) = res {
                    errors.push(format!("producer: {e}"));
                }
                close_quietly(r, w).await;
            }
            Ok(Err(e)) => errors.push(format!("producer task: {e}")),
            Err(_) => {
                abort.abort();
                errors.push("producer did not finish in time".into());
            }
        }
    }
    for h in consumers {
        let abort = h.abort_handle();
        match tokio::time::timeout_at(until, h).await {
            Ok(Ok((res, r, w))) => {
                match res {
                    Ok(h) => {
                        let _ = hist.add(&h);
                    }
                    Err(e) => errors.push(format!("consumer: {e}")),
                }
                close_quietly(r, w).await;
            }
            Ok(Err(e)) => errors.push(format!("consumer task: {e}")),
            Err(_) => {
                abort.abort();
                errors.push("consumer did not finish in time".into());
            }
        }
    }
    hist
}

async fn run_flow(
    name: &str,
    f: &FlowSpec,
    target: &Target,
    opts: RunOptions,
) -> Result<RunResult, ClientError> {
    scenario::validate(f).map_err(ClientError::Protocol)?;
    let top = scenario::topology(f, &unique_prefix());
    let mut admin = Conn::connect(&target.uri, "warren-perf setup").await?;
    admin.open_channel(1).await?;
    let res = run_flow_declared(name, f, target, &top, &mut admin, None).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), admin.close()).await;
    finish(target, &top, opts, res).await
}

/// The flow a retry pipeline runs: one producer to the work queue, one consumer on it, each
/// delivery settled singly.
fn retry_flow(r: &RetrySpec) -> FlowSpec {
    FlowSpec {
        producers: 1,
        consumers: 1,
        queues: 1,
        size: r.size,
        persistent: r.persistent,
        confirm: None,
        prefetch: r.prefetch,
        multi_ack_every: 1,
        autoack: false,
        rate: None,
        duration: r.duration,
        ..FlowSpec::default()
    }
}

async fn run_retry(
    name: &str,
    r: &RetrySpec,
    target: &Target,
    opts: RunOptions,
) -> Result<RunResult, ClientError> {
    scenario::validate_retry(r).map_err(ClientError::Protocol)?;
    let (top, queues) = scenario::retry_topology(r, &unique_prefix());
    let run = RetryRun {
        queues,
        retries: r.retries,
        ttl_ms: r.ttl.as_millis() as u64,
        window: u64::from(r.window),
        wake: Arc::new(Notify::new()),
        measuring: Arc::new(AtomicBool::new(false)),
    };
    let mut admin = Conn::connect(&target.uri, "warren-perf setup").await?;
    admin.open_channel(1).await?;
    let res = run_flow_declared(name, &retry_flow(r), target, &top, &mut admin, Some(&run)).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), admin.close()).await;
    finish(target, &top, opts, res).await
}

async fn run_flow_declared(
    name: &str,
    f: &FlowSpec,
    target: &Target,
    top: &Topology,
    admin: &mut Conn,
    retry: Option<&RetryRun>,
) -> Result<RunResult, ClientError> {
    declare(admin, top, f.persistent).await?;
    let counters = Arc::new(Counters::default());
    let (go_tx, go_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Setup may take a while (1000 bindings); the deadline counts from the start signal.
    let setup_bound = Instant::now() + Duration::from_secs(120);
    let hard = setup_bound + f.duration + Duration::from_secs(30);
    let mut consumers = Vec::new();
    let mut producers = Vec::new();
    let setup = async {
        for i in 0..f.consumers {
            let plan = ConsumerPlan {
                autoack: f.autoack,
                multi_ack_every: f.multi_ack_every,
                retry: retry.map(|r| RetryPlan {
                    work_queue: r.queues.work.clone(),
                    retries: r.retries,
                    wake: r.wake.clone(),
                    measuring: r.measuring.clone(),
                }),
                timestamps: f.size >= 8,
                limit: None,
                hard_deadline: hard,
            };
            // The retry pipeline's consumers all read the work queue; the retry queue has none
            // (its messages leave it by expiring).
            let queue = match retry {
                Some(r) => r.queues.work.as_str(),
                None => top.consumer_queue(i),
            };
            consumers
                .push(start_consumer(target, queue, plan, f.prefetch, &counters, &stop_rx).await?);
        }
        let tpl = Arc::new(templates(top, f, admin_frame_max(target).await?));
        for _ in 0..f.producers {
            let plan = ProducerPlan {
                tpl: tpl.clone(),
                confirm: f.confirm,
                window: retry.map(|r| (r.window, r.wake.clone())),
                rate: f.rate,
                limit: None,
                hard_deadline: hard,
            };
            producers.push(start_producer(target, plan, &counters, &go_rx, &stop_rx).await?);
        }
        Ok::<(), ClientError>(())
    };
    let setup_res = tokio::time::timeout_at(setup_bound, setup).await;
    let mut result = RunResult::empty(name, &target.label);
    if let Err(e) = setup_res
        .map_err(|_| ClientError::Timeout("scenario setup"))
        .and_then(|r| r)
    {
        let _ = stop_tx.send(true);
        drop(go_tx);
        join_all(
            producers,
            consumers,
            Instant::now() + STOP_GRACE,
            &mut result.errors,
        )
        .await;
        return Err(e);
    }

    if let Some(r) = retry {
        // The pipeline starts empty and fills: until a whole window of messages has made its
        // round trip, the completed rate is lower than the steady one by an amount that depends
        // on the broker's speed (a slower broker spends a larger share of a 10 s run filling
        // its pipeline). So the retry pipeline measures from there on.
        let _ = go_tx.send(true);
        let until = Instant::now() + RETRY_WARM_UP_MAX;
        while counters.received.load(Ordering::Relaxed) < r.window && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if counters.received.load(Ordering::Relaxed) < r.window {
            result.errors.push(format!(
                "warm-up: fewer than {} messages completed in {} s; measured anyway",
                r.window,
                RETRY_WARM_UP_MAX.as_secs()
            ));
        }
        r.measuring.store(true, Ordering::Relaxed);
    }
    let (c0, b0) = sample_pair(target.pid);
    let s0 = counters.snapshot();
    let t0 = Instant::now();
    let _ = go_tx.send(true);
    tokio::time::sleep_until(t0 + f.duration).await;
    let (c1, b1) = sample_pair(target.pid);
    let s1 = counters.snapshot();
    result.secs = t0.elapsed().as_secs_f64();
    result.sent = s1.sent - s0.sent;
    result.confirmed = s1.confirmed - s0.confirmed;
    result.nacked = s1.nacked - s0.nacked;
    result.received = s1.received - s0.received;
    result.retry = retry.map(|r| RetryStats {
        nacked: s1.rejected - s0.rejected,
        retries: r.retries,
        ttl_ms: r.ttl_ms,
        window: u32::try_from(r.window).unwrap_or(u32::MAX),
    });
    let _ = stop_tx.send(true);

    result.client_cpu_secs = cpu_delta(c0, c1).unwrap_or(0.0);
    result.broker_cpu_secs = cpu_delta(b0, b1);
    result.broker_rss_before_kib = b0.and_then(|s| s.rss_kib);
    result.broker_rss_after_kib = b1.and_then(|s| s.rss_kib);
    let hist = join_all(
        producers,
        consumers,
        Instant::now() + STOP_GRACE,
        &mut result.errors,
    )
    .await;
    result.latency = LatencySummary::from_histogram(&hist);
    Ok(result)
}

/// The frame_max this broker grants (templates split bodies by it).
async fn admin_frame_max(target: &Target) -> Result<u32, ClientError> {
    let c = Conn::connect(&target.uri, "warren-perf probe").await?;
    let (r, w) = c.split();
    let fm = w.frame_max();
    close_quietly(r, w).await;
    Ok(fm)
}

async fn run_backlog(
    name: &str,
    f: &FlowSpec,
    messages: u64,
    timeout: Duration,
    target: &Target,
    opts: RunOptions,
) -> Result<RunResult, ClientError> {
    let top = scenario::topology(f, &unique_prefix());
    let mut admin = Conn::connect(&target.uri, "warren-perf setup").await?;
    admin.open_channel(1).await?;
    let res = async {
        declare(&mut admin, &top, f.persistent).await?;
        // As in run_connections: the baseline must not include memory the broker is still
        // returning from earlier runs, or the per-message figure measures that instead.
        steady_rss(target.pid).await;
        let counters = Arc::new(Counters::default());
        let (go_tx, go_rx) = watch::channel(true);
        let (_stop_tx, stop_rx) = watch::channel(false);
        let hard = Instant::now() + timeout;
        let tpl = Arc::new(templates(&top, f, admin_frame_max(target).await?));
        let mut result = RunResult::empty(name, &target.label);
        let (c0, b0) = sample_pair(target.pid);
        let t0 = Instant::now();
        let plan = ProducerPlan {
            tpl,
            confirm: f.confirm,
            window: None,
            rate: None,
            limit: Some(messages),
            hard_deadline: hard,
        };
        let p = start_producer(target, plan, &counters, &go_rx, &stop_rx).await?;
        let mut errors = vec![];
        join_all(vec![p], vec![], hard, &mut errors).await;
        let publish_secs = t0.elapsed().as_secs_f64();
        let (_, b_mid) = sample_pair(target.pid);
        let t1 = Instant::now();
        // With --keep the backlog is the point (e.g. a recovery measurement): no drain.
        if !opts.keep {
            let plan = ConsumerPlan {
                autoack: false,
                multi_ack_every: f.multi_ack_every,
                retry: None,
                timestamps: false,
                limit: Some(counters.confirmed.load(Ordering::Relaxed)),
                hard_deadline: hard,
            };
            let c = start_consumer(
                target,
                &top.queues[0],
                plan,
                f.prefetch,
                &counters,
                &stop_rx,
            )
            .await?;
            join_all(vec![], vec![c], hard, &mut errors).await;
        }
        let drain_secs = t1.elapsed().as_secs_f64();
        let (c1, b1) = sample_pair(target.pid);
        drop(go_tx);
        result.secs = t0.elapsed().as_secs_f64();
        result.sent = counters.sent.load(Ordering::Relaxed);
        result.confirmed = counters.confirmed.load(Ordering::Relaxed);
        result.nacked = counters.nacked.load(Ordering::Relaxed);
        result.received = counters.received.load(Ordering::Relaxed);
        result.client_cpu_secs = cpu_delta(c0, c1).unwrap_or(0.0);
        result.broker_cpu_secs = cpu_delta(b0, b1);
        result.broker_rss_before_kib = b0.and_then(|s| s.rss_kib);
        // RSS with the whole backlog queued, before draining.
        result.broker_rss_after_kib = b_mid.and_then(|s| s.rss_kib);
        result.backlog = Some(BacklogStats {
            messages,
            publish_secs,
            drain_secs,
            rss_per_msg_bytes: rss_per_msg_bytes(
                result.broker_rss_before_kib,
                result.broker_rss_after_kib,
                result.confirmed,
            ),
        });
        result.errors = errors;
        Ok(result)
    }
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(10), admin.close()).await;
    finish(target, &top, opts, res).await
}

/// Broker RSS growth (KiB samples) per queued message, in bytes.
fn rss_per_msg_bytes(before_kib: Option<u64>, after_kib: Option<u64>, queued: u64) -> Option<f64> {
    match (before_kib, after_kib) {
        (Some(a), Some(b)) if queued > 0 => Some((b as f64 - a as f64) * 1024.0 / queued as f64),
        _ => None,
    }
}

/// Waits (at most 15 s) until two broker RSS samples 500 ms apart differ by under 1%.
async fn steady_rss(pid: Option<u32>) {
    let Some(pid) = pid else { return };
    let rss = || procstat::sample(Some(pid)).and_then(|s| s.rss_kib);
    let until = Instant::now() + Duration::from_secs(15);
    let mut last = rss();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss();
        match (last, now) {
            (Some(a), Some(b)) if (a as f64 - b as f64).abs() <= a as f64 * 0.01 => return,
            (None, _) | (_, None) => return,
            _ => last = now,
        }
    }
}

/// How long one connection may take to open before the broker counts as at its limit.
const CONNECT_STALL: Duration = Duration::from_secs(10);

async fn run_connections(
    name: &str,
    count: u32,
    hold: Duration,
    target: &Target,
) -> Result<RunResult, ClientError> {
    let mut result = RunResult::empty(name, &target.label);
    // A garbage-collected broker may still be returning memory from earlier runs: start from
    // a steady RSS, or the per-connection figure measures that instead.
    steady_rss(target.pid).await;
    let (c0, b0) = sample_pair(target.pid);
    let t0 = Instant::now();
    let limit = Arc::new(Semaphore::new(32));
    // A broker at its connection limit (RabbitMQ's socket limit follows its fd limit) accepts
    // TCP but never starts the handshake: after the first such stall, stop trying.
    let stalled = Arc::new(AtomicBool::new(false));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (uri, limit, stalled) = (target.uri.clone(), limit.clone(), stalled.clone());
        set.spawn(async move {
            let _permit = limit.acquire_owned().await;
            if stalled.load(Ordering::Relaxed) {
                return Ok(None);
            }
            // A connection with a channel, a queue and a consumer: a server-named exclusive
            // auto-delete queue (gone when the connection closes) and a consumer with acks.
            let open = async {
                let mut c = Conn::connect(&uri, "warren-perf idle").await?;
                c.open_channel(1).await?;
                let queue = c.declare_exclusive_queue(1).await?;
                c.consume(1, &queue, "warren-perf", false).await?;
                Ok::<Conn, ClientError>(c)
            };
            match tokio::time::timeout(CONNECT_STALL, open).await {
                Ok(res) => res.map(Some),
                Err(_) => {
                    stalled.store(true, Ordering::Relaxed);
                    Err(ClientError::Timeout(
                        "connection handshake (broker at its limit?)",
                    ))
                }
            }
        });
    }
    let mut conns = Vec::with_capacity(count as usize);
    let mut last_open = Duration::ZERO;
    let deadline = t0 + Duration::from_secs(120);
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, set.join_next()).await {
        match joined {
            Ok(Ok(Some(c))) => {
                conns.push(c);
                last_open = t0.elapsed();
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                if result.errors.len() < 3 {
                    result.errors.push(format!("connect: {e}"));
                }
            }
            Err(e) => result.errors.push(format!("connect task: {e}")),
        }
    }
    set.abort_all();
    // Up to the last connection that opened (a stall at the broker's limit is not counted).
    let open_secs = last_open.as_secs_f64();
    tokio::time::sleep(hold).await;
    let (c1, b1) = sample_pair(target.pid);
    result.secs = t0.elapsed().as_secs_f64();
    let opened = conns.len() as u32;
    let failed = count - opened;
    let rss_per_conn_kib = match (b0.and_then(|s| s.rss_kib), b1.and_then(|s| s.rss_kib)) {
        (Some(a), Some(b)) if opened > 0 => Some((b as f64 - a as f64) / opened as f64),
        _ => None,
    };
    result.client_cpu_secs = cpu_delta(c0, c1).unwrap_or(0.0);
    result.broker_cpu_secs = cpu_delta(b0, b1);
    result.broker_rss_before_kib = b0.and_then(|s| s.rss_kib);
    result.broker_rss_after_kib = b1.and_then(|s| s.rss_kib);
    result.connections = Some(ConnStats {
        requested: count,
        opened,
        failed,
        open_secs,
        rss_per_conn_kib,
    });
    let mut closing = tokio::task::JoinSet::new();
    for c in conns {
        let limit = limit.clone();
        closing.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let _ = tokio::time::timeout(Duration::from_secs(10), c.close()).await;
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        while closing.join_next().await.is_some() {}
    })
    .await;
    closing.abort_all();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ExchangeType;

    #[test]
    fn templates_put_the_timestamp_in_the_body() {
        let f = FlowSpec {
            exchange: ExchangeType::Topic,
            bindings: 12,
            size: 16,
            ..FlowSpec::default()
        };
        let top = scenario::topology(&f, "t");
        let tpl = templates(&top, &f, 131_072);
        assert_eq!(tpl.frames.len(), 12);
        // "perf.10.x" is one byte longer than "perf.0.x": so is its offset.
        assert_eq!(tpl.frames[10].1.unwrap(), tpl.frames[0].1.unwrap() + 1);
        let (b, off) = &tpl.frames[0];
        let off = off.unwrap();
        // The body frame starts 7 bytes before the offset with type 3 and size 16.
        assert_eq!(b[off - 7], 3);
        assert_eq!(&b[off - 4..off], &16u32.to_be_bytes());
        assert_eq!(b.len(), off + 16 + 1);
        // Decodes as publish + header + body.
        let mut buf = b.clone();
        let dec = warren_codec::FrameDecoder::new(0);
        match dec.decode(&mut buf).unwrap().unwrap() {
            warren_codec::Frame::Method {
                method: Method::BasicPublish(p),
                ..
            } => assert_eq!(p.routing_key.as_str(), Some("perf.0.x")),
            other => panic!("{other:?}"),
        }
        assert!(tpl.batch >= 1);
    }

    #[test]
    fn tiny_bodies_carry_no_timestamp() {
        let f = FlowSpec {
            size: 4,
            ..FlowSpec::default()
        };
        let top = scenario::topology(&f, "t");
        assert_eq!(templates(&top, &f, 4096).frames[0].1, None);
    }

    #[test]
    fn backlog_rates_use_phase_times() {
        let mut r = RunResult::empty("b", "x");
        r.sent = 1000;
        r.confirmed = 1000;
        r.received = 1000;
        r.backlog = Some(BacklogStats {
            messages: 1000,
            publish_secs: 2.0,
            drain_secs: 0.5,
            rss_per_msg_bytes: None,
        });
        assert_eq!(r.sent_rate(), 500.0);
        assert_eq!(r.received_rate(), 2000.0);
        r.client_cpu_secs = 0.01;
        assert_eq!(r.client_cpu_per_100k(), Some(1.0));
    }

    #[test]
    fn retry_runs_divide_cpu_by_completed_messages() {
        let mut r = RunResult::empty("retry-pipeline", "x");
        r.sent = 120_000;
        r.received = 100_000;
        r.broker_cpu_secs = Some(2.0);
        assert_eq!(r.broker_cpu_per_100k(), Some(2.0 * 100_000.0 / 120_000.0));
        r.retry = Some(RetryStats {
            nacked: 110_000,
            retries: 1,
            ttl_ms: 20,
            window: 20_000,
        });
        assert_eq!(r.broker_cpu_per_100k(), Some(2.0));
        assert_eq!(r.to_json()["retry"]["completed"], 100_000);
        assert_eq!(r.to_json()["retry"]["nacked_for_retry"], 110_000);
    }

    #[test]
    fn retry_flow_is_one_to_one_with_single_settles() {
        let f = retry_flow(&RetrySpec::default());
        scenario::validate(&f).unwrap();
        assert_eq!(
            (
                f.producers,
                f.consumers,
                f.multi_ack_every,
                f.autoack,
                f.rate
            ),
            (1, 1, 1, false, None)
        );
        // The template publishes to the work queue through the default exchange.
        let (top, q) = scenario::retry_topology(&RetrySpec::default(), "t");
        let tpl = templates(&top, &f, 131_072);
        let mut buf = tpl.frames[0].0.clone();
        match warren_codec::FrameDecoder::new(0).decode(&mut buf).unwrap() {
            Some(warren_codec::Frame::Method {
                method: Method::BasicPublish(p),
                ..
            }) => {
                assert_eq!(p.exchange.as_str(), Some(""));
                assert_eq!(p.routing_key.as_str(), Some(q.work.as_str()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backlog_memory_per_message() {
        // 500,000 messages in 100,000 KiB more: 204.8 bytes each.
        assert_eq!(
            rss_per_msg_bytes(Some(50_000), Some(150_000), 500_000),
            Some(204.8)
        );
        assert_eq!(rss_per_msg_bytes(Some(1), Some(2), 0), None);
        assert_eq!(rss_per_msg_bytes(None, Some(2), 10), None);
    }
}
