//! Acknowledgements: ack, nack and reject with and without requeue, redelivery after a
//! consumer dies, prefetch across consumers (the lapin counterpart of
//! `interop/tests/test_acks.py`; nack-requeue, reject-drop and single-consumer prefetch are in
//! `core.rs`).

use futures_lite::future::zip;
use lapin::options::*;
use lapin::types::FieldTable;
use std::time::Duration;
use warren_testkit::{
    amqp_error, assert_quiet, close_connection, consume, eventually, exclusive_queue,
    expect_bodies, get, get_one, next, on_each_broker, passive_declare_queue, publish, ready_count,
    Broker, Proxy,
};

async fn publish_all(ch: &lapin::Channel, queue: &str, bodies: &[&[u8]]) {
    for body in bodies {
        publish(ch, "", queue, body).await;
    }
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn ack_single_and_multiple() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let queue = exclusive_queue(&ch, "ack").await;
        publish_all(&ch, &queue, &[b"1", b"2", b"3", b"4"]).await;
        let m1 = get_one(&ch, &queue, false).await;
        let m2 = get_one(&ch, &queue, false).await;
        let m3 = get_one(&ch, &queue, false).await;
        assert!(
            m1.delivery.delivery_tag < m2.delivery.delivery_tag
                && m2.delivery.delivery_tag < m3.delivery.delivery_tag,
            "delivery tags increase"
        );
        ch.basic_ack(m1.delivery.delivery_tag, BasicAckOptions::default())
            .await
            .unwrap();
        // Settles 2 and 3.
        ch.basic_ack(m3.delivery.delivery_tag, BasicAckOptions { multiple: true })
            .await
            .unwrap();
        ch.close(200, "bye".into()).await.unwrap();
        // Nothing was left unacked, so closing the channel requeued nothing.
        let other = conn.create_channel().await.unwrap();
        expect_bodies(&other, &queue, &[b"4"]).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn unacked_messages_return_redelivered_when_channel_closes() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let queue = exclusive_queue(&ch, "unacked").await;
        publish_all(&ch, &queue, &[b"a", b"b"]).await;
        get_one(&ch, &queue, false).await;
        get_one(&ch, &queue, false).await;
        ch.close(200, "bye".into()).await.unwrap();
        let other = conn.create_channel().await.unwrap();
        for body in [b"a", b"b"] {
            let m = get_one(&other, &queue, true).await;
            assert_eq!(
                (m.delivery.data.as_slice(), m.delivery.redelivered),
                (&body[..], true)
            );
        }
        assert!(get(&other, &queue, true).await.is_none());
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn nack_without_requeue_drops() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let queue = exclusive_queue(&ch, "nackdrop").await;
        publish_all(&ch, &queue, &[b"x", b"keep"]).await;
        let m = get_one(&ch, &queue, false).await;
        assert_eq!(m.delivery.data, b"x");
        m.delivery
            .nack(BasicNackOptions {
                requeue: false,
                ..Default::default()
            })
            .await
            .unwrap();
        expect_bodies(&ch, &queue, &[b"keep"]).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn nack_multiple_requeues_up_to_the_tag() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let queue = exclusive_queue(&ch, "nackmulti").await;
        publish_all(&ch, &queue, &[b"1", b"2", b"3"]).await;
        let mut tags = Vec::new();
        for _ in 0..3 {
            tags.push(get_one(&ch, &queue, false).await.delivery.delivery_tag);
        }
        // 1 and 2 go back, 3 is still held.
        ch.basic_nack(
            tags[1],
            BasicNackOptions {
                multiple: true,
                requeue: true,
            },
        )
        .await
        .unwrap();
        for body in [b"1", b"2"] {
            let m = get_one(&ch, &queue, true).await;
            assert_eq!(
                (m.delivery.data.as_slice(), m.delivery.redelivered),
                (&body[..], true)
            );
        }
        assert!(get(&ch, &queue, true).await.is_none(), "3 is still unacked");
        ch.basic_ack(tags[2], BasicAckOptions::default())
            .await
            .unwrap();
        ch.close(200, "bye".into()).await.unwrap();
        let other = conn.create_channel().await.unwrap();
        assert_eq!(ready_count(&other, &queue).await, 0, "3 was acked");
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn reject_with_requeue_redelivers() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let queue = exclusive_queue(&ch, "rejectrq").await;
        publish_all(&ch, &queue, &[b"r"]).await;
        let m = get_one(&ch, &queue, false).await;
        assert!(!m.delivery.redelivered);
        m.delivery
            .reject(BasicRejectOptions { requeue: true })
            .await
            .unwrap();
        let again = get_one(&ch, &queue, false).await;
        assert_eq!(
            (again.delivery.data.as_slice(), again.delivery.redelivered),
            (&b"r"[..], true)
        );
        assert_ne!(again.delivery.delivery_tag, m.delivery.delivery_tag);
        again
            .delivery
            .ack(BasicAckOptions::default())
            .await
            .unwrap();
        assert!(get(&ch, &queue, true).await.is_none());
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn ack_of_unknown_delivery_tag_closes_channel_with_406() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let queue = exclusive_queue(&ch, "badack").await;
        publish_all(&ch, &queue, &[b"once"]).await;
        let m = get_one(&ch, &queue, false).await;
        let tag = m.delivery.delivery_tag;
        ch.basic_ack(tag, BasicAckOptions::default()).await.unwrap();
        // Acked twice: the broker closes the channel, and the next synchronous call fails
        // with the close's code. They go out together, so that the call is already waiting
        // for its reply when the close arrives (lapin reports the code to pending calls only).
        let (second_ack, declare) = zip(
            ch.basic_ack(tag, BasicAckOptions::default()),
            passive_declare_queue(&ch, &queue),
        )
        .await;
        second_ack.unwrap();
        let err = declare.expect_err("the channel should have been closed by the double ack");
        assert_eq!(amqp_error(&err).0, 406, "{err}"); // PRECONDITION_FAILED
        assert!(conn.status().connected());
        close_connection(&conn).await;
    })
    .await;
}

