//! Publishing: mandatory, confirms, missing exchanges, transactions (the lapin counterpart of
//! `interop/tests/test_publishing.py`; the returned mandatory message and 200 in-flight
//! confirms are in `core.rs`).

use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Confirmation, ExchangeKind};
use warren_testkit::{
    amqp_error, bind, close_connection, confirm_channel, declare_exchange, delete_exchange,
    exclusive_queue, expect_bodies, get_one, on_each_broker, publish, ready_count, unique, within,
    Broker,
};

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn mandatory_routable_and_plain_unroutable_are_not_returned() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let exchange = declare_exchange(&ch, "mandatory-ok", ExchangeKind::Direct).await;
        let queue = exclusive_queue(&ch, "mandatory-ok").await;
        bind(&ch, &queue, &exchange, "here", FieldTable::default()).await;
        for (key, mandatory, body) in [
            ("here", true, &b"routed"[..]),
            ("nowhere", false, &b"dropped quietly"[..]),
        ] {
            let confirm = ch
                .basic_publish(
                    exchange.as_str().into(),
                    key.into(),
                    BasicPublishOptions {
                        mandatory,
                        ..Default::default()
                    },
                    body,
                    BasicProperties::default(),
                )
                .await
                .unwrap();
            let c = within("a confirm", confirm).await.unwrap();
            assert!(
                matches!(c, Confirmation::Ack(None)),
                "{key} (mandatory={mandatory}): expected a plain ack, got {c:?}"
            );
        }
        expect_bodies(&ch, &queue, &[b"routed"]).await;
        delete_exchange(&ch, &exchange).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn publish_to_missing_exchange_closes_channel_with_404() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let missing = unique("missing-exchange");
        let confirm = ch
            .basic_publish(
                missing.as_str().into(),
                "k".into(),
                BasicPublishOptions::default(),
                b"into the void",
                BasicProperties::default(),
            )
            .await
            .unwrap();
        // The broker closes the channel instead of confirming; lapin fails the confirm with
        // the channel's close reason.
        let err = within("the channel close", confirm)
            .await
            .expect_err("a publish to a missing exchange cannot be confirmed");
        assert_eq!(
            amqp_error(&err),
            (
                404,
                format!(
                    "NOT_FOUND - no exchange '{missing}' in vhost '{}'",
                    broker.vhost()
                )
            )
        );
        assert!(!ch.status().connected());
        assert!(conn.status().connected(), "the connection survives");
        let again = confirm_channel(&conn).await;
        let q = exclusive_queue(&again, "after404").await;
        publish(&again, "", &q, b"fine").await;
        expect_bodies(&again, &q, &[b"fine"]).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn tx_commit_and_rollback() {
    on_each_broker(|broker: Broker| async move {
        let conn = broker.connect().await;
        let observer = conn.create_channel().await.unwrap();
        let queue = exclusive_queue(&observer, "tx").await;
        let ch = conn.create_channel().await.unwrap();
        ch.tx_select().await.unwrap();
        let plain_publish = |body: &'static [u8]| {
            let (ch, queue) = (ch.clone(), queue.clone());
            async move {
                let c = ch
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        body,
                        BasicProperties::default(),
                    )
                    .await
                    .unwrap();
                // Not a confirm channel: nothing to wait for.
                assert!(matches!(c.await.unwrap(), Confirmation::NotRequested));
            }
        };

        plain_publish(b"one").await;
        plain_publish(b"two").await;
        // A round trip on the tx channel: the publishes have reached the broker.
        ready_count(&ch, &queue).await;
        assert_eq!(
            ready_count(&observer, &queue).await,
            0,
            "not visible before commit"
        );
        ch.tx_commit().await.unwrap();
        assert_eq!(ready_count(&observer, &queue).await, 2);

        plain_publish(b"rolled back").await;
        ch.tx_rollback().await.unwrap();
        plain_publish(b"three").await;
        ch.tx_commit().await.unwrap();
        expect_bodies(&observer, &queue, &[b"one", b"two", b"three"]).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn tx_acks_take_effect_on_commit_not_on_rollback() {
    on_each_broker(|broker: Broker| async move {
        let conn = broker.connect().await;
        let publisher = confirm_channel(&conn).await;
        let queue = exclusive_queue(&publisher, "txack").await;
        publish(&publisher, "", &queue, b"work").await;
        let ch = conn.create_channel().await.unwrap();
        ch.tx_select().await.unwrap();
        // Published outside the transaction, acked inside it.
        let m = get_one(&ch, &queue, false).await;
        assert_eq!(m.delivery.data, b"work");
        m.delivery.ack(BasicAckOptions::default()).await.unwrap();
        ch.tx_commit().await.unwrap();
        ch.close(200, "bye".into()).await.unwrap();
        // The ack was committed, so closing the channel requeued nothing.
        assert_eq!(ready_count(&publisher, &queue).await, 0);

        // An ack that is rolled back never happened: the message stays unacked, and closing
        // the channel requeues it.
        publish(&publisher, "", &queue, b"again").await;
        let ch = conn.create_channel().await.unwrap();
        ch.tx_select().await.unwrap();
        let m = get_one(&ch, &queue, false).await;
        assert_eq!(m.delivery.data, b"again");
        m.delivery.ack(BasicAckOptions::default()).await.unwrap();
        ch.tx_rollback().await.unwrap();
        ch.close(200, "bye".into()).await.unwrap();
        let m = get_one(&publisher, &queue, true).await;
        assert_eq!(
            (m.delivery.data.as_slice(), m.delivery.redelivered),
            (&b"again"[..], true)
        );
        close_connection(&conn).await;
    })
    .await;
}
