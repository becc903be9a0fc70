//! Resource alarms (memory and disk) against real clients: a publish under an alarm blocks its
//! connection, which then reads nothing (its later frames wait) and, if the client advertised
//! the capability, gets `connection.blocked` with RabbitMQ's reason; a connection that only
//! consumes keeps receiving and acking; clearing the alarm (a threshold changed through the
//! admin facade) sends `connection.unblocked` and the held publish goes through.

use futures_lite::StreamExt;
use lapin::options::BasicAckOptions;
use lapin::Event;
use std::time::Duration;
use warren_codec::generated::QueueDeclare;
use warren_codec::{Method, ShortStr};
use warren_server::config::{DiskFreeLimit, MemoryWatermark};
use warren_server::{Config, Server};
use warren_testkit::{
    assert_quiet, connect, consume, declare_queue, eventually, next, open_channel, publish,
    start_broker, start_broker_with, within, RawClient,
};

/// How long a test watches for something that must not happen.
const QUIET: Duration = Duration::from_millis(300);

/// The next connection.blocked (with its reason) or connection.unblocked (`None`) lapin saw.
async fn next_block_event(
    events: &mut (impl futures_lite::Stream<Item = Event> + Unpin),
) -> Option<String> {
    within("connection.blocked or unblocked", async {
        loop {
            match events.next().await.expect("events end with the connection") {
                Event::ConnectionBlocked(reason) => return Some(reason),
                Event::ConnectionUnblocked => return None,
                _ => continue,
            }
        }
    })
    .await
}

async fn ready(server: &Server, queue: &str) -> u64 {
    server.admin().queue("/", queue).unwrap().messages_ready
}

#[tokio::test]
async fn a_memory_alarm_blocks_the_publisher_while_a_consumer_drains() {
    let server = start_broker().await;
    let admin = server.admin();
    let publisher = connect(&server).await;
    let mut events = publisher.events_listener();
    let pch = publisher.create_channel().await.unwrap();
    declare_queue(&pch, "alarm.q").await;
    for i in 0..3 {
        publish(&pch, "", "alarm.q", format!("before {i}").as_bytes()).await;
    }
    eventually("3 messages queued", || async {
        ready(&server, "alarm.q").await == 3
    })
    .await;

    // A watermark below what the broker uses: the alarm is set at once.
    admin
        .set_memory_high_watermark(MemoryWatermark::Absolute(1))
        .unwrap();
    let alarms = admin.alarms();
    assert!(alarms.memory_alarm && !alarms.disk_alarm, "{alarms:?}");
    assert!(alarms.memory_used > alarms.memory_limit, "{alarms:?}");

    // The publish that meets the alarm blocks its connection, which is told why.
    publish(&pch, "", "alarm.q", b"during").await;
    assert_eq!(
        next_block_event(&mut events).await.as_deref(),
        Some("low on memory")
    );

    // A connection that only consumes still gets and acks what is queued.
    let (_consumer_conn, cch) = open_channel(&server).await;
    let mut consumer = consume(&cch, "alarm.q").await;
    for i in 0..3 {
        let d = next(&mut consumer).await;
        assert_eq!(d.data, format!("before {i}").into_bytes());
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    // The blocked publish waits with its connection.
    assert_quiet(&mut consumer, QUIET).await;

    admin
        .set_memory_high_watermark(MemoryWatermark::Absolute(u64::MAX))
        .unwrap();
    assert!(!admin.alarms().memory_alarm);
    assert_eq!(next_block_event(&mut events).await, None, "unblocked");
    assert_eq!(next(&mut consumer).await.data, b"during");
    publish(&pch, "", "alarm.q", b"after").await;
    assert_eq!(next(&mut consumer).await.data, b"after");
}

#[tokio::test]
async fn a_disk_alarm_at_boot_blocks_the_first_publish_until_the_limit_drops() {
    let server = start_broker_with(Config {
        // More free space than any disk has: the alarm is set before the first connection.
        disk_free_limit: DiskFreeLimit::Absolute(u64::MAX),
        ..Config::default()
    })
    .await;
    let admin = server.admin();
    let alarms = admin.alarms();
    assert!(alarms.disk_alarm && !alarms.memory_alarm, "{alarms:?}");
    assert!(alarms.disk_free.is_some_and(|f| f < alarms.disk_free_limit));

    let publisher = connect(&server).await;
    let mut events = publisher.events_listener();
    let pch = publisher.create_channel().await.unwrap();
    // Declaring is no publish: the connection goes on.
    declare_queue(&pch, "disk.q").await;
    let (_consumer_conn, cch) = open_channel(&server).await;
    let mut consumer = consume(&cch, "disk.q").await;

    publish(&pch, "", "disk.q", b"held").await;
    assert_eq!(
        next_block_event(&mut events).await.as_deref(),
        Some("low on disk")
    );
    assert_quiet(&mut consumer, QUIET).await;
    assert_eq!(ready(&server, "disk.q").await, 0);

    admin
        .set_disk_free_limit(DiskFreeLimit::Absolute(0))
        .unwrap();
    assert!(!admin.alarms().disk_alarm);
    assert_eq!(next_block_event(&mut events).await, None, "unblocked");
    assert_eq!(next(&mut consumer).await.data, b"held");
}

#[tokio::test]
async fn a_blocked_connection_reads_nothing_and_tells_no_client_without_the_capability() {
    let server = start_broker().await;
    let admin = server.admin();
    // The raw client advertises no capabilities.
    let mut raw = RawClient::with_channel_1(&server).await;
    let declare = |passive| {
        Method::QueueDeclare(QueueDeclare {
            queue: ShortStr::from_static("raw.q"),
            passive,
            ..Default::default()
        })
    };
    raw.send_method(1, declare(false)).await;
    let (_, ok) = raw.next_method().await.unwrap();
    assert!(matches!(ok, Method::QueueDeclareOk(_)), "got {ok:?}");

    admin
        .set_memory_high_watermark(MemoryWatermark::Absolute(1))
        .unwrap();
    raw.publish(1, "raw.q", Default::default(), b"one").await;
    raw.send_method(1, declare(true)).await;
    // Blocked by its publish: the declare after it is not even read.
    let early = tokio::time::timeout(QUIET, raw.next_frame()).await;
    assert!(early.is_err(), "answered while blocked: {early:?}");

    admin
        .set_memory_high_watermark(MemoryWatermark::Relative(0.9))
        .unwrap();
    // No connection.unblocked for this client: the next method is the declare's answer,
    // which counts the publish held before it.
    let (_, ok) = raw.next_method().await.unwrap();
    let Method::QueueDeclareOk(ok) = ok else {
        panic!("expected declare-ok, got {ok:?}")
    };
    assert_eq!(ok.message_count, 1);
}
