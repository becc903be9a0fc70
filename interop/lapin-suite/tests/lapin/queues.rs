//! Queues: server-named, exclusive, basic.get and get-empty, counts, declare errors
//! (the lapin counterpart of `interop/tests/test_queues.py`).

use lapin::options::*;
use lapin::types::FieldTable;
use warren_testkit::{
    amqp_error, close_connection, consume_with, declare_exclusive, eventually, exclusive_queue,
    expect_bodies, get, get_one, on_each_broker, passive_declare_queue, probe_queue, publish,
    ready_count, refused_consume, unique, Broker,
};

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn server_named_queues() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let mut names = Vec::new();
        for _ in 0..2 {
            let q = declare_exclusive(&ch, "").await;
            names.push(q.name().to_string());
        }
        assert!(
            names.iter().all(|n| n.starts_with("amq.gen-")),
            "server-generated names: {names:?}"
        );
        assert_ne!(names[0], names[1]);
        publish(&ch, "", &names[1], b"to the server-named queue").await;
        expect_bodies(&ch, &names[0], &[]).await;
        expect_bodies(&ch, &names[1], &[b"to the server-named queue"]).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn exclusive_queue_is_locked_to_its_connection_and_dies_with_it() {
    on_each_broker(|broker: Broker| async move {
        let owner = broker.connect().await;
        let other = broker.connect().await;
        let owner_ch = owner.create_channel().await.unwrap();
        let queue = exclusive_queue(&owner_ch, "exclusive").await;

        let passive = probe_queue(&other, &queue)
            .await
            .expect_err("a passive declare from another connection must fail");
        assert_eq!(amqp_error(&passive).0, 405, "{passive}"); // RESOURCE_LOCKED
        let other_ch = other.create_channel().await.unwrap();
        let consume_err = refused_consume(&other_ch, &queue).await;
        assert_eq!(amqp_error(&consume_err).0, 405, "{consume_err}");
        // The owner is unaffected.
        assert_eq!(ready_count(&owner_ch, &queue).await, 0);

        close_connection(&owner).await;
        // Closing the owner deletes the queue: a passive declare now finds nothing.
        eventually(
            "the exclusive queue to be deleted with its connection",
            || {
                let (other, queue) = (&other, &queue);
                async move {
                    match probe_queue(other, queue).await {
                        Ok(_) => false,
                        Err(e) => amqp_error(&e).0 == 404,
                    }
                }
            },
        )
        .await;
        assert!(other.status().connected());
        close_connection(&other).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn exclusive_consumer_locks_out_other_consumers() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.open_channel().await;
        let queue = exclusive_queue(&ch, "exclconsumer").await;
        let _exclusive = consume_with(
            &ch,
            queue.as_str(),
            "",
            BasicConsumeOptions {
                exclusive: true,
                ..Default::default()
            },
        )
        .await;
        let second = conn.create_channel().await.unwrap();
        let err = refused_consume(&second, &queue).await;
        assert_eq!(amqp_error(&err).0, 403, "{err}"); // ACCESS_REFUSED
        assert!(conn.status().connected() && ch.status().connected());
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn basic_get_on_empty_queue_and_message_count() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let queue = exclusive_queue(&ch, "get").await;
        assert!(get(&ch, &queue, true).await.is_none(), "get-empty expected");
        for body in [b"a", b"b", b"c"] {
            publish(&ch, "", &queue, body).await;
        }
        for (body, left) in [(b"a", 2), (b"b", 1), (b"c", 0)] {
            let m = get_one(&ch, &queue, true).await;
            assert_eq!(
                (m.delivery.data.as_slice(), m.message_count),
                (&body[..], left),
                "body and messages left after it"
            );
            assert!(!m.delivery.redelivered);
        }
        assert!(get(&ch, &queue, true).await.is_none(), "get-empty expected");
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn declare_ok_counts_purge_and_delete() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let queue = exclusive_queue(&ch, "counts").await;
        for i in 0..4u8 {
            publish(&ch, "", &queue, &[b'0' + i]).await;
        }
        get_one(&ch, &queue, false).await; // one unacked, three ready
        eventually("declare-ok to count 3 ready messages", || async {
            ready_count(&ch, &queue).await == 3
        })
        .await;
        let declare_ok = passive_declare_queue(&ch, queue.as_str()).await.unwrap();
        assert_eq!(
            (
                declare_ok.name().as_str(),
                declare_ok.message_count(),
                declare_ok.consumer_count()
            ),
            (queue.as_str(), 3, 0)
        );
        let purged = ch
            .queue_purge(queue.as_str().into(), QueuePurgeOptions::default())
            .await
            .unwrap();
        assert_eq!(
            purged, 3,
            "purge-ok counts ready messages, not the unacked one"
        );
        assert_eq!(ready_count(&ch, &queue).await, 0);
        publish(&ch, "", &queue, b"last").await;
        get_one(&ch, &queue, false).await;
        ch.basic_recover(BasicRecoverOptions { requeue: true })
            .await
            .unwrap(); // the two unacked come back to the queue
        eventually("recover to requeue both unacked messages", || async {
            ready_count(&ch, &queue).await == 2
        })
        .await;
        let deleted = ch
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .unwrap();
        assert_eq!(deleted, 2, "delete-ok message count");
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn passive_declare_of_missing_queue_closes_channel_with_404() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.open_channel().await;
        let missing = unique("missing");
        let err = passive_declare_queue(&ch, missing.as_str())
            .await
            .expect_err("passive declare of a missing queue");
        // Some clients match on reply texts, so the text is part of the contract too.
        assert_eq!(
            amqp_error(&err),
            (
                404,
                format!(
                    "NOT_FOUND - no queue '{missing}' in vhost '{}'",
                    broker.vhost()
                )
            )
        );
        assert!(!ch.status().connected(), "the channel is closed");
        assert!(conn.status().connected(), "the connection survives");
        let again = conn.create_channel().await.unwrap();
        let q = exclusive_queue(&again, "after404").await;
        assert_eq!(ready_count(&again, &q).await, 0);
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn redeclare_with_different_durability_is_406() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.open_channel().await;
        let queue = unique("equiv");
        let durable = QueueDeclareOptions {
            durable: true,
            auto_delete: true,
            ..Default::default()
        };
        ch.queue_declare(queue.as_str().into(), durable, FieldTable::default())
            .await
            .unwrap();
        // The same declaration again is fine.
        ch.queue_declare(queue.as_str().into(), durable, FieldTable::default())
            .await
            .unwrap();
        let err = ch
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect_err("an inequivalent redeclare");
        assert_eq!(
            amqp_error(&err),
            (
                406,
                format!(
                    "PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{queue}' in \
                     vhost '{}': received 'false' but current is 'true'",
                    broker.vhost()
                )
            )
        );
        assert!(conn.status().connected());
        let cleanup = conn.create_channel().await.unwrap();
        cleanup
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .unwrap();
        close_connection(&conn).await;
    })
    .await;
}
