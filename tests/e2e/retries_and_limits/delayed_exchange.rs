//! The delayed-message exchange (`x-delayed-message`): messages held for their `x-delay`, and
//! held messages that survive a restart (and do not come back after their release).

use super::{bound_queue, wait_get};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};
use warren_testkit::{
    bind, broker_with_channel, connect, data_dir, declare_durable_queue, drain, field_table, get,
    long_str, publish_props, select_confirms,
};

/// exchange.declare of an `x-delayed-message` exchange that routes as `routing_type` once a
/// message is due (`None` leaves the `x-delayed-type` argument out).
async fn declare_delayed(
    ch: &Channel,
    name: &str,
    options: ExchangeDeclareOptions,
    routing_type: Option<&str>,
) -> lapin::Result<()> {
    let args = routing_type.map_or_else(FieldTable::default, |kind| {
        field_table(&[("x-delayed-type", long_str(kind))])
    });
    let kind = ExchangeKind::Custom("x-delayed-message".into());
    ch.exchange_declare(name.into(), kind, options, args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_message_exchange_holds_messages_for_their_x_delay() {
    let (_server, conn, ch) = broker_with_channel().await;
    declare_delayed(&ch, "later", Default::default(), Some("direct"))
        .await
        .expect("declare x-delayed-message");
    bound_queue(&ch, "reminders", "later", "remind").await;

    let delayed = |ms: i32| {
        BasicProperties::default().with_headers(field_table(&[("x-delay", AMQPValue::LongInt(ms))]))
    };
    let publish_to = |body: &'static [u8], props: BasicProperties| {
        publish_props(&ch, "later", "remind", body, props)
    };
    let start = std::time::Instant::now();
    publish_to(b"in 300 ms", delayed(300)).await;
    publish_to(b"in 150 ms", delayed(150)).await;
    publish_to(b"now", BasicProperties::default()).await;
    // Routed like a direct exchange: the undelayed one is there at once, the others are not.
    assert_eq!(drain(&ch, "reminders").await, vec![b"now".to_vec()]);
    let first = wait_get(&ch, "reminders").await;
    assert_eq!(first.delivery.data, b"in 150 ms");
    assert!(start.elapsed() >= std::time::Duration::from_millis(150));
    let second = wait_get(&ch, "reminders").await;
    assert_eq!(second.delivery.data, b"in 300 ms");
    assert!(start.elapsed() >= std::time::Duration::from_millis(300));

    // The routing type must be given and exist.
    let bad = conn.create_channel().await.unwrap();
    let err = declare_delayed(&bad, "no-type", Default::default(), None)
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
        declare_delayed(&ch, "durable-later", durable_x, Some("fanout"))
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
            .with_headers(field_table(&[("x-delay", AMQPValue::LongInt(800))]));
        // Taken before the publish: the broker's hold starts when it receives the message,
        // and the confirm comes back later than that (after the fsync).
        published = std::time::Instant::now();
        publish_props(&ch, "durable-later", "", b"survives", held).await;
        conn.close(200, "restart".into()).await.unwrap();
    }
    server.shutdown().await;
    let server = warren_testkit::start_broker_in(&dir).await;
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    // Redeclaring with the same type is equivalent.
    declare_delayed(&ch, "durable-later", durable_x, Some("fanout"))
        .await
        .expect("equivalent redeclare");
    if published.elapsed() < std::time::Duration::from_millis(700) {
        assert!(
            get(&ch, "due-after-restart", true).await.is_none(),
            "not due yet"
        );
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
    assert!(get(&ch, "due-after-restart", true).await.is_none());
}
