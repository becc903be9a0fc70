//! The retries-and-limits features, driven with lapin over TCP against an in-process broker:
//! so far alternate exchanges (the `alternate-exchange` exchange argument), consumer priorities
//! (`x-priority`) and single active consumer (`x-single-active-consumer`).

use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Confirmation, ExchangeKind};
use warren_codec::ShortStr;
use warren_testkit::{
    bind, broker_with_channel, connect, consume_no_ack, data_dir, declare_durable_queue,
    eventually, eventually_some, passive_declare_queue, select_confirms, start_broker, within,
    RawClient,
};

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
    bind(ch, name, exchange, key, FieldTable::default()).await;
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
    let (_server, _conn, ch) = broker_with_channel().await;
    select_confirms(&ch).await;
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

async fn queue_with(ch: &Channel, name: &str, args: FieldTable) {
    ch.queue_declare(name.into(), QueueDeclareOptions::default(), args)
        .await
        .expect("queue.declare");
}

async fn publish(ch: &Channel, queue: &str, body: &[u8]) {
    ch.basic_publish(
        "".into(),
        queue.into(),
        BasicPublishOptions::default(),
        body,
        BasicProperties::default(),
    )
    .await
    .expect("publish")
    .await
    .expect("publish confirm");
}

/// A consumer on its own channel with `prefetch` and the given consume arguments.
async fn consumer_on(
    conn: &lapin::Connection,
    queue: &str,
    tag: &str,
    prefetch: u16,
    args: FieldTable,
) -> (Channel, lapin::Consumer) {
    let ch = conn.create_channel().await.unwrap();
    ch.basic_qos(prefetch, BasicQosOptions::default())
        .await
        .unwrap();
    let c = ch
        .basic_consume(
            queue.into(),
            tag.into(),
            BasicConsumeOptions::default(),
            args,
        )
        .await
        .expect("basic.consume");
    (ch, c)
}

async fn next_body(c: &mut lapin::Consumer) -> (Vec<u8>, lapin::message::Delivery) {
    use futures_lite::StreamExt;
    let d = within("a delivery", c.next())
        .await
        .expect("consumer stream ended")
        .expect("delivery");
    (d.data.clone(), d)
}

/// Nothing more arrives on `c` within a short while.
async fn assert_idle(c: &mut lapin::Consumer) {
    use futures_lite::StreamExt;
    let more = tokio::time::timeout(std::time::Duration::from_millis(200), c.next()).await;
    assert!(more.is_err(), "unexpected delivery: {more:?}");
}

fn priority(p: i32) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-priority".into(), AMQPValue::LongInt(p));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_priorities_prefer_the_highest_with_credit() {
    let (_server, conn, ch) = broker_with_channel().await;
    queue_with(&ch, "prio", FieldTable::default()).await;
    let (_hc, mut high) = consumer_on(&conn, "prio", "high", 2, priority(10)).await;
    let (_lc, mut low) = consumer_on(&conn, "prio", "low", 100, FieldTable::default()).await;

    for i in 0..5u8 {
        publish(&ch, "prio", &[i]).await;
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
    publish(&ch, "prio", &[5]).await;
    publish(&ch, "prio", &[6]).await;
    assert_eq!(next_body(&mut high).await.0, vec![5]);
    assert_eq!(next_body(&mut high).await.0, vec![6]);
    assert_idle(&mut low).await;

    // A priority must be an integer (RabbitMQ's 406).
    let bad = conn.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert(
        "x-priority".into(),
        AMQPValue::LongString(LongString::from("high")),
    );
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
        publish(&ch, "sac", &[i]).await;
    }
    let mut unacked = Vec::new();
    for i in 0..3u8 {
        let (body, d) = next_body(&mut first).await;
        assert_eq!(body, vec![i]);
        unacked.push(d);
    }
    assert_idle(&mut second).await;
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
    publish(&ch, "sac", &[3]).await;
    let (body, d) = next_body(&mut second).await;
    seen.push((body, d.redelivered));
    assert_eq!(
        seen,
        vec![(vec![1], true), (vec![2], true), (vec![3], false)]
    );
}

fn args(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), v.clone());
    }
    t
}

