//! Core scenarios driven by an unmodified lapin client against every broker URL given.
//!
//! Run through `interop/run` (which starts Warren and, when installed, RabbitMQ), or by hand:
//! `WARREN_URL=... RABBITMQ_URL=... cargo test -p warren-lapin-interop -- --include-ignored`.

use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Confirmation, ExchangeKind};
use std::time::Duration;
use warren_testkit::{
    assert_quiet, bind, close_connection, consume, delete_exchange, exclusive_queue, next,
    on_each_broker, publish, publish_mandatory, ready_count, select_confirms, unique, within,
    Broker,
};

/// One "order placed" event, four services on their own connections, each acking on its own;
/// e-mail nacks once with requeue and only e-mail sees the order again.
#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn order_placed_fans_out_to_four_services() {
    on_each_broker(|broker: Broker| async move {
        let publisher = broker.connect().await;
        let ch = publisher.create_channel().await.unwrap();
        let exchange = unique("shop.orders");
        ch.exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();

        let mut services = Vec::new();
        for service in ["payment", "inventory", "email", "shipping"] {
            let conn = broker.connect().await;
            let sch = conn.create_channel().await.unwrap();
            let queue = exclusive_queue(&sch, service).await;
            bind(
                &sch,
                queue.as_str(),
                exchange.as_str(),
                "",
                FieldTable::default(),
            )
            .await;
            sch.basic_qos(1, BasicQosOptions::default()).await.unwrap();
            let consumer = consume(&sch, &queue).await;
            services.push((service, conn, sch, queue, consumer));
        }

        select_confirms(&ch).await;
        let confirm = ch
            .basic_publish(
                exchange.as_str().into(),
                "order.placed".into(),
                BasicPublishOptions::default(),
                br#"{"event":"order placed","order_id":"A-1001"}"#,
                BasicProperties::default()
                    .with_message_id("A-1001".into())
                    .with_delivery_mode(2),
            )
            .await
            .unwrap();
        assert!(within("confirm", confirm).await.unwrap().is_ack());

        for (service, _, sch, queue, consumer) in services.iter_mut() {
            let d = next(consumer).await;
            assert!(
                !d.redelivered,
                "{service}: first delivery flagged redelivered"
            );
            assert_eq!(d.data, br#"{"event":"order placed","order_id":"A-1001"}"#);
            assert_eq!(
                d.properties.message_id().as_ref().map(|m| m.as_str()),
                Some("A-1001")
            );
            if *service == "email" {
                d.nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
                .unwrap();
                let again = next(consumer).await;
                assert!(
                    again.redelivered,
                    "email: the requeued order is not redelivered"
                );
                again.ack(BasicAckOptions::default()).await.unwrap();
            } else {
                d.ack(BasicAckOptions::default()).await.unwrap();
            }
            assert_quiet(consumer, Duration::from_millis(200)).await;
            // Settled everywhere: nothing left in any service's queue.
            assert_eq!(ready_count(sch, queue).await, 0, "{service}");
        }
        for (_, conn, ..) in services {
            close_connection(&conn).await;
        }
        close_connection(&publisher).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn publisher_confirms_ack_every_message() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.open_channel().await;
        let queue = exclusive_queue(&ch, "confirms").await;
        select_confirms(&ch).await;
        // Publish 200 without waiting, then collect the confirms (the broker may batch them
        // with multiple=true; lapin resolves each publish either way).
        let mut pending = Vec::new();
        for i in 0..200u32 {
            let confirm = ch
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &i.to_be_bytes(),
                    BasicProperties::default(),
                )
                .await
                .unwrap();
            pending.push(confirm);
        }
        for confirm in pending {
            let c = within("a confirm", confirm).await.unwrap();
            assert!(matches!(c, Confirmation::Ack(None)), "got {c:?}");
        }
        assert_eq!(ready_count(&ch, &queue).await, 200);
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn nack_requeue_sets_redelivered_and_reject_drops() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.open_channel().await;
        let queue = exclusive_queue(&ch, "nack").await;
        select_confirms(&ch).await;
        publish(&ch, "", &queue, b"retry me").await;
        publish(&ch, "", &queue, b"drop me").await;
        let mut consumer = consume(&ch, &queue).await;

        let first = next(&mut consumer).await;
        assert_eq!(
            (first.data.as_slice(), first.redelivered),
            (&b"retry me"[..], false)
        );
        first
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await
            .unwrap();
        let second = next(&mut consumer).await;
        assert_eq!(second.data, b"drop me");
        assert!(!second.redelivered);
        second
            .reject(BasicRejectOptions { requeue: false })
            .await
            .unwrap();
        let again = next(&mut consumer).await;
        assert_eq!(
            (again.data.as_slice(), again.redelivered),
            (&b"retry me"[..], true)
        );
        again.ack(BasicAckOptions::default()).await.unwrap();
        // The rejected message is gone, not requeued.
        assert_quiet(&mut consumer, Duration::from_millis(300)).await;
        assert_eq!(ready_count(&ch, &queue).await, 0);
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn mandatory_unroutable_message_is_returned_with_its_confirm() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.open_channel().await;
        let exchange = unique("mandatory");
        ch.exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        select_confirms(&ch).await;
        let props = BasicProperties::default().with_message_id("m-lost".into());
        match publish_mandatory(&ch, &exchange, "nowhere", b"lost", props).await {
            Confirmation::Ack(Some(ret)) => {
                assert_eq!(ret.reply_code, 312);
                assert_eq!(ret.reply_text.as_str(), "NO_ROUTE");
                assert_eq!(ret.delivery.exchange.as_str(), exchange);
                assert_eq!(ret.delivery.routing_key.as_str(), "nowhere");
                assert_eq!(ret.delivery.data, b"lost");
                assert_eq!(
                    ret.delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|m| m.as_str()),
                    Some("m-lost")
                );
            }
            other => panic!("expected an ack carrying the returned message, got {other:?}"),
        }
        delete_exchange(&ch, &exchange).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn prefetch_limits_unacked_deliveries() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.open_channel().await;
        let queue = exclusive_queue(&ch, "prefetch").await;
        select_confirms(&ch).await;
        for i in 0..5u8 {
            publish(&ch, "", &queue, &[b'0' + i]).await;
        }
        let consumer_ch = conn.create_channel().await.unwrap();
        consumer_ch
            .basic_qos(2, BasicQosOptions::default())
            .await
            .unwrap();
        let mut consumer = consume(&consumer_ch, &queue).await;
        let d0 = next(&mut consumer).await;
        let d1 = next(&mut consumer).await;
        assert_eq!(
            (d0.data.as_slice(), d1.data.as_slice()),
            (&b"0"[..], &b"1"[..])
        );
        assert_quiet(&mut consumer, Duration::from_millis(500)).await;

        d0.ack(BasicAckOptions::default()).await.unwrap();
        let d2 = next(&mut consumer).await;
        assert_eq!(d2.data, b"2");
        assert_quiet(&mut consumer, Duration::from_millis(500)).await;

        d2.ack(BasicAckOptions { multiple: true }).await.unwrap();
        let d3 = next(&mut consumer).await;
        let d4 = next(&mut consumer).await;
        assert_eq!(
            (d3.data.as_slice(), d4.data.as_slice()),
            (&b"3"[..], &b"4"[..])
        );
        d4.ack(BasicAckOptions { multiple: true }).await.unwrap();
        assert_eq!(ready_count(&ch, &queue).await, 0);
        close_connection(&conn).await;
    })
    .await;
}
