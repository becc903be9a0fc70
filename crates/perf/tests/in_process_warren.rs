//! Runs short warren-perf scenarios against an in-process Warren on a loopback port: the tool's
//! client speaks enough correct AMQP for every scenario kind (the retry pipeline's queue
//! arguments, nacks and x-death included), and the runner measures them.

use std::time::Duration;
use warren_perf::client::{AmqpUri, Conn};
use warren_perf::runner::{self, RunOptions, Target};
use warren_perf::scenario::{ExchangeType, FlowSpec, Kind, RetrySpec, Scenario};
use warren_server::Server;
use warren_testkit::{start_broker, url};

async fn warren() -> (Server, Target) {
    let server = start_broker().await;
    let target = Target {
        label: "Warren".into(),
        uri: url(&server).parse::<AmqpUri>().unwrap(),
        // Same process: its CPU shows up as client CPU too, which is fine for a test.
        pid: Some(std::process::id()),
    };
    (server, target)
}

fn flow(name: &str, f: FlowSpec) -> Scenario {
    Scenario {
        name: name.into(),
        description: String::new(),
        kind: Kind::Flow(FlowSpec {
            duration: Duration::from_secs(1),
            ..f
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_second_scenarios_against_in_process_warren() {
    let (server, target) = warren().await;

    // A fixed rate: flat out, a debug-build broker sharing this process's threads can starve
    // its own deliveries for the whole second (seen while writing this test).
    let transient = FlowSpec {
        rate: Some(20_000.0),
        ..FlowSpec::default()
    };
    let r = runner::run(&flow("transient", transient), &target)
        .await
        .unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.sent > 0 && r.received > 0, "{r:?}");
    let lat = r.latency.expect("16 B bodies carry timestamps");
    assert!(lat.count > 0 && lat.p50_us <= lat.p99_us && lat.p99_us <= lat.max_us);
    assert!(r.broker_cpu_secs.is_some());

    let confirms = FlowSpec {
        confirm: Some(50),
        persistent: true,
        size: 1024,
        ..FlowSpec::default()
    };
    let r = runner::run(&flow("confirms", confirms), &target)
        .await
        .unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.confirmed > 0, "{r:?}");
    assert!(
        r.sent - (r.confirmed + r.nacked) <= 50,
        "window respected: {r:?}"
    );

    let topic = FlowSpec {
        queues: 3,
        consumers: 3,
        exchange: ExchangeType::Topic,
        bindings: 30,
        rate: Some(2000.0),
        ..FlowSpec::default()
    };
    let r = runner::run(&flow("topic", topic), &target).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // Fixed rate: about 2000 sent in one second, and every one routed to exactly one queue.
    assert!((1500..=2600).contains(&r.sent), "{r:?}");
    assert!(r.received + 200 >= r.sent, "{r:?}");

    let fanout = FlowSpec {
        queues: 3,
        consumers: 3,
        exchange: ExchangeType::Fanout,
        rate: Some(1000.0),
        ..FlowSpec::default()
    };
    let r = runner::run(&flow("fanout", fanout), &target).await.unwrap();
    assert!(r.received > r.sent, "fanout multiplies: {r:?}");

    let conns = Scenario {
        name: "connections-20".into(),
        description: String::new(),
        kind: Kind::Connections {
            count: 20,
            hold: Duration::from_millis(100),
        },
    };
    let r = runner::run(&conns, &target).await.unwrap();
    // Each connection declared a server-named exclusive queue and consumed from it.
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let c = r.connections.unwrap();
    assert_eq!((c.opened, c.failed), (20, 0));

    // --keep: a publish-only run leaves its queue, with what it published, in the broker.
    let publish_only = FlowSpec {
        consumers: 0,
        confirm: Some(100),
        size: 100,
        rate: Some(2000.0),
        ..FlowSpec::default()
    };
    let r = runner::run_with(
        &flow("publish-only", publish_only),
        &target,
        RunOptions { keep: true },
    )
    .await
    .unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.kept_queues.len(), 1, "{r:?}");
    let mut admin = Conn::connect(&target.uri, "test").await.unwrap();
    admin.open_channel(1).await.unwrap();
    let queued = admin
        .declare_queue(1, &r.kept_queues[0], false)
        .await
        .unwrap();
    assert!(
        queued as u64 >= r.confirmed && r.confirmed > 0,
        "{queued} {r:?}"
    );
    admin.delete_queue(1, &r.kept_queues[0]).await.unwrap();
    admin.close().await.unwrap();

    let backlog = Scenario {
        name: "backlog-2000".into(),
        description: String::new(),
        kind: Kind::Backlog {
            messages: 2000,
            size: 16,
            persistent: false,
            confirm: 100,
            prefetch: 100,
            multi_ack_every: 10,
            timeout: Duration::from_secs(30),
        },
    };
    let r = runner::run(&backlog, &target).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!((r.sent, r.confirmed, r.received), (2000, 2000, 2000));
    assert!(
        r.backlog.as_ref().unwrap().rss_per_msg_bytes.is_some(),
        "{r:?}"
    );
    assert!(r.kept_queues.is_empty());

    // The retry pipeline: every completed message was nacked once, went through the retry
    // queue's TTL and came back with an x-death the consumer read.
    let retry = Scenario {
        name: "retry-pipeline".into(),
        description: String::new(),
        kind: Kind::Retry(RetrySpec {
            ttl: Duration::from_millis(20),
            window: 200,
            duration: Duration::from_secs(1),
            ..RetrySpec::default()
        }),
    };
    let r = runner::run(&retry, &target).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let stats = r.retry.clone().expect("retry stats");
    assert!(r.received > 0, "{r:?}");
    // A message is completed only after its own nack: at most the window's worth of nacks were
    // for messages still in the pipeline at the end.
    assert!(stats.nacked + 200 >= r.received, "{r:?}");
    assert!(r.sent <= r.received + 200, "the window holds: {r:?}");
    // Publish to completion includes at least one TTL.
    let lat = r.latency.expect("16 B bodies carry timestamps");
    assert!(lat.p50_us >= 20_000.0, "{lat:?}");

    server.shutdown().await;
}
