//! Helpers for the lapin interop scenarios in `tests/`.
//!
//! Every scenario runs once per broker named in the environment (`WARREN_URL`, `RABBITMQ_URL`),
//! each in its own task, so one broker's failure never hides another's result. The tests are
//! `#[ignore]`d because they need running brokers: `interop/run` starts them and runs
//! `cargo test -p warren-lapin-interop -- --include-ignored` with the URLs set.

use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a scenario waits for something the broker should do promptly.
pub const WAIT: Duration = Duration::from_secs(5);

/// A whole scenario's time limit, so a silent broker fails the test instead of hanging it.
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(60);

/// A broker under test.
#[derive(Clone, Debug)]
pub struct Broker {
    pub name: &'static str,
    pub url: String,
}

impl Broker {
    pub async fn connect(&self) -> Connection {
        within(
            "connecting",
            Connection::connect(&self.url, ConnectionProperties::default()),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: cannot connect: {e}", self.name))
    }
}

/// The brokers named in the environment; panics with how to run the suite when there are none.
pub fn brokers() -> Vec<Broker> {
    let found: Vec<Broker> = [("warren", "WARREN_URL"), ("rabbitmq", "RABBITMQ_URL")]
        .into_iter()
        .filter_map(|(name, var)| {
            let url = std::env::var(var).ok()?.trim().to_owned();
            (!url.is_empty()).then_some(Broker { name, url })
        })
        .collect();
    assert!(
        !found.is_empty(),
        "no broker to test: set WARREN_URL and/or RABBITMQ_URL \
         (e.g. amqp://guest:guest@127.0.0.1:5672/%2F), or run interop/run, which starts them"
    );
    found
}

/// Runs `scenario` against every configured broker and panics listing each broker it failed on.
pub async fn on_each_broker<F, Fut>(scenario: F)
where
    F: Fn(Broker) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut failures = Vec::new();
    for broker in brokers() {
        let name = broker.name;
        let task = tokio::spawn(tokio::time::timeout(SCENARIO_LIMIT, scenario(broker)));
        match task.await {
            Ok(Ok(())) => eprintln!("[{name}] passed"),
            Ok(Err(_)) => failures.push(format!("[{name}] timed out after {SCENARIO_LIMIT:?}")),
            Err(join) => {
                let why = match join.try_into_panic() {
                    Ok(payload) => payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panicked".to_owned()),
                    Err(e) => e.to_string(),
                };
                failures.push(format!("[{name}] {why}"));
            }
        }
    }
    assert!(failures.is_empty(), "failed on:\n{}", failures.join("\n"));
}

/// Bounded wait: panics naming what never happened.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

/// A queue or exchange name that no other run can collide with.
pub fn unique(role: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("interop.lapin.{role}.{}.{nanos:x}.{n}", std::process::id())
}

/// Declares an exclusive queue: it disappears with its connection, even if the scenario panics.
pub async fn exclusive_queue(ch: &Channel, role: &str) -> String {
    let name = unique(role);
    ch.queue_declare(
        name.as_str().into(),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("queue.declare");
    name
}

/// Ready messages in a queue, from a passive queue.declare.
pub async fn ready_count(ch: &Channel, queue: &str) -> u32 {
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("passive queue.declare")
    .message_count()
}

pub async fn consume(ch: &Channel, queue: &str) -> Consumer {
    ch.basic_consume(
        queue.into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("basic.consume")
}

/// The next delivery, within WAIT.
pub async fn next(consumer: &mut Consumer) -> Delivery {
    within("a delivery", consumer.next())
        .await
        .expect("consumer stream ended")
        .expect("delivery error")
}

/// Asserts no delivery arrives for a while.
pub async fn assert_quiet(consumer: &mut Consumer, for_how_long: Duration) {
    if let Ok(Some(d)) = tokio::time::timeout(for_how_long, consumer.next()).await {
        panic!("unexpected delivery: {d:?}");
    }
}
