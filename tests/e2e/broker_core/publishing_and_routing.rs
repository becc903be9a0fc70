//! Publishing and routing: the default exchange with properties kept, fanout, topic, direct
//! and headers routing, confirms and mandatory returns, transactions, a body over many frames,
//! and many channels on one connection.

use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Confirmation, ExchangeKind};
use warren_testkit::{
    bind, broker_with_channel, connect, consume_tagged, declare_queue, next, publish,
    publish_mandatory, publish_pipelined, ready_count, select_confirms, start_broker,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_exchange_publish_consume_in_order_with_properties() {
    let (_server, _conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "orders").await;
    let mut headers = FieldTable::default();
    headers.insert("attempt".into(), AMQPValue::LongInt(3));
    for i in 0..3 {
        ch.basic_publish(
            "".into(),
            "orders".into(),
            BasicPublishOptions::default(),
            format!("order-{i}").as_bytes(),
            BasicProperties::default()
                .with_content_type("text/plain".into())
                .with_message_id(format!("m{i}").into())
                .with_headers(headers.clone()),
        )
        .await
        .unwrap();
    }
    let mut c = consume_tagged(&ch, "orders", "").await;
    for i in 0..3 {
        let d = next(&mut c).await;
        assert_eq!(d.data, format!("order-{i}").into_bytes());
        assert_eq!(
            d.properties.message_id().as_ref().unwrap().as_str(),
            format!("m{i}")
        );
        assert_eq!(
            d.properties.content_type().as_ref().unwrap().as_str(),
            "text/plain"
        );
        assert_eq!(
            d.properties
                .headers()
                .as_ref()
                .unwrap()
                .inner()
                .get("attempt"),
            Some(&AMQPValue::LongInt(3))
        );
        assert!(!d.redelivered);
        assert_eq!(d.routing_key.as_str(), "orders");
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_placed_fans_out_to_every_service() {
    let (_server, conn, ch) = broker_with_channel().await;
    ch.exchange_declare(
        "orders.placed".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let services = ["payment", "inventory", "email", "shipping"];
    let mut consumers = Vec::new();
    for s in services {
        declare_queue(&ch, s).await;
        bind(&ch, s, "orders.placed", "", FieldTable::default()).await;
        let sch = conn.create_channel().await.unwrap();
        consumers.push((sch.clone(), consume_tagged(&sch, s, s).await));
    }
    publish(&ch, "orders.placed", "", b"order 42 placed").await;
    for (_, c) in consumers.iter_mut() {
        let d = next(c).await;
        assert_eq!(d.data, b"order 42 placed");
        assert_eq!(d.exchange.as_str(), "orders.placed");
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    for s in services {
        assert_eq!(ready_count(&ch, s).await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_and_direct_routing() {
    let (_server, _conn, ch) = broker_with_channel().await;
    for (q, key) in [
        ("nyse", "stock.*.nyse"),
        ("audit", "audit.#"),
        ("crit", "*.critical"),
    ] {
        declare_queue(&ch, q).await;
        bind(&ch, q, "amq.topic", key, FieldTable::default()).await;
    }
    publish(&ch, "amq.topic", "stock.ibm.nyse", b"a").await;
    publish(&ch, "amq.topic", "audit", b"b").await;
    publish(&ch, "amq.topic", "audit.x.y", b"c").await;
    publish(&ch, "amq.topic", "disk.critical", b"d").await;
    publish(&ch, "amq.topic", "stock.ibm.lse", b"e").await;
    assert_eq!(ready_count(&ch, "nyse").await, 1);
    assert_eq!(ready_count(&ch, "audit").await, 2);
    assert_eq!(ready_count(&ch, "crit").await, 1);

    declare_queue(&ch, "d1").await;
    bind(&ch, "d1", "amq.direct", "k1", FieldTable::default()).await;
    publish(&ch, "amq.direct", "k1", b"x").await;
    publish(&ch, "amq.direct", "k2", b"y").await;
    assert_eq!(ready_count(&ch, "d1").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_exchange_routes_on_header_values() {
    let (_server, _conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "pdf-reports").await;
    let mut args = FieldTable::default();
    args.insert("x-match".into(), AMQPValue::LongString("all".into()));
    args.insert("format".into(), AMQPValue::LongString("pdf".into()));
    args.insert("type".into(), AMQPValue::LongString("report".into()));
    ch.queue_bind(
        "pdf-reports".into(),
        "amq.headers".into(),
        "".into(),
        QueueBindOptions::default(),
        args,
    )
    .await
    .unwrap();
    for (format, kind) in [("pdf", "report"), ("pdf", "log"), ("zip", "report")] {
        let mut h = FieldTable::default();
        h.insert("format".into(), AMQPValue::LongString(format.into()));
        h.insert("type".into(), AMQPValue::LongString(kind.into()));
        ch.basic_publish(
            "amq.headers".into(),
            "".into(),
            BasicPublishOptions::default(),
            b"r",
            BasicProperties::default().with_headers(h),
        )
        .await
        .unwrap();
    }
    assert_eq!(ready_count(&ch, "pdf-reports").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirms_and_mandatory_returns() {
    let (_server, _conn, ch) = broker_with_channel().await;
    select_confirms(&ch).await;
    declare_queue(&ch, "confirmed").await;
    let bodies: Vec<[u8; 4]> = (0..200u32).map(u32::to_be_bytes).collect();
    publish_pipelined(&ch, "", "confirmed", &bodies, BasicProperties::default()).await;
    assert_eq!(ready_count(&ch, "confirmed").await, 200);

    let returned = publish_mandatory(
        &ch,
        "amq.direct",
        "no-such-binding",
        b"lost?",
        BasicProperties::default(),
    );
    match returned.await {
        Confirmation::Ack(Some(ret)) => {
            assert_eq!(ret.reply_code, 312);
            assert_eq!(ret.reply_text.as_str(), "NO_ROUTE");
            assert_eq!(ret.delivery.data, b"lost?");
        }
        other => panic!("expected an ack carrying the return, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_and_rollback() {
    let (_server, conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "tx").await;
    ch.tx_select().await.unwrap();
    publish(&ch, "", "tx", b"rolled back").await;
    ch.tx_rollback().await.unwrap();
    let probe = conn.create_channel().await.unwrap();
    assert_eq!(ready_count(&probe, "tx").await, 0);
    publish(&ch, "", "tx", b"committed").await;
    assert_eq!(ready_count(&probe, "tx").await, 0, "invisible until commit");
    ch.tx_commit().await.unwrap();
    assert_eq!(ready_count(&probe, "tx").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_message_crosses_many_body_frames() {
    let (_server, _conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "big").await;
    let body: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    publish(&ch, "", "big", &body).await;
    let mut c = consume_tagged(&ch, "big", "").await;
    let d = next(&mut c).await;
    assert_eq!(d.data.len(), body.len());
    assert!(d.data == body, "body intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_channels_on_one_connection() {
    let server = start_broker().await;
    let conn = connect(&server).await;
    let mut channels = Vec::new();
    for i in 0..50 {
        let ch = conn.create_channel().await.unwrap();
        declare_queue(&ch, &format!("mc{i}")).await;
        channels.push(ch);
    }
    for (i, ch) in channels.iter().enumerate() {
        publish(ch, "", &format!("mc{i}"), format!("{i}").as_bytes()).await;
    }
    for (i, ch) in channels.iter().enumerate() {
        let m = ch
            .basic_get(
                format!("mc{i}").as_str().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap()
            .expect("message");
        assert_eq!(m.delivery.data, format!("{i}").into_bytes());
    }
}
