//! The retries-and-limits features, driven with lapin over TCP against an in-process broker:
//! alternate exchanges and consumer priorities, dead-lettering, expiry (message TTL, per-message
//! expiration, `x-expires`), length limits, direct reply-to, priority queues and the
//! delayed-message exchange, one file each. The helpers they share are here.

mod alternate_and_consumer_priority;
mod dead_lettering;
mod delayed_exchange;
mod direct_reply_to;
mod expiry;
mod length_limits;
mod priority_queues;

use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, ExchangeKind};
use warren_testkit::{bind, eventually_some, within};

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
