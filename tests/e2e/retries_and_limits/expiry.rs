//! Expiry: queue message TTL, per-message expiration, `x-expires` on unused queues, and TTL
//! clocks that count from the publish across a restart.

use super::{
    args, as_text, consumer_on, dead_lettering_to, get, publish, publish_with, queue_with,
    wait_get, x_death,
};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use warren_codec::ShortStr;
use warren_testkit::{
    broker_with_channel, connect, data_dir, eventually, passive_declare_queue, select_confirms,
    RawClient,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_ttl_expires_messages_without_consumers_into_the_dead_letter_queue() {
    let (_server, _conn, ch) = broker_with_channel().await;
    queue_with(&ch, "expired", FieldTable::default()).await;
    queue_with(
        &ch,
        "short-lived",
        dead_lettering_to("expired", &[("x-message-ttl", AMQPValue::LongInt(100))]),
    )
    .await;
    for i in 0..3u8 {
        publish(&ch, "short-lived", &[i]).await;
    }
    // Nobody consumes: the timer expires them in order, and they are never delivered here.
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = wait_get(&ch, "expired").await;
        let x = &x_death(&m.delivery.properties)[0];
        assert_eq!(as_text(&x["reason"]), "expired");
        assert_eq!(as_text(&x["queue"]), "short-lived");
        assert_eq!(m.delivery.routing_key.as_str(), "expired");
        got.push(m.delivery.data);
    }
    assert_eq!(got, vec![vec![0], vec![1], vec![2]]);
    assert!(get(&ch, "short-lived").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_message_expiration_drops_at_the_head_and_invalid_ones_are_refused() {
    let (server, _conn, ch) = broker_with_channel().await;
    queue_with(&ch, "plain", FieldTable::default()).await;
    let expiring = BasicProperties::default().with_expiration("30".into());
    publish_with(&ch, "plain", b"soon gone", expiring).await;
    publish_with(&ch, "plain", b"stays", BasicProperties::default()).await;
    eventually("the expired head dropped", || async {
        warren_testkit::ready_count(&ch, "plain").await == 1
    })
    .await;
    let m = get(&ch, "plain").await.expect("the unexpiring message");
    assert_eq!(m.delivery.data, b"stays");
    assert!(get(&ch, "plain").await.is_none());

    // RabbitMQ's 406 for an expiration that is not a non-negative integer, in its words.
    for (value, why) in [
        ("soon", "no_integer"),
        ("-5", "{value_negative,-5}"),
        ("10s", "{leftover_string,\"s\"}"),
    ] {
        let mut c = RawClient::with_channel_1(&server).await;
        let props = warren_codec::BasicProperties {
            expiration: Some(ShortStr::from_static(value)),
            ..Default::default()
        };
        c.publish(1, "plain", props, b"x").await;
        let text = c.expect_channel_close(1, 406).await;
        assert_eq!(
            text,
            format!("PRECONDITION_FAILED - invalid expiration '{value}': {why}")
        );
    }
}

async fn queue_exists(conn: &lapin::Connection, name: &str) -> bool {
    let ch = conn.create_channel().await.unwrap();
    passive_declare_queue(&ch, name).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_expires_deletes_a_queue_once_unused() {
    let (_server, conn, ch) = broker_with_channel().await;
    let expiring = || args(&[("x-expires", AMQPValue::LongInt(150))]);
    queue_with(&ch, "idle", expiring()).await;
    publish(&ch, "idle", b"publishing is not using").await;
    queue_with(&ch, "consumed", expiring()).await;
    let (cch, _c) = consumer_on(&conn, "consumed", "c", 10, FieldTable::default()).await;

    // Real waits, not polls: the only look a client has (a passive declare) is itself a use
    // that restarts the x-expires clock. Not virtual time either: a paused runtime jumps its
    // clock whenever it waits on a socket, so timers fire at arbitrary points of the exchange
    // (tried: lapin cannot even connect, ConnectionAborted, as the handshake timeout fires).
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(!queue_exists(&conn, "idle").await, "unused queue expired");
    assert!(
        queue_exists(&conn, "consumed").await,
        "a queue with a consumer is in use"
    );

    // Once its last consumer is gone, the clock starts. (Not polled: a passive declare is a
    // use and would restart it, in RabbitMQ too.)
    cch.close(200, "bye".into()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(
        !queue_exists(&conn, "consumed").await,
        "expired after its consumer left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_clocks_survive_a_restart() {
    let (_tmp, dir) = data_dir();
    let server = warren_testkit::start_broker_in(&dir).await;
    let published = std::time::Instant::now();
    {
        let conn = connect(&server).await;
        let ch = conn.create_channel().await.unwrap();
        select_confirms(&ch).await;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.queue_declare(
            "ttl-durable".into(),
            durable,
            args(&[("x-message-ttl", AMQPValue::LongInt(1_500))]),
        )
        .await
        .unwrap();
        ch.queue_declare("plain-durable".into(), durable, FieldTable::default())
            .await
            .unwrap();
        let persistent = BasicProperties::default().with_delivery_mode(2);
        publish_with(&ch, "ttl-durable", b"one second", persistent.clone()).await;
        let long_lived = persistent.with_expiration("60000".into());
        publish_with(&ch, "plain-durable", b"one minute", long_lived).await;
        conn.close(200, "restart".into()).await.unwrap();
    }
    // Real time must pass between publish and restart: the stored publish times are ms since
    // the epoch, and what is checked is that recovery counts from them (and the broker's
    // clock, anchored at startup, is not restarted by a paused test runtime's).
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    server.shutdown().await;
    let server = warren_testkit::start_broker_in(&dir).await;
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    // The clock counts from the publish, not from the restart: gone 1.5 s after publishing,
    // though the broker restarted more than 1 s after it. (A clock restarted at recovery would
    // keep it until at least 2.5 s after publishing; on a machine so slow that the check comes
    // later than that, the test can no longer tell the two apart, but it cannot fail either.)
    let until = published + std::time::Duration::from_millis(1_800);
    tokio::time::sleep_until(until.into()).await;
    assert!(get(&ch, "ttl-durable").await.is_none(), "expired on time");
    let m = get(&ch, "plain-durable").await.expect("not yet expired");
    assert_eq!(m.delivery.data, b"one minute");
    assert_eq!(
        m.delivery
            .properties
            .expiration()
            .as_ref()
            .map(|s| s.as_str()),
        Some("60000")
    );
}
