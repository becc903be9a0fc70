//! Connection-level behaviour: authentication, heartbeats, many channels, big bodies, consumer
//! cancels (the lapin counterpart of `interop/tests/test_connection.py`).

use futures_lite::StreamExt;
use lapin::options::*;
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use std::collections::HashSet;
use std::time::Duration;
use warren_testkit::{
    amqp_error, close_connection, confirm_channel, consume, consume_no_ack, exclusive_queue,
    expect_bodies, get, get_one, next, on_each_broker, publish, within, within_for, Broker, Proxy,
};

const MIB: usize = 1024 * 1024;

/// Bodies big enough to need many frames take longer than WAIT in a debug build.
const BIG_WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn wrong_password_is_refused() {
    on_each_broker(|broker: Broker| async move {
        let mut uri = broker.uri();
        uri.authority.userinfo.password = "definitely-wrong".to_owned();
        let err = within(
            "the refusal",
            Connection::connect_uri(uri, ConnectionProperties::default()),
        )
        .await
        .expect_err("a wrong password must be refused");
        let (code, text) = amqp_error(&err);
        assert_eq!(code, 403, "{text}");
        assert!(text.starts_with("ACCESS_REFUSED"), "{text}");
    })
    .await;
}

/// lapin asks for a 1 s heartbeat, idles 4 s, then uses the connection. The broker must send
/// heartbeats (lapin gives up on a server silent for 2 s) and must accept lapin's.
#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn heartbeats_keep_an_idle_connection_open() {
    on_each_broker(|broker: Broker| async move {
        let proxy = Proxy::start(&broker).await;
        let mut uri = proxy.uri();
        uri.query.heartbeat = Some(1);
        let conn = broker.connect_uri(uri).await;
        assert_eq!(
            conn.configuration().heartbeat(),
            1,
            "the negotiated heartbeat (connection.tune-ok)"
        );
        let ch = confirm_channel(&conn).await;
        let queue = exclusive_queue(&ch, "heartbeat").await;

        let before = proxy.bytes_from_broker();
        // Real time by design: what is measured is what comes in 4 s of idling (heartbeats).
        tokio::time::sleep(Duration::from_secs(4)).await;
        // Nothing but heartbeat frames (8 bytes each) could have come while we idled.
        let heartbeat_bytes = proxy.bytes_from_broker() - before;
        assert!(
            heartbeat_bytes >= 8 * 2,
            "only {heartbeat_bytes} bytes from the broker in 4 s"
        );
        assert_eq!(heartbeat_bytes % 8, 0, "{heartbeat_bytes} bytes");
        assert!(
            conn.status().connected(),
            "connection lost: {:?}",
            conn.status()
        );

        // And it still works, on the old channel and on a new one.
        publish(&ch, "", &queue, b"after idling").await;
        expect_bodies(&ch, &queue, &[b"after idling"]).await;
        let fresh = confirm_channel(&conn).await;
        publish(&fresh, "", &queue, b"new channel").await;
        expect_bodies(&fresh, &queue, &[b"new channel"]).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn many_channels_on_one_connection() {
    on_each_broker(|broker: Broker| async move {
        const COUNT: usize = 100;
        let conn = broker.connect().await;
        let channel_max = conn.configuration().channel_max();
        assert!(
            usize::from(channel_max) >= COUNT,
            "channel_max {channel_max}"
        );
        let mut channels = Vec::new();
        for _ in 0..COUNT {
            channels.push(confirm_channel(&conn).await);
        }
        let ids: HashSet<u16> = channels.iter().map(|c| c.id()).collect();
        assert_eq!(ids.len(), COUNT, "distinct channel numbers");
        let mut queues = Vec::new();
        for (i, ch) in channels.iter().enumerate() {
            let queue = exclusive_queue(ch, &format!("chan{i}")).await;
            publish(ch, "", &queue, format!("channel {i}").as_bytes()).await;
            queues.push(queue);
        }
        for (i, (ch, queue)) in channels.iter().zip(&queues).enumerate() {
            let m = get_one(ch, queue, true).await;
            assert_eq!(m.delivery.data, format!("channel {i}").as_bytes());
        }
        for ch in channels.iter().step_by(2) {
            ch.close(200, "bye".into()).await.unwrap();
        }
        // Closing half the channels leaves the rest (and the connection) working.
        for (ch, queue) in channels.iter().zip(&queues).skip(1).step_by(2) {
            publish(ch, "", queue, b"still here").await;
            expect_bodies(ch, queue, &[b"still here"]).await;
        }
        assert!(conn.status().connected());
        // Freed channel numbers can be opened again.
        let reopened = confirm_channel(&conn).await;
        publish(&reopened, "", &queues[0], b"reopened").await;
        expect_bodies(&reopened, &queues[0], &[b"reopened"]).await;
        close_connection(&conn).await;
    })
    .await;
}

/// Deterministic pseudo-random bytes (xorshift64*), so a shifted or dropped frame shows.
fn random_body(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(size);
    out
}

fn assert_same_body(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: body length");
    if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: bodies differ from byte {at} on");
    }
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn large_messages_across_many_body_frames() {
    on_each_broker(|broker: Broker| async move {
        let conn = broker.connect().await;
        let frame_max = conn.configuration().frame_max() as usize;
        let ch = confirm_channel(&conn).await;
        let queue = exclusive_queue(&ch, "large").await;
        // A body frame carries at most frame_max - 8 bytes: the third body fits one frame
        // exactly, the fourth needs two.
        let sizes = [6 * MIB, 3 * MIB + 17, frame_max - 8, frame_max - 7, 0];
        let bodies: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(seed, &size)| random_body(size, seed as u64))
            .collect();
        assert!(
            bodies[0].len() / frame_max >= 40,
            "really many body frames (frame_max {frame_max})"
        );
        for (i, body) in bodies.iter().enumerate() {
            let confirm = ch
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    body,
                    BasicProperties::default().with_message_id(i.to_string().into()),
                )
                .await
                .unwrap();
            let c = within_for(BIG_WAIT, "the confirm of a large message", confirm)
                .await
                .unwrap();
            assert!(matches!(c, Confirmation::Ack(None)), "message {i}: {c:?}");
        }

        // The first two by basic.get, the rest by a consumer: both delivery paths.
        for (i, body) in bodies.iter().enumerate().take(2) {
            let m = within_for(
                BIG_WAIT,
                "a large basic.get",
                ch.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true }),
            )
            .await
            .unwrap()
            .expect("get-empty, expected a large message");
            assert_eq!(
                m.delivery
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|s| s.as_str()),
                Some(i.to_string().as_str())
            );
            assert_same_body(&m.delivery.data, body, &format!("message {i} (get)"));
        }
        let mut consumer = consume_no_ack(&ch, queue.as_str(), "").await;
        for (i, body) in bodies.iter().enumerate().skip(2) {
            let d = within_for(BIG_WAIT, "a consumed large message", consumer.next())
                .await
                .expect("consumer stream ended")
                .expect("delivery error");
            assert_eq!(
                d.properties.message_id().as_ref().map(|s| s.as_str()),
                Some(i.to_string().as_str())
            );
            assert_same_body(&d.data, body, &format!("message {i} (consume)"));
        }
        close_connection(&conn).await;
    })
    .await;
}

