//! Consumer timeout with lapin: a delivery left unacknowledged past `consumer_timeout` (or its
//! queue's `x-consumer-timeout`) closes the channel with 406 PRECONDITION_FAILED and RabbitMQ
//! 3.10.8's text, and its messages come back redelivered; channels within their timeout are
//! left alone. Short timeouts in real time (the broker checks every second), and the default
//! 30 minutes under tokio's paused clock, which the broker's clock follows.

use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Consumer;
use std::time::{Duration, Instant};
use warren_codec::generated::{BasicConsume, QueueDeclare};
use warren_codec::{Frame, Method, ShortStr};
use warren_server::{Config, Server};
use warren_testkit::{
    amqp_error, connect, consume, declare_queue, eventually, next, publish, start_broker,
    start_broker_with, within_for, RawClient,
};

fn broker_config(timeout: Option<Duration>) -> Config {
    Config {
        consumer_timeout: timeout,
        ..Config::default()
    }
}

/// The error the consumer's channel was closed with.
async fn closed_with(consumer: &mut Consumer) -> (u16, String) {
    let limit = Duration::from_secs(15);
    match within_for(limit, "the channel to be closed", consumer.next()).await {
        Some(Err(e)) => amqp_error(&e),
        Some(Ok(d)) => panic!("unexpected delivery {d:?}"),
        None => panic!("consumer ended without an error"),
    }
}

fn unacked(server: &Server, queue: &str) -> u64 {
    server
        .admin()
        .queue("/", queue)
        .unwrap()
        .messages_unacknowledged
}

#[tokio::test]
async fn an_unacked_delivery_past_the_timeout_closes_the_channel_and_is_requeued() {
    let server = start_broker_with(broker_config(Some(Duration::from_millis(500)))).await;
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "ct.q").await;
    publish(&ch, "", "ct.q", b"one").await;
    publish(&ch, "", "ct.q", b"two").await;

    let mut consumer = consume(&ch, "ct.q").await;
    let first = next(&mut consumer).await;
    let delivered = Instant::now();
    assert!(!first.redelivered);
    assert_eq!(next(&mut consumer).await.data, b"two");
    // Neither is acked.
    let (code, text) = closed_with(&mut consumer).await;
    let waited = delivered.elapsed();
    assert_eq!(code, 406);
    assert_eq!(
        text,
        "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value \
         used: 500 ms. This timeout value can be configured, see consumers doc guide to learn \
         more"
    );
    assert!(
        waited >= Duration::from_millis(500),
        "closed after {waited:?}"
    );

    let ch2 = conn.create_channel().await.unwrap();
    let mut again = consume(&ch2, "ct.q").await;
    for body in [b"one", b"two"] {
        let d = next(&mut again).await;
        assert_eq!(d.data, body);
        assert!(d.redelivered, "requeued by the close, so redelivered");
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    eventually("the acks to arrive", || async {
        unacked(&server, "ct.q") == 0
    })
    .await;
}

#[tokio::test]
async fn a_queues_x_consumer_timeout_applies_to_its_deliveries_only() {
    // No broker-wide timeout: only the queue's own.
    let server = start_broker_with(broker_config(None)).await;
    let conn = connect(&server).await;
    let setup = conn.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert("x-consumer-timeout".into(), AMQPValue::LongLongInt(300));
    setup
        .queue_declare("ct.short".into(), QueueDeclareOptions::default(), args)
        .await
        .unwrap();
    declare_queue(&setup, "ct.none").await;
    publish(&setup, "", "ct.short", b"short").await;
    publish(&setup, "", "ct.none", b"none").await;

    let patient = conn.create_channel().await.unwrap();
    let mut waiting = consume(&patient, "ct.none").await;
    assert_eq!(next(&mut waiting).await.data, b"none");
    let hasty = conn.create_channel().await.unwrap();
    let mut timing_out = consume(&hasty, "ct.short").await;
    assert_eq!(next(&mut timing_out).await.data, b"short");

    let (code, text) = closed_with(&mut timing_out).await;
    assert_eq!(code, 406);
    assert!(
        text.contains(&format!(
            "delivery acknowledgement on channel {} timed out. Timeout value used: 300 ms.",
            hasty.id()
        )),
        "{text}"
    );
    assert_eq!(unacked(&server, "ct.short"), 0, "requeued");
    // The other channel keeps its delivery.
    assert!(patient.status().connected());
    assert_eq!(unacked(&server, "ct.none"), 1);

    // A bad value is refused as RabbitMQ 3.12 refuses it.
    let mut bad = FieldTable::default();
    bad.insert("x-consumer-timeout".into(), AMQPValue::LongInt(-1));
    let err = setup
        .queue_declare("ct.bad".into(), QueueDeclareOptions::default(), bad)
        .await
        .unwrap_err();
    assert_eq!(
        amqp_error(&err),
        (
            406,
            "PRECONDITION_FAILED - invalid arg 'x-consumer-timeout' for queue 'ct.bad' in vhost \
             '/': {value_negative,-1}"
                .to_string()
        )
    );
}

#[tokio::test]
async fn the_default_thirty_minutes_pass_under_virtual_time() {
    let server = start_broker().await;
    let mut raw = RawClient::with_channel_1(&server).await;
    let queue = ShortStr::from_static("ct.default");
    raw.send_method(
        1,
        Method::QueueDeclare(QueueDeclare {
            queue: queue.clone(),
            ..Default::default()
        }),
    )
    .await;
    raw.publish(1, "ct.default", Default::default(), b"late")
        .await;
    raw.send_method(
        1,
        Method::BasicConsume(BasicConsume {
            queue,
            ..Default::default()
        }),
    )
    .await;
    // Declare-ok, consume-ok, then the delivery's method, header and body.
    loop {
        match raw.next_frame().await.expect("the delivery") {
            Frame::Body { .. } => break,
            Frame::Method { method, .. } => assert!(
                matches!(
                    method,
                    Method::QueueDeclareOk(_) | Method::BasicConsumeOk(_) | Method::BasicDeliver(_)
                ),
                "got {method:?}"
            ),
            _ => {}
        }
    }

    // From here the broker's clock and timers are tokio's paused ones (one runtime).
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(29 * 60)).await;
    let early = tokio::time::timeout(Duration::from_secs(5), raw.next_frame()).await;
    assert!(early.is_err(), "closed before 30 minutes: {early:?}");
    tokio::time::advance(Duration::from_secs(60)).await;
    let text = raw.expect_channel_close(1, 406).await;
    assert_eq!(
        text,
        "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value \
         used: 1800000 ms. This timeout value can be configured, see consumers doc guide to \
         learn more"
    );
}
