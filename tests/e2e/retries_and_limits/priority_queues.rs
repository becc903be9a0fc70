//! Priority queues (`x-max-priority`): highest priority first, requeues back in place, and the
//! order kept across a restart.

use super::{consumer_on, next_body, queue_with};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use warren_testkit::{
    broker_with_channel, connect, data_dir, drain, field_table, publish_props, select_confirms,
};

fn with_priority(p: u8) -> BasicProperties {
    BasicProperties::default().with_priority(p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_queue_delivers_highest_priority_first_and_requeues_in_place() {
    let (_server, conn, ch) = broker_with_channel().await;
    queue_with(
        &ch,
        "prioritized",
        field_table(&[("x-max-priority", AMQPValue::ShortShortUInt(10))]),
    )
    .await;
    // (body, priority): 20 counts as the maximum, 10; no priority counts as 0.
    for (body, p) in [
        (1u8, Some(1)),
        (2, Some(5)),
        (3, None),
        (4, Some(10)),
        (5, Some(5)),
        (6, Some(20)),
    ] {
        let props = p.map_or_else(BasicProperties::default, with_priority);
        publish_props(&ch, "", "prioritized", &[body], props).await;
    }
    let (_cc, mut c) = consumer_on(&conn, "prioritized", "p", 100, FieldTable::default()).await;
    let mut order = Vec::new();
    let mut deliveries = Vec::new();
    for _ in 0..6 {
        let (body, d) = next_body(&mut c).await;
        order.push(body[0]);
        deliveries.push(d);
    }
    assert_eq!(order, vec![4, 6, 2, 5, 1, 3]);
    // Requeued messages go back to their place by priority, marked redelivered.
    for d in deliveries {
        d.nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let mut again = Vec::new();
    for _ in 0..6 {
        let (body, d) = next_body(&mut c).await;
        assert!(d.redelivered);
        again.push(body[0]);
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    assert_eq!(again, vec![4, 6, 2, 5, 1, 3]);

    // A queue without x-max-priority ignores the property: publish order.
    queue_with(&ch, "fifo", FieldTable::default()).await;
    publish_props(&ch, "", "fifo", &[1], with_priority(1)).await;
    publish_props(&ch, "", "fifo", &[2], with_priority(9)).await;
    assert_eq!(drain(&ch, "fifo").await, vec![vec![1], vec![2]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_priority_queue_keeps_its_order_across_a_restart() {
    let (_tmp, dir) = data_dir();
    let server = warren_testkit::start_broker_in(&dir).await;
    {
        let conn = connect(&server).await;
        let ch = conn.create_channel().await.unwrap();
        select_confirms(&ch).await;
        ch.queue_declare(
            "durable-prio".into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            field_table(&[("x-max-priority", AMQPValue::ShortShortUInt(5))]),
        )
        .await
        .unwrap();
        for (body, p) in [(1u8, 1u8), (2, 3), (3, 0), (4, 3), (5, 5)] {
            let props = with_priority(p).with_delivery_mode(2);
            publish_props(&ch, "", "durable-prio", &[body], props).await;
        }
        conn.close(200, "restart".into()).await.unwrap();
    }
    server.shutdown().await;
    let server = warren_testkit::start_broker_in(&dir).await;
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    assert_eq!(
        drain(&ch, "durable-prio").await,
        vec![vec![5], vec![2], vec![4], vec![1], vec![3]]
    );
}
