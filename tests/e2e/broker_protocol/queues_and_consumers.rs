//! Queue and consumer rules: delete if-unused, ack and nack with `multiple`, no-ack consumers,
//! server-generated consumer tags, the accepted `x-queue-mode`s, and deletes of what is not
//! there.

use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use warren_testkit::{
    broker_with_channel, connect, consume, consume_no_ack, declare_queue, next, probe_ready_count,
    publish, reply_code, start_broker, within,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_delete_if_unused_refuses_while_a_consumer_is_attached() {
    // if-empty with messages is covered by broker_core's
    // `purge_and_delete_report_counts_and_preconditions`.
    let (_server, conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "busy").await;
    let mut c = consume(&ch, "busy").await;

    let if_unused = QueueDeleteOptions {
        if_unused: true,
        ..Default::default()
    };
    let admin = conn.create_channel().await.unwrap();
    let err = admin
        .queue_delete("busy".into(), if_unused)
        .await
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(406), "{err}");
    assert!(
        err.to_string().contains("queue 'busy' in vhost '/' in use"),
        "{err}"
    );
    // Refused means untouched: the consumer still gets what is published.
    publish(&ch, "", "busy", b"still here").await;
    let d = next(&mut c).await;
    assert_eq!(d.data, b"still here");
    d.ack(BasicAckOptions::default()).await.unwrap();

    ch.basic_cancel(c.tag(), BasicCancelOptions::default())
        .await
        .unwrap();
    let admin = conn.create_channel().await.unwrap();
    publish(&admin, "", "busy", b"left behind").await;
    let deleted = admin
        .queue_delete("busy".into(), if_unused)
        .await
        .expect("no consumer left: deleted");
    assert_eq!(deleted, 1, "delete-ok counts the messages it dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiple_ack_and_nack_and_no_ack_consumers() {
    let server = start_broker().await;
    let conn = connect(&server).await;

    // ack multiple=true settles every delivery up to the tag, and only those.
    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "acks").await;
    for i in 0..5u8 {
        publish(&ch, "", "acks", &[i]).await;
    }
    let mut c = consume(&ch, "acks").await;
    let mut deliveries = Vec::new();
    for i in 0..5u8 {
        let d = next(&mut c).await;
        assert_eq!(d.data, vec![i]);
        deliveries.push(d);
    }
    deliveries[2]
        .ack(BasicAckOptions { multiple: true })
        .await
        .unwrap();
    // Closing the channel requeues what is still unacked: the two after the tag.
    ch.close(200, "done".into()).await.unwrap();
    assert_eq!(probe_ready_count(&conn, "acks").await, 2);
    let ch = conn.create_channel().await.unwrap();
    let mut c = consume(&ch, "acks").await;
    for i in 3..5u8 {
        let d = next(&mut c).await;
        assert_eq!(d.data, vec![i]);
        assert!(d.redelivered, "delivered once before the requeue");
        d.ack(BasicAckOptions::default()).await.unwrap();
    }

    // nack multiple=true requeue=true gives them all back, in order, marked redelivered.
    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "nacks").await;
    for i in 0..3u8 {
        publish(&ch, "", "nacks", &[i]).await;
    }
    let mut c = consume(&ch, "nacks").await;
    let mut last = None;
    for i in 0..3u8 {
        let d = next(&mut c).await;
        assert_eq!(d.data, vec![i]);
        assert!(!d.redelivered);
        last = Some(d);
    }
    last.unwrap()
        .nack(BasicNackOptions {
            multiple: true,
            requeue: true,
        })
        .await
        .unwrap();
    let mut last = None;
    for i in 0..3u8 {
        let d = next(&mut c).await;
        assert_eq!(d.data, vec![i], "requeued in their original order");
        assert!(d.redelivered);
        last = Some(d);
    }
    last.unwrap()
        .ack(BasicAckOptions { multiple: true })
        .await
        .unwrap();
    ch.close(200, "done".into()).await.unwrap();
    assert_eq!(probe_ready_count(&conn, "nacks").await, 0, "all acked");

    // A no-ack consumer takes messages without settling them: nothing comes back when its
    // channel closes.
    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "fire-and-forget").await;
    for i in 0..3u8 {
        publish(&ch, "", "fire-and-forget", &[i]).await;
    }
    let mut c = consume_no_ack(&ch, "fire-and-forget", "").await;
    for i in 0..3u8 {
        let d = next(&mut c).await;
        assert_eq!(d.data, vec![i]);
        assert!(!d.redelivered);
    }
    ch.close(200, "done".into()).await.unwrap();
    assert_eq!(probe_ready_count(&conn, "fire-and-forget").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_generated_consumer_tags_are_amq_ctag_and_unique() {
    let server = start_broker().await;
    let a = connect(&server).await;
    let b = connect(&server).await;
    let mut tags = std::collections::HashSet::new();
    let mut consumers = Vec::new();
    for conn in [&a, &b] {
        for _ in 0..2 {
            let ch = conn.create_channel().await.unwrap();
            declare_queue(&ch, "tagged").await;
            for _ in 0..3 {
                let c = consume(&ch, "tagged").await;
                let tag = c.tag().to_string();
                assert!(tag.starts_with("amq.ctag-"), "{tag}");
                assert!(tags.insert(tag.clone()), "tag {tag} handed out twice");
                consumers.push(c);
            }
        }
    }
    assert_eq!(tags.len(), 12);
    // The generated tag is the consumer's name on the wire: cancelling by it works.
    let ch = a.create_channel().await.unwrap();
    let c = consume(&ch, "tagged").await;
    ch.basic_cancel(c.tag(), BasicCancelOptions::default())
        .await
        .expect("cancel by the generated tag");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_and_default_queue_modes_are_accepted() {
    let (_server, _conn, ch) = broker_with_channel().await;
    for (queue, mode) in [("lazy-q", "lazy"), ("default-q", "default")] {
        let mut args = FieldTable::default();
        args.insert("x-queue-mode".into(), AMQPValue::LongString(mode.into()));
        ch.queue_declare(queue.into(), QueueDeclareOptions::default(), args.clone())
            .await
            .unwrap_or_else(|e| panic!("x-queue-mode={mode}: {e}"));
        publish(&ch, "", queue, mode.as_bytes()).await;
        // The same declaration again is equivalent: declare-ok, and the queue is untouched.
        let again = ch
            .queue_declare(queue.into(), QueueDeclareOptions::default(), args)
            .await
            .expect("equivalent redeclare");
        assert_eq!(again.message_count(), 1);
        let got = ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .expect("the message");
        assert_eq!(got.delivery.data, mode.as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_what_does_not_exist_is_ok() {
    // RabbitMQ 3.x answers delete-ok (count 0) for a queue or exchange that is not there, so
    // cleanup code deletes without checking first; the channel stays open.
    let (_server, conn, ch) = broker_with_channel().await;
    let count = within(
        "queue.delete of a missing queue",
        ch.queue_delete("never-declared".into(), QueueDeleteOptions::default()),
    )
    .await
    .unwrap();
    assert_eq!(count, 0);
    within(
        "exchange.delete of a missing exchange",
        ch.exchange_delete("never-declared-x".into(), ExchangeDeleteOptions::default()),
    )
    .await
    .unwrap();
    // The same channel still works.
    declare_queue(&ch, "after-deletes").await;
    publish(&ch, "", "after-deletes", b"ok").await;
    assert_eq!(probe_ready_count(&conn, "after-deletes").await, 1);
}
