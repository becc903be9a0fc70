//! Where a message or a delivery goes when there is a choice: alternate exchanges (the
//! `alternate-exchange` exchange argument) take what routes nowhere; consumer priorities
//! (`x-priority`) and single active consumer (`x-single-active-consumer`) pick the consumer.

use super::{bound_queue, consumer_on, exchange, next_body, queue_with};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, ExchangeKind};
use std::time::Duration;
use warren_testkit::{
    assert_quiet, broker_with_channel, drain, field_table, long_str, publish, publish_mandatory,
    select_confirms,
};

fn ae_arguments(alternate: &str) -> FieldTable {
    field_table(&[("alternate-exchange", long_str(alternate))])
}

/// Publishes with confirms on `ch` and says whether the broker returned the message.
async fn returned(ch: &Channel, exchange: &str, key: &str, body: &[u8]) -> bool {
    match publish_mandatory(ch, exchange, key, body, BasicProperties::default()).await {
        Confirmation::Ack(None) => false,
        Confirmation::Ack(Some(ret)) => {
            assert_eq!(ret.reply_code, 312, "returned with NO_ROUTE");
            true
        }
        other => panic!("expected an ack, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternate_exchange_takes_unroutable_messages() {
    let (_server, _conn, ch) = broker_with_channel().await;
    select_confirms(&ch).await;
    exchange(&ch, "ae", ExchangeKind::Fanout, FieldTable::default()).await;
    bound_queue(&ch, "unrouted", "ae", "").await;
    exchange(&ch, "orders", ExchangeKind::Direct, ae_arguments("ae")).await;
    bound_queue(&ch, "placed", "orders", "order.placed").await;

    assert!(!returned(&ch, "orders", "order.placed", b"routed").await);
    // Mandatory, and not returned: the alternate exchange routed it.
    assert!(!returned(&ch, "orders", "order.lost", b"alternate").await);

    assert_eq!(drain(&ch, "placed").await, vec![b"routed".to_vec()]);
    assert_eq!(drain(&ch, "unrouted").await, vec![b"alternate".to_vec()]);

    // An alternate that routes nowhere, or does not exist, leaves the message unroutable.
    exchange(&ch, "empty-ae", ExchangeKind::Direct, FieldTable::default()).await;
    exchange(
        &ch,
        "dead-end",
        ExchangeKind::Direct,
        ae_arguments("empty-ae"),
    )
    .await;
    exchange(
        &ch,
        "missing-ae",
        ExchangeKind::Direct,
        ae_arguments("no-such"),
    )
    .await;
    assert!(returned(&ch, "dead-end", "k", b"nowhere").await);
    assert!(returned(&ch, "missing-ae", "k", b"nowhere").await);

    // Alternates chain, and a cycle of alternates ends instead of looping.
    exchange(&ch, "first", ExchangeKind::Direct, ae_arguments("second")).await;
    exchange(&ch, "second", ExchangeKind::Direct, ae_arguments("first")).await;
    assert!(returned(&ch, "first", "k", b"cycle").await);
    bound_queue(&ch, "second-catch", "second", "k").await;
    assert!(!returned(&ch, "first", "k", b"chained").await);
    assert_eq!(drain(&ch, "second-catch").await, vec![b"chained".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternate_exchange_argument_is_compared_on_redeclare() {
    let (_server, conn, ch) = broker_with_channel().await;
    exchange(&ch, "x", ExchangeKind::Direct, ae_arguments("ae1")).await;
    exchange(&ch, "x", ExchangeKind::Direct, ae_arguments("ae1")).await;
    let err = ch
        .exchange_declare(
            "x".into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            ae_arguments("ae2"),
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("inequivalent arg 'alternate-exchange' for exchange 'x'"),
        "{text}"
    );
    let ch = conn.create_channel().await.unwrap();
    let err = ch
        .exchange_declare(
            "x".into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("PRECONDITION_FAILED"), "{err}");
}

fn priority(p: i32) -> FieldTable {
    field_table(&[("x-priority", AMQPValue::LongInt(p))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_priorities_prefer_the_highest_with_credit() {
    let (_server, conn, ch) = broker_with_channel().await;
    queue_with(&ch, "prio", FieldTable::default()).await;
    let (_hc, mut high) = consumer_on(&conn, "prio", "high", 2, priority(10)).await;
    let (_lc, mut low) = consumer_on(&conn, "prio", "low", 100, FieldTable::default()).await;

    for i in 0..5u8 {
        publish(&ch, "", "prio", &[i]).await;
    }
    // The high-priority consumer takes what its prefetch allows; the rest go to the low one.
    let (a, da) = next_body(&mut high).await;
    let (b, db) = next_body(&mut high).await;
    assert_eq!((a, b), (vec![0], vec![1]));
    let mut got_low = Vec::new();
    for _ in 0..3 {
        got_low.push(next_body(&mut low).await.0);
    }
    assert_eq!(got_low, vec![vec![2], vec![3], vec![4]]);

    // With credit back, the high-priority consumer is preferred again.
    da.ack(BasicAckOptions::default()).await.unwrap();
    db.ack(BasicAckOptions::default()).await.unwrap();
    publish(&ch, "", "prio", &[5]).await;
    publish(&ch, "", "prio", &[6]).await;
    assert_eq!(next_body(&mut high).await.0, vec![5]);
    assert_eq!(next_body(&mut high).await.0, vec![6]);
    assert_quiet(&mut low, Duration::from_millis(200)).await;

    // A priority must be an integer (RabbitMQ's 406).
    let bad = conn.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert("x-priority".into(), long_str("high"));
    let err = bad
        .basic_consume(
            "prio".into(),
            "bad".into(),
            BasicConsumeOptions::default(),
            args,
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(
            "invalid arg 'x-priority' for queue 'prio' in vhost '/': \"expected integer, got \
             longstr\""
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_active_consumer_hands_over_in_registration_order() {
    let (_server, conn, ch) = broker_with_channel().await;
    let mut args = FieldTable::default();
    args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    queue_with(&ch, "sac", args).await;
    let (first_ch, mut first) = consumer_on(&conn, "sac", "first", 10, FieldTable::default()).await;
    // A higher priority does not take over in 3.10's single-active-consumer mode.
    let (_second_ch, mut second) = consumer_on(&conn, "sac", "second", 10, priority(5)).await;

    for i in 0..3u8 {
        publish(&ch, "", "sac", &[i]).await;
    }
    let mut unacked = Vec::new();
    for i in 0..3u8 {
        let (body, d) = next_body(&mut first).await;
        assert_eq!(body, vec![i]);
        unacked.push(d);
    }
    assert_quiet(&mut second, Duration::from_millis(200)).await;
    unacked
        .remove(0)
        .ack(BasicAckOptions::default())
        .await
        .unwrap();

    // The active consumer's channel closes: its unacked messages, then new ones, go to the
    // next consumer.
    first_ch.close(200, "done".into()).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (body, d) = next_body(&mut second).await;
        seen.push((body, d.redelivered));
    }
    publish(&ch, "", "sac", &[3]).await;
    let (body, d) = next_body(&mut second).await;
    seen.push((body, d.redelivered));
    assert_eq!(
        seen,
        vec![(vec![1], true), (vec![2], true), (vec![3], false)]
    );
}
