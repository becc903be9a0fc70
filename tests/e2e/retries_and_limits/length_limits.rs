//! Length limits: `x-max-length` and `x-max-length-bytes` drop from the head (dead-lettering
//! what they drop), and the `reject-publish` overflow modes nack the publisher instead.

use super::{as_text, dead_lettering_to, queue_with, wait_get, x_death};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation};
use warren_testkit::{
    broker_with_channel, drain, field_table, long_str, publish, publish_props, select_confirms,
};

/// Publishes on a confirm channel and says whether the broker acked (true) or nacked it.
async fn publish_confirmed(ch: &Channel, queue: &str, body: &[u8]) -> bool {
    match publish_props(ch, "", queue, body, BasicProperties::default()).await {
        Confirmation::Ack(_) => true,
        Confirmation::Nack(_) => false,
        other => panic!("not a confirm channel? {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_length_drops_from_the_head_into_the_dead_letter_queue() {
    let (_server, _conn, ch) = broker_with_channel().await;
    queue_with(&ch, "overflowed", FieldTable::default()).await;
    queue_with(
        &ch,
        "bounded",
        dead_lettering_to("overflowed", &[("x-max-length", AMQPValue::LongInt(2))]),
    )
    .await;
    for i in 1..=5u8 {
        publish(&ch, "", "bounded", &[i]).await;
    }
    assert_eq!(drain(&ch, "bounded").await, vec![vec![4], vec![5]]);
    let mut dropped = Vec::new();
    for _ in 0..3 {
        let m = wait_get(&ch, "overflowed").await;
        let x = &x_death(&m.delivery.properties)[0];
        assert_eq!(as_text(&x["reason"]), "maxlen");
        assert_eq!(as_text(&x["queue"]), "bounded");
        dropped.push(m.delivery.data);
    }
    assert_eq!(dropped, vec![vec![1], vec![2], vec![3]]);

    // Bytes: 4-byte bodies under a 10-byte limit keep the last two.
    queue_with(
        &ch,
        "byte-bounded",
        field_table(&[("x-max-length-bytes", AMQPValue::LongInt(10))]),
    )
    .await;
    for i in 1..=4u8 {
        publish(&ch, "", "byte-bounded", &[i; 4]).await;
    }
    assert_eq!(
        drain(&ch, "byte-bounded").await,
        vec![vec![3; 4], vec![4; 4]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_publish_nacks_the_publisher_and_reject_publish_dlx_dead_letters_too() {
    let (_server, _conn, ch) = broker_with_channel().await;
    select_confirms(&ch).await;
    queue_with(
        &ch,
        "full",
        field_table(&[
            ("x-max-length", AMQPValue::LongInt(2)),
            ("x-overflow", long_str("reject-publish")),
        ]),
    )
    .await;
    let acks: Vec<bool> = {
        let mut v = Vec::new();
        for i in 1..=4u8 {
            v.push(publish_confirmed(&ch, "full", &[i]).await);
        }
        v
    };
    assert_eq!(acks, vec![true, true, false, false]);
    assert_eq!(drain(&ch, "full").await, vec![vec![1], vec![2]]);
    // Room again: accepted again.
    assert!(publish_confirmed(&ch, "full", &[5]).await);

    queue_with(&ch, "refused", FieldTable::default()).await;
    queue_with(
        &ch,
        "full-dlx",
        dead_lettering_to(
            "refused",
            &[
                ("x-max-length", AMQPValue::LongInt(1)),
                ("x-overflow", long_str("reject-publish-dlx")),
            ],
        ),
    )
    .await;
    assert!(publish_confirmed(&ch, "full-dlx", b"kept").await);
    assert!(!publish_confirmed(&ch, "full-dlx", b"refused").await);
    let m = wait_get(&ch, "refused").await;
    assert_eq!(m.delivery.data, b"refused");
    assert_eq!(
        as_text(&x_death(&m.delivery.properties)[0]["reason"]),
        "maxlen"
    );
    assert_eq!(drain(&ch, "full-dlx").await, vec![b"kept".to_vec()]);
}
