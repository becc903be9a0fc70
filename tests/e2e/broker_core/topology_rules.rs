//! The rules of queues and exchanges as a client meets them: soft errors that close only the
//! channel, exclusive queues, purge and delete with their preconditions, and reserved, internal
//! and exchange-to-exchange bound exchanges.

use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, ExchangeKind};
use warren_testkit::{
    bind, bind_exchange, broker_with_channel, close_connection, connect, consume_tagged,
    declare_exclusive, declare_queue, eventually_some, passive_declare_queue, probe_queue, publish,
    ready_count, refused_consume, reply_code, start_broker, within, RawClient,
};

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
    let err = refused_consume(&xch, &name).await;
    assert_eq!(reply_code(&err), Some(405), "{err}");
    close_connection(&owner).await;
    // The broker cleans up after it answers close-ok: poll (a failed passive declare closes
    // its channel, so each look takes a new one).
    let err = eventually_some("the exclusive queue deleted", || async {
        probe_queue(&other, &name).await.err()
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
    bind_exchange(&ch, "hidden", "front", "").await;
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