/// Queue arguments: `more`, plus dead-lettering through the default exchange to `queue`.
fn dead_lettering_to(queue: &str, more: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = args(more);
    t.insert("x-dead-letter-exchange".into(), text(""));
    t.insert("x-dead-letter-routing-key".into(), text(queue));
    t
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

async fn publish_with(ch: &Channel, queue: &str, body: &[u8], props: BasicProperties) {
    ch.basic_publish(
        "".into(),
        queue.into(),
        BasicPublishOptions::default(),
        body,
        props,
    )
    .await
    .expect("publish")
    .await
    .expect("publish confirm");
}

async fn get(ch: &Channel, queue: &str) -> Option<lapin::message::BasicGetMessage> {
    ch.basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
}

/// Polls `queue` with basic.get until a message arrives (dead-lettering is asynchronous to
/// the client, as in RabbitMQ).
async fn wait_get(ch: &Channel, queue: &str) -> lapin::message::BasicGetMessage {
    eventually_some("a dead-lettered message", || get(ch, queue)).await
}

/// The `x-death` tables of a delivery, most recent first, as (key → value) maps.
fn x_death(props: &BasicProperties) -> Vec<std::collections::BTreeMap<String, AMQPValue>> {
    let headers = props.headers().as_ref().expect("headers");
    let Some(AMQPValue::FieldArray(deaths)) = headers.inner().get("x-death") else {
        panic!("no x-death in {headers:?}");
    };
    deaths
        .as_slice()
        .iter()
        .map(|v| match v {
            AMQPValue::FieldTable(t) => t
                .inner()
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            other => panic!("x-death entry {other:?}"),
        })
        .collect()
}

fn header_text(props: &BasicProperties, key: &str) -> Option<String> {
    match props.headers().as_ref()?.inner().get(key)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        _ => None,
    }
}

fn as_text(v: &AMQPValue) -> String {
    match v {
        AMQPValue::LongString(s) => s.to_string(),
        other => panic!("not a string: {other:?}"),
    }
}