/// Deleting a queue cancels its consumers with a basic.cancel from the broker (consumer
/// cancel notification): lapin ends the consumer's stream, the channel stays open.
#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn broker_cancels_consumer_when_its_queue_is_deleted() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let queue = exclusive_queue(&ch, "cancelnotify").await;
        let mut consumer = consume(&ch, &queue).await;
        publish(&ch, "", &queue, b"before").await;
        let d = next(&mut consumer).await;
        assert_eq!(d.data, b"before");
        d.ack(BasicAckOptions::default()).await.unwrap();

        let other = conn.create_channel().await.unwrap();
        other
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .unwrap();
        let end = within(
            "the consumer stream to end (basic.cancel from the broker)",
            consumer.next(),
        )
        .await;
        assert!(end.is_none(), "expected the stream to end, got {end:?}");
        assert!(ch.status().connected(), "the channel survives its consumer");
        assert!(conn.status().connected());
        // The channel is still usable.
        let q2 = exclusive_queue(&ch, "aftercancel").await;
        publish(&ch, "", &q2, b"still works").await;
        expect_bodies(&ch, &q2, &[b"still works"]).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn client_cancel_stops_deliveries() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let queue = exclusive_queue(&ch, "clientcancel").await;
        let mut consumer = consume_no_ack(&ch, queue.as_str(), "").await;
        publish(&ch, "", &queue, b"before").await;
        assert_eq!(next(&mut consumer).await.data, b"before");
        ch.basic_cancel(consumer.tag(), BasicCancelOptions::default())
            .await
            .unwrap();
        let end = within(
            "the consumer stream to end after cancel-ok",
            consumer.next(),
        )
        .await;
        assert!(end.is_none(), "expected the stream to end, got {end:?}");
        publish(&ch, "", &queue, b"after").await;
        // It stayed in the queue: no consumer took it.
        let m = get_one(&ch, &queue, true).await;
        assert_eq!(m.delivery.data, b"after");
        assert!(get(&ch, &queue, true).await.is_none());
        close_connection(&conn).await;
    })
    .await;
}
