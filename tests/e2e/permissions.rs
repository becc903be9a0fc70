//! Permissions and limits that change while clients are connected: a revoked permission or
//! topic permission applies to the next operation of an open channel (its cache is dropped when
//! the registry changes), and the per-user channel limit and per-vhost queue limit count what
//! exists now. The raw client shows the frames (a 530's class and method ids); lapin the rest.

use bytes::BytesMut;
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use warren_codec::frame;
use warren_codec::generated::{BasicPublish, QueueBind, QueueDeclare};
use warren_codec::{BasicProperties, ContentHeader, Method, ShortStr};
use warren_server::access::permissions::{Permissions, TopicPermission};
use warren_server::access::{Access, UserLimits, VhostLimits};
use warren_server::config::PermissionPatterns;
use warren_testkit::{amqp_error, open_channel, start_broker, RawClient};

fn set_permissions(access: &Access, configure: &str, write: &str, read: &str) {
    let patterns = PermissionPatterns {
        configure: configure.into(),
        write: write.into(),
        read: read.into(),
    };
    access.set_permissions("guest", "/", Permissions::new(patterns).unwrap());
}

fn set_channel_limit(access: &Access, max_channels: Option<u64>) {
    let mut guest = (*access.user("guest").unwrap()).clone();
    guest.limits = UserLimits {
        max_channels,
        ..guest.limits
    };
    access.put_user(guest);
}

/// Declares `queue` and waits for declare-ok: everything sent before has been handled.
async fn declare(c: &mut RawClient, channel: u16, queue: &'static str) -> u32 {
    let declare = QueueDeclare {
        queue: ShortStr::from_static(queue),
        ..Default::default()
    };
    c.send_method(channel, Method::QueueDeclare(declare)).await;
    match c.next_method().await {
        Some((_, Method::QueueDeclareOk(ok))) => ok.message_count,
        other => panic!("expected queue.declare-ok, got {other:?}"),
    }
}

/// The channel.close a refused publish gets: 403, naming basic.publish (60, 40). Its text.
async fn publish_refused(c: &mut RawClient, channel: u16) -> String {
    match c.next_method().await {
        Some((ch, Method::ChannelClose(close))) if ch == channel => {
            assert_eq!(close.reply_code, 403, "{}", close.reply_text);
            assert_eq!((close.class_id, close.method_id), (60, 40));
            c.send_method(channel, Method::ChannelCloseOk(Default::default()))
                .await;
            close.reply_text.to_string()
        }
        other => panic!("expected channel.close, got {other:?}"),
    }
}

async fn publish(c: &mut RawClient, channel: u16, exchange: &'static str, key: &'static str) {
    let publish = Method::BasicPublish(BasicPublish {
        exchange: ShortStr::from_static(exchange),
        routing_key: ShortStr::from_static(key),
        ..Default::default()
    });
    let header = ContentHeader::new(1, BasicProperties::default());
    let mut out = BytesMut::new();
    frame::encode_content(channel, &publish, &header, b"m", 0, &mut out);
    c.send_bytes(&out).await;
}

#[tokio::test]
async fn a_revoked_write_permission_applies_to_the_next_publish_of_an_open_channel() {
    let server = start_broker().await;
    let mut c = RawClient::with_channel_1(&server).await;
    declare(&mut c, 1, "perm.q").await;
    publish(&mut c, 1, "", "perm.q").await;
    assert_eq!(
        declare(&mut c, 1, "perm.q").await,
        1,
        "allowed, and now cached"
    );

    set_permissions(server.access(), ".*", "^nothing$", ".*");
    publish(&mut c, 1, "", "perm.q").await;
    let text = publish_refused(&mut c, 1).await;
    assert_eq!(
        text,
        "ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' refused for user 'guest'"
    );

    set_permissions(server.access(), ".*", ".*", ".*");
    c.open_channel(2).await;
    publish(&mut c, 2, "", "perm.q").await;
    assert_eq!(declare(&mut c, 2, "perm.q").await, 2, "granted again");
}

