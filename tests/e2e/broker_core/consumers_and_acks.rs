//! Consumers and acknowledgements: nack and reject, requeue on a consumer's death, prefetch
//! (per consumer and global), round robin, basic.get, basic.recover, exclusive consumers and
//! tag reuse, and the cancel a deleted queue sends.

use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use std::time::Duration;
use warren_testkit::{
    assert_quiet, broker_with_channel, consume_tagged, consume_with, declare_queue, next,
    passive_declare_queue, publish, ready_count, refused_consume, reply_code, within, RawClient,
};

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
    // A third delivery must wait for an ack.
    assert_quiet(&mut c, Duration::from_millis(300)).await;
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
    let err = refused_consume(&ch2, "ex").await;
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

/// An ack and connection.close in one write: the ack frees the consumer's only credit, so the
/// queue hands the next message to the connection while the close is being read. That
/// delivery was never written, but the queue counts it unacked: closing must give it back (it
/// was lost, found by `warren-perf soak`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_handed_over_during_close_goes_back_to_the_queue() {
    use warren_codec::generated::{BasicAck, BasicConsume, BasicQos, ConnectionClose};
    use warren_codec::{frame, Frame, Method, ShortStr};
    let (server, _conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "handoff").await;
    publish(&ch, "", "handoff", b"first").await;
    publish(&ch, "", "handoff", b"second").await;
    let mut raw = RawClient::with_channel_1(&server).await;
    raw.send_method(
        1,
        Method::BasicQos(BasicQos {
            prefetch_count: 1,
            ..Default::default()
        }),
    )
    .await;
    raw.send_method(
        1,
        Method::BasicConsume(BasicConsume {
            queue: ShortStr::from_static("handoff"),
            ..Default::default()
        }),
    )
    .await;
    // qos-ok, consume-ok, then the first delivery (method, header, body).
    let tag = loop {
        if let Some((1, Method::BasicDeliver(d))) = raw.next_method().await {
            break d.delivery_tag;
        }
    };
    assert!(matches!(raw.next_frame().await, Some(Frame::Header { .. })));
    assert!(matches!(raw.next_frame().await, Some(Frame::Body { .. })));
    let mut out = bytes::BytesMut::new();
    let ack = Method::BasicAck(BasicAck {
        delivery_tag: tag,
        multiple: false,
    });
    frame::encode_method(1, &ack, &mut out);
    let close = Method::ConnectionClose(ConnectionClose {
        reply_code: 200,
        ..Default::default()
    });
    frame::encode_method(0, &close, &mut out);
    raw.send_bytes(&out).await;
    loop {
        match raw.next_frame().await {
            Some(Frame::Method {
                method: Method::ConnectionCloseOk(_),
                ..
            })
            | None => break,
            Some(_) => {}
        }
    }
    // As RabbitMQ, the unacked are back before close-ok: no wait.
    assert_eq!(ready_count(&ch, "handoff").await, 1, "the second message");
}
