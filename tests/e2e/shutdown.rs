//! Shutdown: the broker's sleeping tasks (a message TTL timer, an `x-expires` watcher, a
//! delayed message's release) end at once when it stops, and the store it flushed reopens in
//! the same data dir with everything durable still there.

use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, ExchangeKind};
use std::time::Duration;
use warren_testkit::{
    bind, connect, field_table, long_str, passive_declare_exchange, ready_count, select_confirms,
    start_broker_in, within_for,
};

const HOUR_MS: i64 = 3_600_000;

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Declares the three sleepers, each an hour away, and leaves the connection open.
async fn arm_sleepers(ch: &lapin::Channel) {
    let ttl = field_table(&[("x-message-ttl", AMQPValue::LongLongInt(HOUR_MS))]);
    ch.queue_declare("j-ttl".into(), durable(), ttl)
        .await
        .unwrap();
    let expires = field_table(&[("x-expires", AMQPValue::LongLongInt(HOUR_MS))]);
    ch.queue_declare("j-expires".into(), durable(), expires)
        .await
        .unwrap();
    ch.queue_declare("j-later".into(), durable(), FieldTable::default())
        .await
        .unwrap();
    let delayed = field_table(&[("x-delayed-type", long_str("direct"))]);
    let exchange_options = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    let kind = ExchangeKind::Custom("x-delayed-message".into());
    ch.exchange_declare("j-delayed".into(), kind, exchange_options, delayed)
        .await
        .unwrap();
    bind(ch, "j-later", "j-delayed", "k", FieldTable::default()).await;
    select_confirms(ch).await;
    let persistent = BasicProperties::default().with_delivery_mode(2);
    let held = persistent.clone().with_headers(field_table(&[(
        "x-delay",
        AMQPValue::LongInt(HOUR_MS as i32),
    )]));
    for (exchange, key, props) in [("", "j-ttl", persistent), ("j-delayed", "k", held)] {
        ch.basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            b"kept",
            props,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_timers_watchers_and_delayed_releases_and_the_store_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_broker_in(dir.path()).await;
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    arm_sleepers(&ch).await;

    // Well under the tasks' hour and under shutdown's own five-second bound: nothing sleeping
    // may hold it up (the open connection gets 320 and answers at once).
    let limit = Duration::from_secs(3);
    within_for(limit, "shutdown with sleeping tasks", server.shutdown()).await;
    drop(conn);

    let server = within_for(limit, "the store reopening", start_broker_in(dir.path())).await;
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    assert_eq!(
        ready_count(&ch, "j-ttl").await,
        1,
        "the TTL'd message is kept"
    );
    assert_eq!(ready_count(&ch, "j-expires").await, 0);
    assert_eq!(
        ready_count(&ch, "j-later").await,
        0,
        "the delayed one is still held"
    );
    passive_declare_exchange(&ch, "j-delayed")
        .await
        .expect("the delayed exchange is recovered");
    conn.close(200, "done".into()).await.unwrap();
    within_for(limit, "the second shutdown", server.shutdown()).await;
}
