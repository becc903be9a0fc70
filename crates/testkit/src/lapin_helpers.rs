//! lapin helpers shared by the end-to-end tests and the lapin interop scenarios: unique names,
//! declarations and bindings, field tables, confirmed publishes, gets and consumers, each with
//! a bounded wait.

use crate::wait::within;
use futures_lite::StreamExt;
use lapin::message::{BasicGetMessage, Delivery};
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeBindOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, ExchangeUnbindOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, Consumer, ErrorKind, ExchangeKind,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The reply code and text of a channel or connection closed by the broker; panics on any
/// other kind of error.
pub fn amqp_error(err: &lapin::Error) -> (u16, String) {
    match err.kind() {
        ErrorKind::ProtocolError(e) => (e.get_id(), e.get_message().to_string()),
        other => panic!("expected the broker to close with a reply code, got {other:?}"),
    }
}

/// The reply code a channel or connection was closed with, if the error is such a close.
pub fn reply_code(err: &lapin::Error) -> Option<u16> {
    match err.kind() {
        ErrorKind::ProtocolError(e) => Some(e.get_id()),
        _ => None,
    }
}

/// A queue or exchange name that no other run can collide with.
pub fn unique(role: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("interop.lapin.{role}.{}.{nanos:x}.{n}", std::process::id())
}

/// Declares an exclusive queue: it disappears with its connection, even if the scenario panics.
pub async fn exclusive_queue(ch: &Channel, role: &str) -> String {
    let name = unique(role);
    declare_exclusive(ch, &name).await;
    name
}

/// Declares an exclusive queue named `name`; an empty name lets the broker name it.
pub async fn declare_exclusive(ch: &Channel, name: &str) -> lapin::Queue {
    let options = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    declare_queue_with(ch, name, options).await
}

/// A passive queue.declare: the declare-ok, or the error the broker closed the channel with.
pub async fn passive_declare_queue(ch: &Channel, queue: &str) -> lapin::Result<lapin::Queue> {
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
}

/// A passive exchange.declare (sent as direct: a passive declare does not compare the type).
pub async fn passive_declare_exchange(ch: &Channel, exchange: &str) -> lapin::Result<()> {
    ch.exchange_declare(
        exchange.into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
}

/// Ready messages in a queue, from a passive queue.declare.
pub async fn ready_count(ch: &Channel, queue: &str) -> u32 {
    passive_declare_queue(ch, queue)
        .await
        .expect("passive queue.declare")
        .message_count()
}

/// A channel in confirm mode.
pub async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = conn.create_channel().await.expect("channel.open");
    select_confirms(&ch).await;
    ch
}

/// Puts an open channel in confirm mode.
pub async fn select_confirms(ch: &Channel) {
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
}

/// Publishes on a confirm-mode channel and waits for the broker's confirm. A confirmed
/// message is enqueued, so a basic.get right after it sees it.
pub async fn publish_props(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Confirmation {
    publish_with_options(
        ch,
        exchange,
        key,
        BasicPublishOptions::default(),
        body,
        properties,
    )
    .await
}

/// [`publish_props`] with the mandatory flag: on a confirm-mode channel, a message the broker
/// returned is `Ack(Some(returned))` (the return comes before the ack).
pub async fn publish_mandatory(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Confirmation {
    let options = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    publish_with_options(ch, exchange, key, options, body, properties).await
}

/// Publishes every body with `properties`, all of them before awaiting any confirm (as a
/// pipelining publisher does), and asserts each is confirmed with a plain ack.
pub async fn publish_pipelined<B: AsRef<[u8]>>(
    ch: &Channel,
    exchange: &str,
    key: &str,
    bodies: &[B],
    properties: BasicProperties,
) {
    let mut confirms = Vec::with_capacity(bodies.len());
    for body in bodies {
        let options = BasicPublishOptions::default();
        let publish = ch.basic_publish(
            exchange.into(),
            key.into(),
            options,
            body.as_ref(),
            properties.clone(),
        );
        confirms.push(publish.await.expect("basic.publish"));
    }
    for confirm in confirms {
        let c = within("a publisher confirm", confirm)
            .await
            .expect("confirm");
        assert!(matches!(c, Confirmation::Ack(None)), "publish got {c:?}");
    }
}

async fn publish_with_options(
    ch: &Channel,
    exchange: &str,
    key: &str,
    options: BasicPublishOptions,
    body: &[u8],
    properties: BasicProperties,
) -> Confirmation {
    let confirm = ch
        .basic_publish(exchange.into(), key.into(), options, body, properties)
        .await
        .expect("basic.publish");
    within("a publisher confirm", confirm)
        .await
        .expect("confirm")
}

/// [`publish_props`] without properties. On a confirm-mode channel it asserts a plain ack; on
/// any other channel it returns once the publish is written.
pub async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8]) {
    let c = publish_props(ch, exchange, key, body, BasicProperties::default()).await;
    assert!(
        matches!(c, Confirmation::Ack(None) | Confirmation::NotRequested),
        "publish got {c:?}"
    );
}

/// Declares a queue with default options (durable: no, exclusive: no).
pub async fn declare_queue(ch: &Channel, name: &str) -> lapin::Queue {
    declare_queue_with(ch, name, QueueDeclareOptions::default()).await
}

/// Declares a durable queue.
pub async fn declare_durable_queue(ch: &Channel, name: &str) -> lapin::Queue {
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    declare_queue_with(ch, name, options).await
}

