//! The retries-and-limits features, driven with lapin over TCP against an in-process broker:
//! so far alternate exchanges (the `alternate-exchange` exchange argument).

use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Confirmation, ExchangeKind};
use warren_tests::{connect, start_broker, within};

fn ae_arguments(alternate: &str) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "alternate-exchange".into(),
        AMQPValue::LongString(LongString::from(alternate)),
    );
    args
}

async fn exchange(ch: &Channel, name: &str, kind: ExchangeKind, args: FieldTable) {
    ch.exchange_declare(name.into(), kind, ExchangeDeclareOptions::default(), args)
        .await
        .expect("exchange.declare");
}

async fn bound_queue(ch: &Channel, name: &str, exchange: &str, key: &str) {
    ch.queue_declare(
        name.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("queue.declare");
    ch.queue_bind(
        name.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("queue.bind");
}

/// Publishes with confirms on `ch` and says whether the broker returned the message.
async fn publish_mandatory(ch: &Channel, exchange: &str, key: &str, body: &[u8]) -> bool {
    let confirm = ch
        .basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body,
            BasicProperties::default(),
        )
        .await
        .expect("publish");
    match within("publisher confirm", confirm).await.expect("confirm") {
        Confirmation::Ack(None) => false,
        Confirmation::Ack(Some(ret)) => {
            assert_eq!(ret.reply_code, 312, "returned with NO_ROUTE");
            true
        }
        other => panic!("expected an ack, got {other:?}"),
    }
}

async fn bodies(ch: &Channel, queue: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(m) = ch
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
    {
        out.push(m.delivery.data);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternate_exchange_takes_unroutable_messages() {
    let server = start_broker().await;
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    exchange(&ch, "ae", ExchangeKind::Fanout, FieldTable::default()).await;
    bound_queue(&ch, "unrouted", "ae", "").await;
    exchange(&ch, "orders", ExchangeKind::Direct, ae_arguments("ae")).await;
    bound_queue(&ch, "placed", "orders", "order.placed").await;

    assert!(!publish_mandatory(&ch, "orders", "order.placed", b"routed").await);
    // Mandatory, and not returned: the alternate exchange routed it.
    assert!(!publish_mandatory(&ch, "orders", "order.lost", b"alternate").await);

    assert_eq!(bodies(&ch, "placed").await, vec![b"routed".to_vec()]);
    assert_eq!(bodies(&ch, "unrouted").await, vec![b"alternate".to_vec()]);

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
    assert!(publish_mandatory(&ch, "dead-end", "k", b"nowhere").await);
    assert!(publish_mandatory(&ch, "missing-ae", "k", b"nowhere").await);

    // Alternates chain, and a cycle of alternates ends instead of looping.
    exchange(&ch, "first", ExchangeKind::Direct, ae_arguments("second")).await;
    exchange(&ch, "second", ExchangeKind::Direct, ae_arguments("first")).await;
    assert!(publish_mandatory(&ch, "first", "k", b"cycle").await);
    bound_queue(&ch, "second-catch", "second", "k").await;
    assert!(!publish_mandatory(&ch, "first", "k", b"chained").await);
    assert_eq!(bodies(&ch, "second-catch").await, vec![b"chained".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternate_exchange_argument_is_compared_on_redeclare() {
    let server = start_broker().await;
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
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