fn as_count(v: &AMQPValue) -> i64 {
    match v {
        AMQPValue::LongLongInt(n) => *n,
        other => panic!("count is not a long: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_messages_are_dead_lettered_with_x_death() {
    let (_server, conn, ch) = broker_with_channel().await;
    exchange(&ch, "dlx", ExchangeKind::Fanout, FieldTable::default()).await;
    bound_queue(&ch, "dead", "dlx", "").await;
    queue_with(
        &ch,
        "work",
        args(&[("x-dead-letter-exchange", text("dlx"))]),
    )
    .await;
    let props = BasicProperties::default()
        .with_message_id("order-1".into())
        .with_expiration("60000".into());
    publish_with(&ch, "work", b"charge card", props).await;

    let (_cch, mut c) = consumer_on(&conn, "work", "w", 10, FieldTable::default()).await;
    let (_, d) = next_body(&mut c).await;
    d.reject(BasicRejectOptions { requeue: false })
        .await
        .unwrap();

    let m = wait_get(&ch, "dead").await;
    assert_eq!(m.delivery.data, b"charge card");
    assert_eq!(m.delivery.exchange.as_str(), "dlx");
    assert_eq!(m.delivery.routing_key.as_str(), "work");
    let p = &m.delivery.properties;
    assert_eq!(p.message_id().as_ref().map(|s| s.as_str()), Some("order-1"));
    assert_eq!(p.expiration(), &None, "per-message expiration is removed");
    assert_eq!(
        header_text(p, "x-first-death-reason").as_deref(),
        Some("rejected")
    );
    assert_eq!(
        header_text(p, "x-first-death-queue").as_deref(),
        Some("work")
    );
    assert_eq!(
        header_text(p, "x-first-death-exchange").as_deref(),
        Some("")
    );
    let deaths = x_death(p);
    assert_eq!(deaths.len(), 1);
    let x = &deaths[0];
    assert_eq!(as_count(&x["count"]), 1);
    assert_eq!(as_text(&x["reason"]), "rejected");
    assert_eq!(as_text(&x["queue"]), "work");
    assert_eq!(as_text(&x["exchange"]), "");
    assert_eq!(as_text(&x["original-expiration"]), "60000");
    assert!(matches!(&x["time"], AMQPValue::Timestamp(_)));
    let AMQPValue::FieldArray(keys) = &x["routing-keys"] else {
        panic!("routing-keys");
    };
    assert_eq!(keys.as_slice(), &[text("work")]);
    assert!(get(&ch, "work").await.is_none(), "gone from the work queue");
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_pipeline_parks_a_message_after_three_attempts() {
    // work --nack--> (dlx "") retry --ttl--> (dlx "") work ... parked after 3 retries.
    let (_server, conn, ch) = broker_with_channel().await;
    queue_with(&ch, "work", dead_lettering_to("retry", &[])).await;
    queue_with(
        &ch,
        "retry",
        dead_lettering_to("work", &[("x-message-ttl", AMQPValue::LongInt(50))]),
    )
    .await;
    queue_with(&ch, "parked", FieldTable::default()).await;
    publish(&ch, "work", b"payment 42").await;

    let (wch, mut worker) = consumer_on(&conn, "work", "worker", 1, FieldTable::default()).await;
    let mut attempts = 0;
    loop {
        let (_, d) = next_body(&mut worker).await;
        attempts += 1;
        let tries = d
            .properties
            .headers()
            .as_ref()
            .and_then(|_| {
                x_death(&d.properties)
                    .into_iter()
                    .find(|x| as_text(&x["queue"]) == "work")
            })
            .map_or(0, |x| as_count(&x["count"]));
        if tries >= 3 {
            wch.basic_publish(
                "".into(),
                "parked".into(),
                BasicPublishOptions::default(),
                &d.data,
                d.properties.clone(),
            )
            .await
            .unwrap();
            d.ack(BasicAckOptions::default()).await.unwrap();
            break;
        }
        d.nack(BasicNackOptions {
            requeue: false,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    assert_eq!(attempts, 4, "the first delivery and three retries");
    let m = wait_get(&ch, "parked").await;
    let deaths = x_death(&m.delivery.properties);
    let count = |q: &str, r: &str| {
        deaths
            .iter()
            .find(|x| as_text(&x["queue"]) == q && as_text(&x["reason"]) == r)
            .map(|x| as_count(&x["count"]))
    };
    assert_eq!(count("work", "rejected"), Some(3));
    assert_eq!(count("retry", "expired"), Some(3));
    assert_eq!(
        header_text(&m.delivery.properties, "x-first-death-queue").as_deref(),
        Some("work")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_cycle_without_rejections_is_dropped() {
    let (_server, _conn, ch) = broker_with_channel().await;
    // Expired messages are dead-lettered back into the same queue: a cycle, so dropped.
    queue_with(
        &ch,
        "loop",
        dead_lettering_to("loop", &[("x-message-ttl", AMQPValue::LongInt(30))]),
    )
    .await;
    publish(&ch, "loop", b"round and round").await;
    // A check that something does NOT happen (the message coming back round), so a short real
    // wait of ten TTLs, not a poll: an empty queue is also what a loop looks like in flight.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(get(&ch, "loop").await.is_none(), "dropped, not looping");
}

/// Publishes on a confirm channel and says whether the broker acked (true) or nacked it.
async fn publish_confirmed(ch: &Channel, queue: &str, body: &[u8]) -> bool {
    let confirm = ch
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .expect("publish");
    match within("publisher confirm", confirm).await.expect("confirm") {
        Confirmation::Ack(_) => true,
        Confirmation::Nack(_) => false,
        other => panic!("not a confirm channel? {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_length_drops_from_the_head_into_the_dead_letter_queue() {
    let (_server, _conn, ch) = broker_with_channel().await;
    queue_with(&ch, "overflowed", FieldTable::default()).await;
    queue_with(
        &ch,
        "bounded",
        dead_lettering_to("overflowed", &[("x-max-length", AMQPValue::LongInt(2))]),
    )
    .await;
    for i in 1..=5u8 {
        publish(&ch, "bounded", &[i]).await;
    }
    assert_eq!(bodies(&ch, "bounded").await, vec![vec![4], vec![5]]);
    let mut dropped = Vec::new();
    for _ in 0..3 {
        let m = wait_get(&ch, "overflowed").await;
        let x = &x_death(&m.delivery.properties)[0];
        assert_eq!(as_text(&x["reason"]), "maxlen");
        assert_eq!(as_text(&x["queue"]), "bounded");
        dropped.push(m.delivery.data);
    }
    assert_eq!(dropped, vec![vec![1], vec![2], vec![3]]);

    // Bytes: 4-byte bodies under a 10-byte limit keep the last two.
    queue_with(
        &ch,
        "byte-bounded",
        args(&[("x-max-length-bytes", AMQPValue::LongInt(10))]),
    )
    .await;
    for i in 1..=4u8 {
        publish(&ch, "byte-bounded", &[i; 4]).await;
    }
    assert_eq!(
        bodies(&ch, "byte-bounded").await,
        vec![vec![3; 4], vec![4; 4]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_publish_nacks_the_publisher_and_reject_publish_dlx_dead_letters_too() {
    let (_server, _conn, ch) = broker_with_channel().await;
    select_confirms(&ch).await;
    queue_with(
        &ch,
        "full",
        args(&[
            ("x-max-length", AMQPValue::LongInt(2)),
            ("x-overflow", text("reject-publish")),
        ]),
    )
    .await;
    let acks: Vec<bool> = {
        let mut v = Vec::new();
        for i in 1..=4u8 {
            v.push(publish_confirmed(&ch, "full", &[i]).await);
        }
        v
    };
    assert_eq!(acks, vec![true, true, false, false]);
    assert_eq!(bodies(&ch, "full").await, vec![vec![1], vec![2]]);
    // Room again: accepted again.
    assert!(publish_confirmed(&ch, "full", &[5]).await);

    queue_with(&ch, "refused", FieldTable::default()).await;
    queue_with(
        &ch,
        "full-dlx",
        dead_lettering_to(
            "refused",
            &[
                ("x-max-length", AMQPValue::LongInt(1)),
                ("x-overflow", text("reject-publish-dlx")),
            ],
        ),
    )
    .await;
    assert!(publish_confirmed(&ch, "full-dlx", b"kept").await);
    assert!(!publish_confirmed(&ch, "full-dlx", b"refused").await);
    let m = wait_get(&ch, "refused").await;
    assert_eq!(m.delivery.data, b"refused");
    assert_eq!(
        as_text(&x_death(&m.delivery.properties)[0]["reason"]),
        "maxlen"
    );
    assert_eq!(bodies(&ch, "full-dlx").await, vec![b"kept".to_vec()]);
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
async fn direct_reply_to_answers_rpc_without_a_reply_queue() {
    let server = start_broker().await;
    let conn = connect(&server).await;
    let setup = conn.create_channel().await.unwrap();
    queue_with(&setup, "rpc", FieldTable::default()).await;

    // The requester consumes the pseudo-queue (no-ack) and publishes with reply_to set to it.
    let client = conn.create_channel().await.unwrap();
    let mut replies = consume_no_ack(&client, "amq.rabbitmq.reply-to", "replies").await;
    let request = BasicProperties::default()
        .with_reply_to("amq.rabbitmq.reply-to".into())
        .with_correlation_id("req-1".into());
    publish_with(&client, "rpc", b"2+2", request).await;

    // The server side sees an address, and answers to it through the default exchange.
    let responder = conn.create_channel().await.unwrap();
    let m = wait_get(&responder, "rpc").await;
    let address = m
        .delivery
        .properties
        .reply_to()
        .as_ref()
        .expect("reply_to")
        .to_string();
    assert!(address.starts_with("amq.rabbitmq.reply-to."), "{address}");
    assert_ne!(address, "amq.rabbitmq.reply-to");
    let answer = BasicProperties::default().with_correlation_id("req-1".into());
    select_confirms(&responder).await;
    let confirm = responder
        .basic_publish(
            "".into(),
            address.as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            b"4",
            answer,
        )
        .await
        .unwrap();
    // RabbitMQ 3.10 routes a reply address to no queue: a mandatory reply is delivered and
    // also returned (NO_ROUTE), the return before the ack.
    let confirmation = within("confirm", confirm).await.unwrap();
    let Confirmation::Ack(Some(returned)) = confirmation else {
        panic!("a mandatory reply is acked and returned: {confirmation:?}");
    };
    assert_eq!(
        (returned.reply_code, returned.reply_text.as_str()),
        (312, "NO_ROUTE")
    );
    let (body, d) = next_body(&mut replies).await;
    assert_eq!(body, b"4");
    assert_eq!(d.routing_key.as_str(), address);
    assert_eq!(
        d.properties.correlation_id().as_ref().map(|s| s.as_str()),
        Some("req-1")
    );

    // An address nobody answers at (here: the live channel with another key, which the broker
    // only finds out on the requester's connection) is returned when mandatory too.
    let (channel_part, key) = address.rsplit_once('.').expect("<channel>.<key>");
    let key = u64::from_str_radix(key, 16).expect("a hex key");
    let bogus = format!("{channel_part}.{:x}", key ^ 1);
    let confirm = responder
        .basic_publish(
            "".into(),
            bogus.as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            b"lost",
            BasicProperties::default(),
        )
        .await
        .unwrap();
    let confirmation = within("confirm", confirm).await.unwrap();
    assert!(
        matches!(confirmation, Confirmation::Ack(Some(_))),
        "{bogus}: {confirmation:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_reply_to_misuse_gets_rabbitmqs_406s() {
    let (server, _conn, ch) = broker_with_channel().await;
    let err = ch
        .basic_consume(
            "amq.rabbitmq.reply-to".into(),
            "acking".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("PRECONDITION_FAILED - reply consumer cannot acknowledge"),
        "{err}"
    );

    let mut c = RawClient::with_channel_1(&server).await;
    let props = warren_codec::BasicProperties {
        reply_to: Some(ShortStr::from_static("amq.rabbitmq.reply-to")),
        ..Default::default()
    };
    c.publish(1, "anywhere", props, b"x").await;
    let text = c.expect_channel_close(1, 406).await;
    assert_eq!(
        text,
        "PRECONDITION_FAILED - fast reply consumer does not exist"
    );
}

fn with_priority(p: u8) -> BasicProperties {
    BasicProperties::default().with_priority(p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_queue_delivers_highest_priority_first_and_requeues_in_place() {
    let (_server, conn, ch) = broker_with_channel().await;
    queue_with(
        &ch,
        "prioritized",
        args(&[("x-max-priority", AMQPValue::ShortShortUInt(10))]),
    )
    .await;
    // (body, priority): 20 counts as the maximum, 10; no priority counts as 0.
    for (body, p) in [
        (1u8, Some(1)),
        (2, Some(5)),
        (3, None),
        (4, Some(10)),
        (5, Some(5)),
        (6, Some(20)),
    ] {
        let props = p.map_or_else(BasicProperties::default, with_priority);
        publish_with(&ch, "prioritized", &[body], props).await;
    }
    let (_cc, mut c) = consumer_on(&conn, "prioritized", "p", 100, FieldTable::default()).await;
    let mut order = Vec::new();
    let mut deliveries = Vec::new();
    for _ in 0..6 {
        let (body, d) = next_body(&mut c).await;
        order.push(body[0]);
        deliveries.push(d);
    }
    assert_eq!(order, vec![4, 6, 2, 5, 1, 3]);
    // Requeued messages go back to their place by priority, marked redelivered.
    for d in deliveries {
        d.nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let mut again = Vec::new();
    for _ in 0..6 {
        let (body, d) = next_body(&mut c).await;
        assert!(d.redelivered);
        again.push(body[0]);
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    assert_eq!(again, vec![4, 6, 2, 5, 1, 3]);

    // A queue without x-max-priority ignores the property: publish order.
    queue_with(&ch, "fifo", FieldTable::default()).await;
    publish_with(&ch, "fifo", &[1], with_priority(1)).await;
    publish_with(&ch, "fifo", &[2], with_priority(9)).await;
    assert_eq!(bodies(&ch, "fifo").await, vec![vec![1], vec![2]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_priority_queue_keeps_its_order_across_a_restart() {
    let (_tmp, dir) = data_dir();
    let server = warren_testkit::start_broker_in(&dir).await;
    {
        let conn = connect(&server).await;
        let ch = conn.create_channel().await.unwrap();
        select_confirms(&ch).await;
        ch.queue_declare(
            "durable-prio".into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args(&[("x-max-priority", AMQPValue::ShortShortUInt(5))]),
        )
        .await
        .unwrap();
        for (body, p) in [(1u8, 1u8), (2, 3), (3, 0), (4, 3), (5, 5)] {
            let props = with_priority(p).with_delivery_mode(2);
            publish_with(&ch, "durable-prio", &[body], props).await;
        }
        conn.close(200, "restart".into()).await.unwrap();
    }
    server.shutdown().await;
    let server = warren_testkit::start_broker_in(&dir).await;
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    assert_eq!(
        bodies(&ch, "durable-prio").await,
        vec![vec![5], vec![2], vec![4], vec![1], vec![3]]
    );
}

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
