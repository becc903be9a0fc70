//! Dead-lettering: rejected messages go to the dead-letter exchange with `x-death`, a retry
//! pipeline built from it ends in a parking queue, and a cycle without rejections is dropped.

use super::{
    as_count, as_text, bound_queue, consumer_on, dead_lettering_to, exchange, header_text,
    next_body, queue_with, wait_get, x_death,
};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, ExchangeKind};
use warren_testkit::{broker_with_channel, field_table, get, long_str, publish, publish_props};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_messages_are_dead_lettered_with_x_death() {
    let (_server, conn, ch) = broker_with_channel().await;
    exchange(&ch, "dlx", ExchangeKind::Fanout, FieldTable::default()).await;
    bound_queue(&ch, "dead", "dlx", "").await;
    queue_with(
        &ch,
        "work",
        field_table(&[("x-dead-letter-exchange", long_str("dlx"))]),
    )
    .await;
    let props = BasicProperties::default()
        .with_message_id("order-1".into())
        .with_expiration("60000".into());
    publish_props(&ch, "", "work", b"charge card", props).await;

    let (_cch, mut c) = consumer_on(&conn, "work", "w", 10, FieldTable::default()).await;
    let (_, d) = next_body(&mut c).await;
    d.reject(BasicRejectOptions { requeue: false })
        .await
        .unwrap();

    let m = wait_get(&ch, "dead").await;
    assert_eq!(m.delivery.data, b"charge card");
    assert_eq!(m.delivery.exchange.as_str(), "dlx");
    assert_eq!(m.delivery.routing_key.as_str(), "work");
    let p = &m.delivery.properties;
    assert_eq!(p.message_id().as_ref().map(|s| s.as_str()), Some("order-1"));
    assert_eq!(p.expiration(), &None, "per-message expiration is removed");
    assert_eq!(
        header_text(p, "x-first-death-reason").as_deref(),
        Some("rejected")
    );
    assert_eq!(
        header_text(p, "x-first-death-queue").as_deref(),
        Some("work")
    );
    assert_eq!(
        header_text(p, "x-first-death-exchange").as_deref(),
        Some("")
    );
    let deaths = x_death(p);
    assert_eq!(deaths.len(), 1);
    let x = &deaths[0];
    assert_eq!(as_count(&x["count"]), 1);
    assert_eq!(as_text(&x["reason"]), "rejected");
    assert_eq!(as_text(&x["queue"]), "work");
    assert_eq!(as_text(&x["exchange"]), "");
    assert_eq!(as_text(&x["original-expiration"]), "60000");
    assert!(matches!(&x["time"], AMQPValue::Timestamp(_)));
    let AMQPValue::FieldArray(keys) = &x["routing-keys"] else {
        panic!("routing-keys");
    };
    assert_eq!(keys.as_slice(), &[long_str("work")]);
    assert!(
        get(&ch, "work", true).await.is_none(),
        "gone from the work queue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_pipeline_parks_a_message_after_three_attempts() {
    // work --nack--> (dlx "") retry --ttl--> (dlx "") work ... parked after 3 retries.
    let (_server, conn, ch) = broker_with_channel().await;
    queue_with(&ch, "work", dead_lettering_to("retry", &[])).await;
    queue_with(
        &ch,
        "retry",
        dead_lettering_to("work", &[("x-message-ttl", AMQPValue::LongInt(50))]),
    )
    .await;
    queue_with(&ch, "parked", FieldTable::default()).await;
    publish(&ch, "", "work", b"payment 42").await;

    let (wch, mut worker) = consumer_on(&conn, "work", "worker", 1, FieldTable::default()).await;
    let mut attempts = 0;
    loop {
        let (_, d) = next_body(&mut worker).await;
        attempts += 1;
        let tries = d
            .properties
            .headers()
            .as_ref()
            .and_then(|_| {
                x_death(&d.properties)
                    .into_iter()
                    .find(|x| as_text(&x["queue"]) == "work")
            })
            .map_or(0, |x| as_count(&x["count"]));
        if tries >= 3 {
            wch.basic_publish(
                "".into(),
                "parked".into(),
                BasicPublishOptions::default(),
                &d.data,
                d.properties.clone(),
            )
            .await
            .unwrap();
            d.ack(BasicAckOptions::default()).await.unwrap();
            break;
        }
        d.nack(BasicNackOptions {
            requeue: false,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    assert_eq!(attempts, 4, "the first delivery and three retries");
    let m = wait_get(&ch, "parked").await;
    let deaths = x_death(&m.delivery.properties);
    let count = |q: &str, r: &str| {
        deaths
            .iter()
            .find(|x| as_text(&x["queue"]) == q && as_text(&x["reason"]) == r)
            .map(|x| as_count(&x["count"]))
    };
    assert_eq!(count("work", "rejected"), Some(3));
    assert_eq!(count("retry", "expired"), Some(3));
    assert_eq!(
        header_text(&m.delivery.properties, "x-first-death-queue").as_deref(),
        Some("work")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_cycle_without_rejections_is_dropped() {
    let (_server, _conn, ch) = broker_with_channel().await;
    // Expired messages are dead-lettered back into the same queue: a cycle, so dropped.
    queue_with(
        &ch,
        "loop",
        dead_lettering_to("loop", &[("x-message-ttl", AMQPValue::LongInt(30))]),
    )
    .await;
    publish(&ch, "", "loop", b"round and round").await;
    // A check that something does NOT happen (the message coming back round), so a short real
    // wait of ten TTLs, not a poll: an empty queue is also what a loop looks like in flight.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        get(&ch, "loop", true).await.is_none(),
        "dropped, not looping"
    );
}
