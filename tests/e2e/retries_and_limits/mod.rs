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
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};
use warren_testkit::{bind, declare_queue, eventually_some, field_table, get, long_str, next};

async fn exchange(ch: &Channel, name: &str, kind: ExchangeKind, args: FieldTable) {
    ch.exchange_declare(name.into(), kind, ExchangeDeclareOptions::default(), args)
        .await
        .expect("exchange.declare");
}

async fn bound_queue(ch: &Channel, name: &str, exchange: &str, key: &str) {
    declare_queue(ch, name).await;
    bind(ch, name, exchange, key, FieldTable::default()).await;
}

async fn queue_with(ch: &Channel, name: &str, args: FieldTable) {
    ch.queue_declare(name.into(), QueueDeclareOptions::default(), args)
        .await
        .expect("queue.declare");
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
    let d = next(c).await;
    (d.data.clone(), d)
}

/// Queue arguments: `more`, plus dead-lettering through the default exchange to `queue`.
fn dead_lettering_to(queue: &str, more: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = field_table(more);
    t.insert("x-dead-letter-exchange".into(), long_str(""));
    t.insert("x-dead-letter-routing-key".into(), long_str(queue));
    t
}

/// Polls `queue` with basic.get until a message arrives (dead-lettering is asynchronous to
/// the client, as in RabbitMQ).
async fn wait_get(ch: &Channel, queue: &str) -> lapin::message::BasicGetMessage {
    eventually_some("a dead-lettered message", || get(ch, queue, true)).await
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
