//! Expiry: queue message TTL, per-message expiration, `x-expires` on unused queues, and TTL
//! clocks that count from the publish across a restart.

use super::{as_text, consumer_on, dead_lettering_to, queue_with, wait_get, x_death};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use std::time::{Duration, Instant};
use warren_codec::ShortStr;
use warren_testkit::{
    broker_with_channel, connect, data_dir, eventually, field_table, get, publish, publish_props,
    ready_count, select_confirms, RawClient,
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
        publish(&ch, "", "short-lived", &[i]).await;
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
    assert!(get(&ch, "short-lived", true).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_message_expiration_drops_at_the_head_and_invalid_ones_are_refused() {
    let (server, _conn, ch) = broker_with_channel().await;
    queue_with(&ch, "plain", FieldTable::default()).await;
    let expiring = BasicProperties::default().with_expiration("30".into());
    publish_props(&ch, "", "plain", b"soon gone", expiring).await;
    publish_props(&ch, "", "plain", b"stays", BasicProperties::default()).await;
    eventually("the expired head dropped", || async {
        ready_count(&ch, "plain").await == 1
    })
    .await;
    let m = get(&ch, "plain", true)
        .await
        .expect("the unexpiring message");
    assert_eq!(m.delivery.data, b"stays");
    assert!(get(&ch, "plain", true).await.is_none());

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_expires_deletes_a_queue_once_unused() {
    let (server, conn, ch) = broker_with_channel().await;
    let expiring = |ms: i32| field_table(&[("x-expires", AMQPValue::LongInt(ms))]);
    queue_with(&ch, "idle", expiring(150)).await;
    publish(&ch, "", "idle", b"publishing is not using").await;
    // The shorter clock: were a consumer not a use, this queue would go before "idle".
    queue_with(&ch, "consumed", expiring(100)).await;
    let (cch, _c) = consumer_on(&conn, "consumed", "c", 10, FieldTable::default()).await;

    // Polled through the admin facade: a client's only look (a passive declare) is itself a use
    // that restarts the x-expires clock, in RabbitMQ too; the facade's is not.
    let admin = server.admin();
    eventually("the unused queue to expire", || async {
        admin.queue("/", "idle").is_err()
    })
    .await;
    assert!(
        admin.queue("/", "consumed").is_ok(),
        "a queue with a consumer is in use"
    );

    // Once its last consumer is gone, the clock starts.
    cch.close(200, "bye".into()).await.unwrap();
    eventually("the queue to expire after its consumer left", || async {
        admin.queue("/", "consumed").is_err()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_clocks_survive_a_restart() {
    let (_tmp, dir) = data_dir();
    let server = warren_testkit::start_broker_in(&dir).await;
    let published = Instant::now();
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
            field_table(&[("x-message-ttl", AMQPValue::LongInt(1_500))]),
        )
        .await
        .unwrap();
        ch.queue_declare("plain-durable".into(), durable, FieldTable::default())
            .await
            .unwrap();
        let persistent = BasicProperties::default().with_delivery_mode(2);
        publish_props(&ch, "", "ttl-durable", b"one second", persistent.clone()).await;
        let long_lived = persistent.with_expiration("60000".into());
        publish_props(&ch, "", "plain-durable", b"one minute", long_lived).await;
        conn.close(200, "restart".into()).await.unwrap();
    }
    // Real time must pass between publish and restart: the stored publish times are ms since
    // the epoch, and what is checked is that recovery counts from them (and the broker's
    // clock, anchored at startup, is not restarted by a paused test runtime's).
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    server.shutdown().await;
    let server = warren_testkit::start_broker_in(&dir).await;
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    // The clock counts from the publish, not from the restart: gone 1.5 s after publishing,
    // though the broker restarted more than 1 s after it. A clock restarted at recovery would
    // keep it until at least 2.5 s after publishing, so no look that starts 1.8 s or more after
    // the publish may find it. (On a machine so slow that looking starts later than 2.5 s, the
    // test can no longer tell the two apart, but it cannot fail either.)
    let due = published + Duration::from_millis(1_800);
    eventually(
        "the message TTL, counted from the publish, to expire",
        || async {
            let looked_at = Instant::now();
            let expired = ready_count(&ch, "ttl-durable").await == 0;
            assert!(
                expired || looked_at < due,
                "still there 1.8 s after its publish"
            );
            expired
        },
    )
    .await;
    assert!(
        get(&ch, "ttl-durable", true).await.is_none(),
        "expired on time"
    );
    let m = get(&ch, "plain-durable", true)
        .await
        .expect("not yet expired");
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
