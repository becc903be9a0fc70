//! The delayed-message exchange (`x-delayed-message`): messages held for their `x-delay`, and
//! held messages that survive a restart (and do not come back after their release).

use super::{args, bodies, bound_queue, get, text, wait_get};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};
use warren_testkit::{
    bind, broker_with_channel, connect, data_dir, declare_durable_queue, select_confirms,
};

fn delayed_exchange_args(kind: &str) -> FieldTable {
    args(&[("x-delayed-type", text(kind))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_message_exchange_holds_messages_for_their_x_delay() {
    let (_server, conn, ch) = broker_with_channel().await;
    ch.exchange_declare(
        "later".into(),
        ExchangeKind::Custom("x-delayed-message".into()),
        ExchangeDeclareOptions::default(),
        delayed_exchange_args("direct"),
    )
    .await
    .expect("declare x-delayed-message");
    bound_queue(&ch, "reminders", "later", "remind").await;

    let delayed = |ms: i32| {
        BasicProperties::default().with_headers(args(&[("x-delay", AMQPValue::LongInt(ms))]))
    };
    let publish_to = |body: &'static [u8], props: BasicProperties| {
        let ch = ch.clone();
        async move {
            ch.basic_publish(
                "later".into(),
                "remind".into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
    };
    let start = std::time::Instant::now();
    publish_to(b"in 300 ms", delayed(300)).await;
    publish_to(b"in 150 ms", delayed(150)).await;
    publish_to(b"now", BasicProperties::default()).await;
    // Routed like a direct exchange: the undelayed one is there at once, the others are not.
    assert_eq!(bodies(&ch, "reminders").await, vec![b"now".to_vec()]);
    let first = wait_get(&ch, "reminders").await;
    assert_eq!(first.delivery.data, b"in 150 ms");
    assert!(start.elapsed() >= std::time::Duration::from_millis(150));
    let second = wait_get(&ch, "reminders").await;
    assert_eq!(second.delivery.data, b"in 300 ms");
    assert!(start.elapsed() >= std::time::Duration::from_millis(300));

    // The routing type must be given and exist.
    let bad = conn.create_channel().await.unwrap();
    let err = bad
        .exchange_declare(
            "no-type".into(),
            ExchangeKind::Custom("x-delayed-message".into()),
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Invalid argument, 'x-delayed-type' must be an existing exchange type"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_delayed_exchange_and_its_held_messages_survive_a_restart() {
    let (_tmp, dir) = data_dir();
    let durable_x = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let server = warren_testkit::start_broker_in(&dir).await;
    let published;
    {
        let conn = connect(&server).await;
        let ch = conn.create_channel().await.unwrap();
        select_confirms(&ch).await;
        ch.exchange_declare(
            "durable-later".into(),
            ExchangeKind::Custom("x-delayed-message".into()),
            durable_x,
            delayed_exchange_args("fanout"),
        )
        .await
        .unwrap();
        declare_durable_queue(&ch, "due-after-restart").await;
        bind(
            &ch,
            "due-after-restart",
            "durable-later",
            "",
            FieldTable::default(),
        )
        .await;
        // Confirmed only once it is on disk, like any persistent message.
        let held = BasicProperties::default()
            .with_delivery_mode(2)
            .with_headers(args(&[("x-delay", AMQPValue::LongInt(800))]));
        // Taken before the publish: the broker's hold starts when it receives the message,
        // and the confirm comes back later than that (after the fsync).
        published = std::time::Instant::now();
        publish_with_exchange(&ch, "durable-later", b"survives", held).await;
        conn.close(200, "restart".into()).await.unwrap();
    }
    server.shutdown().await;
    let server = warren_testkit::start_broker_in(&dir).await;
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    // Redeclaring with the same type is equivalent.
    ch.exchange_declare(
        "durable-later".into(),
        ExchangeKind::Custom("x-delayed-message".into()),
        durable_x,
        delayed_exchange_args("fanout"),
    )
    .await
    .expect("equivalent redeclare");
    if published.elapsed() < std::time::Duration::from_millis(700) {
        assert!(get(&ch, "due-after-restart").await.is_none(), "not due yet");
    }
    let m = wait_get(&ch, "due-after-restart").await;
    assert_eq!(m.delivery.data, b"survives");
    // The broker keeps due times in whole milliseconds since the epoch: allow for the rounding.
    assert!(published.elapsed() >= std::time::Duration::from_millis(798));

    // Released messages are gone from the store: another restart does not bring it back.
    drop(conn);
    server.shutdown().await;
    let server = warren_testkit::start_broker_in(&dir).await;
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    // A check that something does NOT happen (a release from a stale stored copy, which would
    // be due at once): a short real wait is the only way to give it the chance.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(get(&ch, "due-after-restart").await.is_none());
}

async fn publish_with_exchange(ch: &Channel, exchange: &str, body: &[u8], props: BasicProperties) {
    ch.basic_publish(
        exchange.into(),
        "".into(),
        BasicPublishOptions::default(),
        body,
        props,
    )
    .await
    .unwrap()
    .await
    .unwrap();
}
