//! Direct reply-to (`amq.rabbitmq.reply-to`): RPC replies without a reply queue, and RabbitMQ's
//! 406s for its misuse.

use super::{next_body, queue_with, wait_get};
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Confirmation};
use warren_codec::ShortStr;
use warren_testkit::{
    broker_with_channel, connect, consume_no_ack, publish_mandatory, publish_props,
    select_confirms, start_broker, RawClient,
};

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
    publish_props(&client, "", "rpc", b"2+2", request).await;

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
    // RabbitMQ 3.10 routes a reply address to no queue: a mandatory reply is delivered and
    // also returned (NO_ROUTE), the return before the ack.
    let confirmation = publish_mandatory(&responder, "", &address, b"4", answer).await;
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
    let confirmation =
        publish_mandatory(&responder, "", &bogus, b"lost", BasicProperties::default()).await;
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
