//! The broker core driven by an unmodified lapin client over TCP: one test per behaviour,
//! asserting what the client observes (messages, counts, flags, reply codes).

use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Confirmation, ExchangeKind};
use std::time::Duration;
use warren_testkit::{
    bind, broker_with_channel, close_connection, connect, consume_tagged, consume_with,
    declare_exclusive, declare_queue, eventually_some, next, passive_declare_queue, publish,
    ready_count, reply_code, select_confirms, start_broker, within, RawClient,
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
async fn confirms_and_mandatory_returns() {
    let (_server, _conn, ch) = broker_with_channel().await;
    select_confirms(&ch).await;
    declare_queue(&ch, "confirmed").await;
    let mut pending = Vec::new();
    for i in 0..200u32 {
        pending.push(
            ch.basic_publish(
                "".into(),
                "confirmed".into(),
                BasicPublishOptions::default(),
                &i.to_be_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap(),
        );
    }
    for p in pending {
        assert!(matches!(
            within("confirm", p).await.unwrap(),
            Confirmation::Ack(None)
        ));
    }
    assert_eq!(ready_count(&ch, "confirmed").await, 200);

    let confirm = ch
        .basic_publish(
            "amq.direct".into(),
            "no-such-binding".into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            b"lost?",
            BasicProperties::default(),
        )
        .await
        .unwrap();
    match within("confirm of a returned message", confirm)
        .await
        .unwrap()
    {
        Confirmation::Ack(Some(ret)) => {
            assert_eq!(ret.reply_code, 312);
            assert_eq!(ret.reply_text.as_str(), "NO_ROUTE");
            assert_eq!(ret.delivery.data, b"lost?");
        }
        other => panic!("expected an ack carrying the return, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_requeue_redelivers_and_reject_drops() {
    let (_server, _conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "work").await;
    publish(&ch, "", "work", b"job").await;
    let mut c = consume_tagged(&ch, "work", "w").await;
    let d = next(&mut c).await;
    assert!(!d.redelivered);
    d.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let d = next(&mut c).await;
    assert!(
        d.redelivered,
        "a requeued message comes back with redelivered set"
    );
    d.reject(BasicRejectOptions { requeue: false })
        .await
        .unwrap();
    // No wait needed: the passive declare goes on the same channel, handled after the reject.
    assert_eq!(ready_count(&ch, "work").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_messages_return_in_order_when_a_consumer_dies() {
    let (_server, conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "jobs").await;
    for i in 0..5u8 {
        publish(&ch, "", "jobs", &[i]).await;
    }
    let doomed = conn.create_channel().await.unwrap();
    let mut c = consume_tagged(&doomed, "jobs", "doomed").await;
    for _ in 0..5 {
        next(&mut c).await;
    }
    doomed.close(200, "crash".into()).await.unwrap();
    let ch2 = conn.create_channel().await.unwrap();
    let mut c2 = consume_tagged(&ch2, "jobs", "survivor").await;
    for i in 0..5u8 {
        let d = next(&mut c2).await;
        assert_eq!(d.data, vec![i], "original order kept");
        assert!(d.redelivered);
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_limits_unacked_deliveries() {
    let (_server, _conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "pf").await;
    for i in 0..10u8 {
        publish(&ch, "", "pf", &[i]).await;
    }
    ch.basic_qos(2, BasicQosOptions::default()).await.unwrap();
    let mut c = consume_tagged(&ch, "pf", "pf").await;
    let first = next(&mut c).await;
    let _second = next(&mut c).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), c.next())
            .await
            .is_err(),
        "a third delivery must wait for an ack"
    );
    first.ack(BasicAckOptions::default()).await.unwrap();
    let third = next(&mut c).await;
    assert_eq!(third.data, vec![2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_between_consumers() {
    let (_server, _conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "rr").await;
    let mut a = consume_tagged(&ch, "rr", "a").await;
    let mut b = consume_tagged(&ch, "rr", "b").await;
    for i in 0..4u8 {
        publish(&ch, "", "rr", &[i]).await;
    }
    let a1 = next(&mut a).await;
    let b1 = next(&mut b).await;
    let a2 = next(&mut a).await;
    let b2 = next(&mut b).await;
    assert_eq!(
        (a1.data[0], b1.data[0], a2.data[0], b2.data[0]),
        (0, 1, 2, 3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_get_and_get_empty() {
    let (_server, _conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "g").await;
    assert!(ch
        .basic_get("g".into(), BasicGetOptions::default())
        .await
        .unwrap()
        .is_none());
    publish(&ch, "", "g", b"one").await;
    publish(&ch, "", "g", b"two").await;
    let m = ch
        .basic_get("g".into(), BasicGetOptions::default())
        .await
        .unwrap()
        .expect("get-ok");
    assert_eq!(m.delivery.data, b"one");
    assert_eq!(m.message_count, 1);
    m.delivery.ack(BasicAckOptions::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_errors_close_only_the_channel() {
    let (_server, conn, ch) = broker_with_channel().await;

    let err = passive_declare_queue(&ch, "missing").await.unwrap_err();
    assert_eq!(reply_code(&err), Some(404), "{err}");

    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "eq").await;
    let err = ch
        .queue_declare(
            "eq".into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(406), "{err}");
    assert!(
        err.to_string().contains("inequivalent arg 'durable'"),
        "{err}"
    );

    // The close answering a plain publish arrives asynchronously. A later RPC on the channel
    // races with lapin's handling of it (it may fail with "invalid channel state" and no reply
    // code), but lapin always hands the close's error to the channel's consumers: one observes it.
    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "watch").await;
    let mut watcher = consume_tagged(&ch, "watch", "watcher").await;
    ch.basic_publish(
        "no-such-exchange".into(),
        "k".into(),
        BasicPublishOptions::default(),
        b"x",
        BasicProperties::default(),
    )
    .await
    .unwrap();
    let err = within("the channel's close", watcher.next())
        .await
        .expect("the consumer reports the close")
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(404), "{err}");
    assert!(
        err.to_string()
            .contains("NOT_FOUND - no exchange 'no-such-exchange' in vhost '/'"),
        "{err}"
    );
    assert!(ch
        .queue_declare(
            "after".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .is_err());

    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        "x1".into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let err = ch
        .exchange_declare(
            "x1".into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(406), "{err}");

    // The connection survived all of it.
    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "still-fine").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_queues_are_locked_and_deleted_with_their_connection() {
    let server = start_broker().await;
    let owner = connect(&server).await;
    let other = connect(&server).await;
    let och = owner.create_channel().await.unwrap();
    let q = declare_exclusive(&och, "").await;
    let name = q.name().as_str().to_string();
    assert!(name.starts_with("amq.gen-"), "{name}");
    let xch = other.create_channel().await.unwrap();
    let err = xch
        .basic_consume(
            name.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(405), "{err}");
    close_connection(&owner).await;
    // The broker cleans up after it answers close-ok: poll (a failed passive declare closes
    // its channel, so each look takes a new one).
    let err = eventually_some("the exclusive queue deleted", || async {
        let ch = other.create_channel().await.unwrap();
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        ch.queue_declare(name.as_str().into(), passive, FieldTable::default())
            .await
            .err()
    })
    .await;
    assert_eq!(
        reply_code(&err),
        Some(404),
        "exclusive queue is gone: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_and_delete_report_counts_and_preconditions() {
    let (_server, conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "p").await;
    for _ in 0..3 {
        publish(&ch, "", "p", b"x").await;
    }
    let err = ch
        .queue_delete(
            "p".into(),
            QueueDeleteOptions {
                if_empty: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(406), "{err}");
    let ch = conn.create_channel().await.unwrap();
    assert_eq!(
        ch.queue_purge("p".into(), QueuePurgeOptions::default())
            .await
            .unwrap(),
        3
    );
    publish(&ch, "", "p", b"y").await;
    assert_eq!(
        ch.queue_delete("p".into(), QueueDeleteOptions::default())
            .await
            .unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_queue_cancels_its_consumers() {
    let (_server, conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "gone").await;
    let mut c = consume_tagged(&ch, "gone", "watcher").await;
    let admin = conn.create_channel().await.unwrap();
    admin
        .queue_delete("gone".into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    let end = within("consumer cancel notification", c.next()).await;
    assert!(
        end.is_none(),
        "the consumer stream ends on basic.cancel from the broker"
    );
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
async fn clean_shutdown_closes_clients_with_connection_forced() {
    let server = start_broker().await;
    let mut client = RawClient::with_channel_1(&server).await;
    let stopping = tokio::spawn(server.shutdown());
    let text = client.expect_connection_close(320).await;
    assert!(text.starts_with("CONNECTION_FORCED"), "{text}");
    within("shutdown to finish", stopping).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_rules_exclusive_and_tag_reuse() {
    let (server, conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "ex").await;
    let _c = consume_with(
        &ch,
        "ex",
        "only",
        BasicConsumeOptions {
            exclusive: true,
            ..Default::default()
        },
    )
    .await;
    let ch2 = conn.create_channel().await.unwrap();
    let err = ch2
        .basic_consume(
            "ex".into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(403), "{err}");

    // Reusing a consumer tag on one channel is a connection error in RabbitMQ (530). A raw
    // client makes the outcome deterministic (lapin resolves a pending consume racily when
    // the connection closes under it).
    let mut raw = RawClient::with_channel_1(&server).await;
    let consume = || {
        warren_codec::Method::BasicConsume(warren_codec::generated::BasicConsume {
            queue: warren_codec::ShortStr::from_static("ex2"),
            consumer_tag: warren_codec::ShortStr::from_static("same"),
            ..Default::default()
        })
    };
    raw.send_method(
        1,
        warren_codec::Method::QueueDeclare(warren_codec::generated::QueueDeclare {
            queue: warren_codec::ShortStr::from_static("ex2"),
            ..Default::default()
        }),
    )
    .await;
    raw.send_method(1, consume()).await;
    raw.send_method(1, consume()).await;
    let text = raw.expect_connection_close(530).await;
    assert!(text.contains("reuse consumer tag 'same'"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_rules_reserved_internal_if_unused_and_e2e() {
    let (server, conn, ch) = broker_with_channel().await;
    let err = ch
        .exchange_declare(
            "amq.mine".into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(403), "{err}");

    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        "hidden".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            internal: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.exchange_declare(
        "front".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.exchange_bind(
        "hidden".into(),
        "front".into(),
        "".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    declare_queue(&ch, "behind").await;
    bind(&ch, "behind", "hidden", "", FieldTable::default()).await;
    publish(&ch, "front", "", b"through e2e").await;
    assert_eq!(
        ready_count(&ch, "behind").await,
        1,
        "routed through the internal exchange"
    );

    let err = ch
        .exchange_delete(
            "front".into(),
            ExchangeDeleteOptions {
                if_unused: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(406), "{err}");

    // Publishing to the internal exchange closes the channel with 403. Checked on the wire:
    // lapin reports a broker's channel.close code only to a call already waiting for a reply,
    // which makes the check racy through lapin.
    let mut raw = RawClient::with_channel_1(&server).await;
    let mut out = bytes::BytesMut::new();
    warren_codec::frame::encode_method(
        1,
        &warren_codec::Method::BasicPublish(warren_codec::generated::BasicPublish {
            exchange: warren_codec::ShortStr::from_static("hidden"),
            ..Default::default()
        }),
        &mut out,
    );
    warren_codec::frame::encode_header(
        1,
        &warren_codec::ContentHeader::new(6, warren_codec::BasicProperties::default()),
        &mut out,
    );
    warren_codec::frame::encode_body(1, b"direct", 0, &mut out);
    raw.send_bytes(&out).await;
    let text = raw.expect_channel_close(1, 403).await;
    assert!(text.contains("internal exchange 'hidden'"), "{text}");
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
async fn global_qos_is_shared_by_the_channel_consumers() {
    let (_server, _conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "g1").await;
    declare_queue(&ch, "g2").await;
    for _ in 0..3 {
        publish(&ch, "", "g1", b"1").await;
        publish(&ch, "", "g2", b"2").await;
    }
    ch.basic_qos(2, BasicQosOptions { global: true })
        .await
        .unwrap();
    let mut a = consume_tagged(&ch, "g1", "a").await;
    let mut b = consume_tagged(&ch, "g2", "b").await;
    let mut got = Vec::new();
    for _ in 0..2 {
        tokio::select! {
            d = next(&mut a) => got.push(d),
            d = next(&mut b) => got.push(d),
        }
    }
    let more = tokio::time::timeout(Duration::from_millis(300), async {
        tokio::select! {
            d = a.next() => d,
            d = b.next() => d,
        }
    })
    .await;
    assert!(
        more.is_err(),
        "the channel-wide limit of 2 holds across both consumers"
    );
    got.remove(0).ack(BasicAckOptions::default()).await.unwrap();
    let third = within("a delivery after the ack", async {
        tokio::select! {
            d = a.next() => d,
            d = b.next() => d,
        }
    })
    .await;
    assert!(third.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_requeues_unacked_and_auto_delete_queues_go_with_their_last_consumer() {
    let (_server, _conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "rec").await;
    publish(&ch, "", "rec", b"again").await;
    let mut c = consume_tagged(&ch, "rec", "r").await;
    let first = next(&mut c).await;
    assert!(!first.redelivered);
    ch.basic_recover(BasicRecoverOptions { requeue: true })
        .await
        .unwrap();
    let again = next(&mut c).await;
    assert!(again.redelivered);
    assert_eq!(again.data, b"again");

    ch.queue_declare(
        "temp".into(),
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    consume_tagged(&ch, "temp", "t").await;
    ch.basic_cancel("t".into(), BasicCancelOptions::default())
        .await
        .unwrap();
    let err = passive_declare_queue(&ch, "temp").await.unwrap_err();
    assert_eq!(
        reply_code(&err),
        Some(404),
        "auto-delete queue is gone: {err}"
    );
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

#[tokio::test]
async fn message_sizes_over_rabbitmqs_512_mib_cap_are_refused_at_start() {
    for config in [
        warren_server::Config {
            max_message_size: (512 << 20) + 1,
            ..Default::default()
        },
        warren_server::Config {
            frame_max: (512 << 20) + 1,
            ..Default::default()
        },
    ] {
        let err = match warren_server::Server::start(config).await {
            Ok(_) => panic!("a broker started with an oversized limit"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("512 MiB"), "{err}");
    }
}