/// A consumer with prefetch 2 acks job-1, then holds job-2 and job-3 unacked when its
/// connection dies without a close (the proxy drops the socket, as when a worker crashes).
/// Both come back first and flagged redelivered, then job-4 (never delivered, not flagged);
/// the acked job-1 does not come back.
#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn redelivery_after_consumer_connection_dies() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        // Neither exclusive (the worker is another connection) nor auto-delete (it would go
        // with the dead consumer): a plain queue, deleted at the end.
        let queue = warren_testkit::unique("dying");
        ch.queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        publish_all(&ch, &queue, &[b"job-1", b"job-2", b"job-3", b"job-4"]).await;

        let proxy = Proxy::start(&broker).await;
        let worker = proxy.connect(&broker).await;
        let wch = worker.create_channel().await.unwrap();
        wch.basic_qos(2, BasicQosOptions::default()).await.unwrap();
        let mut consumer = consume(&wch, &queue).await;
        let d1 = next(&mut consumer).await;
        let d2 = next(&mut consumer).await;
        assert_eq!(
            (d1.data.as_slice(), d2.data.as_slice()),
            (&b"job-1"[..], &b"job-2"[..])
        );
        d1.ack(BasicAckOptions::default()).await.unwrap();
        let d3 = next(&mut consumer).await;
        assert_eq!(d3.data, b"job-3");
        assert_quiet(&mut consumer, Duration::from_millis(200)).await;
        assert_eq!(ready_count(&ch, &queue).await, 1, "job-4 waits");

        proxy.cut();
        // The broker notices the dead socket and requeues job-2 and job-3.
        eventually(
            "the dead consumer's unacked messages to be requeued",
            || async { ready_count(&ch, &queue).await == 3 },
        )
        .await;
        for (body, redelivered) in [(b"job-2", true), (b"job-3", true), (b"job-4", false)] {
            let m = get_one(&ch, &queue, true).await;
            assert_eq!(
                (m.delivery.data.as_slice(), m.delivery.redelivered),
                (&body[..], redelivered)
            );
        }
        assert!(get(&ch, &queue, true).await.is_none(), "job-1 was acked");
        ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .unwrap();
        close_connection(&conn).await;
    })
    .await;
}

/// Two workers with prefetch 1 on one queue: the work is split, not hoarded by the first.
#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn prefetch_is_per_consumer_on_a_shared_queue() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let queue = exclusive_queue(&ch, "workers").await;
        publish_all(&ch, &queue, &[b"0", b"1", b"2", b"3"]).await;
        let mut workers = Vec::new();
        for _ in 0..2 {
            let wch = conn.create_channel().await.unwrap();
            wch.basic_qos(1, BasicQosOptions::default()).await.unwrap();
            let consumer = consume(&wch, &queue).await;
            workers.push((wch, consumer));
        }
        let mut got: Vec<Vec<Vec<u8>>> = vec![Vec::new(), Vec::new()];
        for _round in 0..2 {
            let mut held = Vec::new();
            for (i, (_, consumer)) in workers.iter_mut().enumerate() {
                let d = next(consumer).await;
                got[i].push(d.data.clone());
                held.push(d);
            }
            // Each holds one unacked message: neither gets a second one meanwhile.
            for (_, consumer) in workers.iter_mut() {
                assert_quiet(consumer, Duration::from_millis(200)).await;
            }
            for d in held {
                d.ack(BasicAckOptions::default()).await.unwrap();
            }
        }
        let mut all: Vec<Vec<u8>> = got.concat();
        all.sort();
        assert_eq!(
            all,
            vec![b"0".to_vec(), b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]
        );
        assert_eq!((got[0].len(), got[1].len()), (2, 2));
        close_connection(&conn).await;
    })
    .await;
}
