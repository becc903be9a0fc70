//! `warren-perf soak` against an in-process Warren: a short flood with a slow consumer ends
//! with every confirmed message delivered exactly once, and with a watermark the broker is
//! always above, every publisher receives connection.blocked and stays blocked.

use std::time::Duration;
use warren_perf::soak::{self, SoakSpec};
use warren_server::config::MemoryWatermark;
use warren_server::Config;
use warren_testkit::{start_broker_with, url};

fn spec(uri: &str, secs: u64) -> SoakSpec {
    SoakSpec {
        uri: uri.parse().unwrap(),
        label: "Warren".into(),
        // Same process: the broker's RSS is this test's.
        broker_pid: Some(std::process::id()),
        transient_publishers: 1,
        persistent_publishers: 1,
        size: 1024,
        duration: Duration::from_secs(secs),
        window: 200,
        ack_rate: 10.0,
        prefetch: 10,
        watermark_bytes: 256 << 20,
        drain_timeout: Duration::from_secs(60),
        settle_grace: Duration::from_secs(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_confirmed_message_is_delivered_once() {
    let server = start_broker_with(Config::default()).await;
    let r = soak::run(&spec(&url(&server), 2), |_| {}).await.unwrap();
    assert!(r.errors.is_empty(), "{}", soak::report::markdown(&r));
    for v in [r.transient, r.persistent] {
        assert!(v.confirmed > 100, "{v:?}");
        assert_eq!(v.confirmed_once, v.confirmed, "{v:?}");
        assert_eq!((v.lost, v.duplicated, v.unconfirmed), (0, 0, 0), "{v:?}");
    }
    assert!(
        r.slow_acked >= 5,
        "the slow consumer acked {}",
        r.slow_acked
    );
    assert_eq!(r.queued_after_drain, Some(0));
    assert_eq!(r.analysis.blocked_notices, 0);
    assert!(r.analysis.peak_rss_kib.is_some() && !r.ticks.is_empty());
    let md = soak::report::markdown(&r);
    assert!(md.contains("| exactly once (persistent) |"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_are_blocked_above_the_watermark() {
    // The alarm is set at the broker's first memory check, before anyone connects.
    let config = Config {
        memory_high_watermark: MemoryWatermark::Absolute(1),
        ..Config::default()
    };
    let server = start_broker_with(config).await;
    let r = soak::run(&spec(&url(&server), 1), |_| {}).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let a = &r.analysis;
    assert_eq!((a.blocked_notices, a.episodes, a.blocked_at_end), (2, 1, 2));
    assert!(r
        .events
        .iter()
        .all(|e| e.blocked && e.reason == "low on memory"));
    for v in [r.transient, r.persistent] {
        assert!(v.unconfirmed > 0, "{v:?}");
        assert_eq!((v.lost, v.duplicated), (0, 0), "{v:?}");
    }
}