/// Declares a queue with `options` and no arguments.
pub async fn declare_queue_with(
    ch: &Channel,
    name: &str,
    options: QueueDeclareOptions,
) -> lapin::Queue {
    ch.queue_declare(name.into(), options, FieldTable::default())
        .await
        .expect("queue.declare")
}

/// Declares a uniquely named, auto-delete exchange of `kind`.
pub async fn declare_exchange(ch: &Channel, role: &str, kind: ExchangeKind) -> String {
    let name = unique(role);
    ch.exchange_declare(
        name.as_str().into(),
        kind,
        ExchangeDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("exchange.declare");
    name
}

/// Deletes an exchange (unconditionally).
pub async fn delete_exchange(ch: &Channel, name: &str) {
    ch.exchange_delete(name.into(), ExchangeDeleteOptions::default())
        .await
        .expect("exchange.delete");
}

/// Closes a connection normally (200), waiting for close-ok.
pub async fn close_connection(conn: &Connection) {
    conn.close(200, "bye".into())
        .await
        .expect("connection.close");
}

/// queue.bind with the arguments given.
pub async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str, args: FieldTable) {
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        args,
    )
    .await
    .expect("queue.bind");
}

/// queue.unbind of a binding without arguments.
pub async fn unbind(ch: &Channel, queue: &str, exchange: &str, key: &str) {
    ch.queue_unbind(
        queue.into(),
        exchange.into(),
        key.into(),
        FieldTable::default(),
    )
    .await
    .expect("queue.unbind");
}

/// exchange.bind: messages routed by `source` with `key` go on to `destination` too.
pub async fn bind_exchange(ch: &Channel, destination: &str, source: &str, key: &str) {
    ch.exchange_bind(
        destination.into(),
        source.into(),
        key.into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("exchange.bind");
}

/// exchange.unbind of what [`bind_exchange`] bound (unbind-ok also when nothing was bound).
pub async fn unbind_exchange(ch: &Channel, destination: &str, source: &str, key: &str) {
    ch.exchange_unbind(
        destination.into(),
        source.into(),
        key.into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("exchange.unbind");
}

/// A field table of `entries`, for queue, exchange and consume arguments and for headers.
pub fn field_table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in entries {
        table.insert((*key).into(), value.clone());
    }
    table
}

/// A long-string field value: how clients send text in arguments and headers.
pub fn long_str(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// basic.get; `None` is get-empty.
pub async fn get(ch: &Channel, queue: &str, no_ack: bool) -> Option<BasicGetMessage> {
    within(
        "basic.get",
        ch.basic_get(queue.into(), BasicGetOptions { no_ack }),
    )
    .await
    .expect("basic.get")
}

/// basic.get that must find a message.
pub async fn get_one(ch: &Channel, queue: &str, no_ack: bool) -> BasicGetMessage {
    get(ch, queue, no_ack)
        .await
        .unwrap_or_else(|| panic!("get-empty on {queue}, expected a message"))
}

/// Every ready message's body, taken with auto-ack basic.get until get-empty.
pub async fn drain(ch: &Channel, queue: &str) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    while let Some(m) = get(ch, queue, true).await {
        bodies.push(m.delivery.data);
    }
    bodies
}

/// Asserts the queue holds exactly `expected` (in order), and empties it.
pub async fn expect_bodies(ch: &Channel, queue: &str, expected: &[&[u8]]) {
    let got = drain(ch, queue).await;
    let show = |v: &[&[u8]]| {
        v.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
    };
    let got_refs: Vec<&[u8]> = got.iter().map(Vec::as_slice).collect();
    assert_eq!(show(&got_refs), show(expected), "bodies in {queue}");
}

/// basic.consume with `options` and no arguments; an empty `tag` lets the broker name it.
pub async fn consume_with(
    ch: &Channel,
    queue: &str,
    tag: &str,
    options: BasicConsumeOptions,
) -> Consumer {
    ch.basic_consume(queue.into(), tag.into(), options, FieldTable::default())
        .await
        .expect("basic.consume")
}

/// basic.consume (acking, broker-named tag, no arguments) that the broker must refuse: the
/// error it closed the channel with.
pub async fn refused_consume(ch: &Channel, queue: &str) -> lapin::Error {
    let options = BasicConsumeOptions::default();
    ch.basic_consume(queue.into(), "".into(), options, FieldTable::default())
        .await
        .expect_err("basic.consume was accepted, expected a refusal")
}

/// An acking consumer with a broker-named tag.
pub async fn consume(ch: &Channel, queue: &str) -> Consumer {
    consume_with(ch, queue, "", BasicConsumeOptions::default()).await
}

/// A no-ack consumer: the broker counts every delivery as acked when it sends it.
pub async fn consume_no_ack(ch: &Channel, queue: &str, tag: &str) -> Consumer {
    let options = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    consume_with(ch, queue, tag, options).await
}

/// An acking consumer with the tag given.
pub async fn consume_tagged(ch: &Channel, queue: &str, tag: &str) -> Consumer {
    consume_with(ch, queue, tag, BasicConsumeOptions::default()).await
}

/// The next delivery, within WAIT.
pub async fn next(consumer: &mut Consumer) -> Delivery {
    within("a delivery", consumer.next())
        .await
        .expect("consumer stream ended")
        .expect("delivery error")
}

/// Asserts no delivery arrives for a while.
pub async fn assert_quiet(consumer: &mut Consumer, for_how_long: Duration) {
    if let Ok(Some(d)) = tokio::time::timeout(for_how_long, consumer.next()).await {
        panic!("unexpected delivery: {d:?}");
    }
}