#[tokio::test]
async fn a_changed_topic_permission_applies_to_the_next_publish_of_an_open_channel() {
    let server = start_broker().await;
    let access = server.access();
    let topic = |write: &str| TopicPermission {
        exchange: "amq.topic".into(),
        write: write.into(),
        read: ".*".into(),
    };
    access.set_topic_permission("guest", "/", topic("^a\\."));
    let mut c = RawClient::with_channel_1(&server).await;
    declare(&mut c, 1, "topic.q").await;
    let bind = QueueBind {
        queue: ShortStr::from_static("topic.q"),
        exchange: ShortStr::from_static("amq.topic"),
        routing_key: ShortStr::from_static("#"),
        ..Default::default()
    };
    c.send_method(1, Method::QueueBind(bind)).await;
    assert!(matches!(
        c.next_method().await,
        Some((1, Method::QueueBindOk(_)))
    ));
    publish(&mut c, 1, "amq.topic", "a.x").await;
    assert_eq!(declare(&mut c, 1, "topic.q").await, 1);

    access.set_topic_permission("guest", "/", topic("^b\\."));
    publish(&mut c, 1, "amq.topic", "a.x").await;
    let text = publish_refused(&mut c, 1).await;
    assert_eq!(
        text,
        "ACCESS_REFUSED - access to topic 'a.x' in exchange 'amq.topic' in vhost '/' refused for \
         user 'guest'"
    );
}

/// Sends channel.open and expects the connection to close with the user-limit 530.
async fn expect_channel_limit(c: &mut RawClient, channel: u16, limit: u64) {
    c.send_method(channel, Method::ChannelOpen(Default::default()))
        .await;
    let close = c.connection_close().await;
    assert_eq!(close.reply_code, 530);
    assert_eq!(
        close.reply_text.to_string(),
        format!(
            "NOT_ALLOWED - number of channels opened for user 'guest' has reached the maximum \
             allowed user limit of ({limit})"
        )
    );
    assert_eq!(
        (close.class_id, close.method_id),
        (0, 0),
        "RabbitMQ names no method"
    );
}

#[tokio::test]
async fn the_channel_limit_counts_every_connection_and_frees_closed_channels() {
    let server = start_broker().await;
    set_channel_limit(server.access(), Some(2));
    let mut first = RawClient::with_channel_1(&server).await;
    let mut second = RawClient::with_channel_1(&server).await;
    expect_channel_limit(&mut second, 2, 2).await;
    // The refused connection's channel is freed once it is gone.
    second.read_to_end().await;
    first.open_channel(2).await;
    first
        .send_method(1, Method::ChannelClose(Default::default()))
        .await;
    assert!(matches!(
        first.next_method().await,
        Some((1, Method::ChannelCloseOk(_)))
    ));
    first.open_channel(3).await;
    expect_channel_limit(&mut first, 4, 2).await;
}

#[tokio::test]
async fn a_channel_limit_set_while_connected_applies_to_the_next_channel_open() {
    let server = start_broker().await;
    let mut c = RawClient::with_channel_1(&server).await;
    set_channel_limit(server.access(), Some(0));
    expect_channel_limit(&mut c, 2, 0).await;
    set_channel_limit(server.access(), None);
    let mut c = RawClient::with_channel_1(&server).await;
    c.open_channel(2).await;
}

#[tokio::test]
async fn the_queue_limit_refuses_new_queues_until_one_is_deleted() {
    let server = start_broker().await;
    server.access().set_vhost_limits(
        "/",
        VhostLimits {
            max_queues: Some(2),
            ..Default::default()
        },
    );
    let (conn, ch) = open_channel(&server).await;
    let declare = |name: &'static str| {
        let ch = ch.clone();
        async move {
            ch.queue_declare(
                name.into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
        }
    };
    declare("limit.1").await.unwrap();
    declare("limit.2").await.unwrap();
    let err = declare("limit.3").await.unwrap_err();
    assert_eq!(
        amqp_error(&err),
        (
            406,
            "PRECONDITION_FAILED - cannot declare queue 'limit.3': queue limit in vhost '/' (2) \
             is reached"
                .to_string()
        )
    );
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        "limit.1".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("an existing queue may be declared again");
    ch.queue_delete("limit.1".into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    ch.queue_declare(
        "limit.3".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("room again after a delete");
}
