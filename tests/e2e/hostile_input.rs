//! Broken and hostile input over real TCP: each case gets RabbitMQ's close (code and readable
//! text), and other connections keep working.

use std::time::Duration;
use warren_codec::frame::{self, PROTOCOL_HEADER};
use warren_codec::generated::{BasicPublish, QueueDeclare};
use warren_codec::{BasicProperties, ContentHeader, Method, ShortStr};
use warren_server::Config;
use warren_testkit::{start_broker, start_broker_in, start_broker_with, RawClient};

#[tokio::test]
async fn wrong_protocol_header_gets_our_header_and_a_close() {
    let server = start_broker().await;
    let mut c = RawClient::connect(&server).await;
    c.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.read_to_end().await, PROTOCOL_HEADER.to_vec());

    let mut c = RawClient::connect(&server).await;
    c.send_bytes(b"AMQP\x01\x01\x00\x09").await;
    assert_eq!(c.read_to_end().await, PROTOCOL_HEADER.to_vec());
}

#[tokio::test]
async fn oversized_frame_before_login_is_a_frame_error() {
    let server = start_broker().await;
    let mut c = RawClient::connect(&server).await;
    c.send_bytes(&PROTOCOL_HEADER).await;
    let _start = c.next_method().await.expect("connection.start");
    // A method frame header announcing 1 MiB: refused from the header alone.
    c.send_bytes(&[1, 0, 0, 0, 0x10, 0, 0]).await;
    let text = c.expect_connection_close(501).await;
    assert!(text.starts_with("FRAME_ERROR"), "{text}");
}

#[tokio::test]
async fn handshake_timeout_closes_the_socket() {
    let server = start_broker_with(Config {
        handshake_timeout: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    let mut c = RawClient::connect(&server).await;
    c.send_bytes(&PROTOCOL_HEADER).await;
    let started = std::time::Instant::now();
    let rest = c.read_to_end().await;
    assert!(!rest.is_empty(), "connection.start was sent");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn unknown_method_is_not_implemented() {
    let server = start_broker().await;
    let mut c = RawClient::with_channel_1(&server).await;
    // class 60, method 999
    c.send_bytes(&[1, 0, 1, 0, 0, 0, 4, 0, 60, 0x03, 0xE7, 0xCE])
        .await;
    let text = c.expect_connection_close(540).await;
    assert!(text.starts_with("NOT_IMPLEMENTED"), "{text}");
}

#[tokio::test]
async fn truncated_arguments_are_a_frame_error() {
    let server = start_broker().await;
    let mut c = RawClient::with_channel_1(&server).await;
    // queue.declare with only the ticket and a queue-name length running past the frame.
    c.send_bytes(&[1, 0, 1, 0, 0, 0, 7, 0, 50, 0, 10, 0, 0, 9, 0xCE])
        .await;
    c.expect_connection_close(501).await;
}

#[tokio::test]
async fn unknown_field_type_letter_is_a_syntax_error() {
    let server = start_broker().await;
    let mut c = RawClient::with_channel_1(&server).await;
    let mut args = vec![0u8, 0, 0, 4, 1, b'k', b'Q', 0];
    let mut payload = vec![0, 50, 0, 10, 0, 0, 1, b'q', 0];
    payload.append(&mut args);
    let mut frame_bytes = vec![1, 0, 1];
    frame_bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame_bytes.extend_from_slice(&payload);
    frame_bytes.push(0xCE);
    c.send_bytes(&frame_bytes).await;
    c.expect_connection_close(502).await;
}

#[tokio::test]
async fn bad_frame_end_is_a_frame_error() {
    let server = start_broker().await;
    let mut c = RawClient::open(&server).await;
    c.send_bytes(&[1, 0, 1, 0, 0, 0, 4, 0, 20, 0, 10, 0x00])
        .await;
    c.expect_connection_close(501).await;
}

#[tokio::test]
async fn frames_on_unopened_channels_and_second_open_are_channel_errors() {
    let server = start_broker().await;
    let mut c = RawClient::open(&server).await;
    c.send_method(
        3,
        Method::QueueDeclare(QueueDeclare {
            queue: ShortStr::from_static("q"),
            ..Default::default()
        }),
    )
    .await;
    c.expect_connection_close(504).await;

    let mut c = RawClient::with_channel_1(&server).await;
    c.send_method(1, Method::ChannelOpen(Default::default()))
        .await;
    let text = c.expect_connection_close(504).await;
    assert!(text.contains("second 'channel.open'"), "{text}");
}

#[tokio::test]
async fn content_out_of_order_is_unexpected_frame() {
    let server = start_broker().await;
    let mut c = RawClient::with_channel_1(&server).await;
    // A body frame with no publish before it.
    let mut out = bytes::BytesMut::new();
    frame::encode_body(1, b"stray", 0, &mut out);
    c.send_bytes(&out).await;
    c.expect_connection_close(505).await;
}

fn publish_frames(body_size: u64, body: &[u8]) -> bytes::BytesMut {
    let mut out = bytes::BytesMut::new();
    frame::encode_method(
        1,
        &Method::BasicPublish(BasicPublish {
            routing_key: ShortStr::from_static("nowhere"),
            ..Default::default()
        }),
        &mut out,
    );
    frame::encode_header(
        1,
        &ContentHeader::new(body_size, BasicProperties::default()),
        &mut out,
    );
    frame::encode_body(1, body, 0, &mut out);
    out
}

#[tokio::test]
async fn body_over_the_declared_size_is_a_frame_error() {
    let server = start_broker().await;
    let mut c = RawClient::with_channel_1(&server).await;
    c.send_bytes(&publish_frames(3, b"toolong")).await;
    c.expect_connection_close(501).await;
}

#[tokio::test]
async fn message_over_max_size_is_refused_at_the_header() {
    let server = start_broker_with(Config {
        max_message_size: 1000,
        ..Config::default()
    })
    .await;
    let mut c = RawClient::with_channel_1(&server).await;
    // Only the method and header: the refusal must not wait for the body.
    let out = publish_frames(5000, b"");
    c.send_bytes(&out).await;
    let text = c.expect_channel_close(1, 406).await;
    assert!(text.contains("larger than configured max size"), "{text}");
    // The connection lives on: a new channel works.
    c.open_channel(2).await;
}

#[tokio::test]
async fn wrong_password_gets_access_refused_and_others_are_untouched() {
    let server = start_broker().await;
    let good = warren_testkit::connect(&server).await;
    let bad = lapin::Connection::connect(
        &format!("amqp://guest:wrong@{}/%2f", server.local_addr()),
        lapin::ConnectionProperties::default(),
    )
    .await;
    let err = bad.expect_err("login refused").to_string();
    assert!(
        err.contains("ACCESS_REFUSED") || err.contains("403"),
        "{err}"
    );
    let ch = good
        .create_channel()
        .await
        .expect("other connection still works");
    ch.close(200, "bye".into()).await.unwrap();
}

#[tokio::test]
async fn unknown_vhost_is_not_allowed() {
    let server = start_broker().await;
    let res = lapin::Connection::connect(
        &format!("amqp://guest:guest@{}/nope", server.local_addr()),
        lapin::ConnectionProperties::default(),
    )
    .await;
    let err = res.expect_err("vhost refused").to_string();
    assert!(err.contains("NOT_ALLOWED") || err.contains("530"), "{err}");
}

#[tokio::test]
async fn empty_password_is_refused() {
    let server = start_broker_with(Config {
        default_pass: String::new(),
        ..Config::default()
    })
    .await;
    let res = lapin::Connection::connect(
        &format!("amqp://guest:@{}/%2f", server.local_addr()),
        lapin::ConnectionProperties::default(),
    )
    .await;
    assert!(res.is_err(), "an empty password must never log in");
}

#[tokio::test]
async fn frame_over_negotiated_frame_max_is_refused_from_its_header() {
    let server = start_broker().await;
    let mut c = RawClient::with_channel_1(&server).await;
    // Negotiated frame_max is 131072: announce a body frame one byte over it.
    let size: u32 = 131_072 - 8 + 1;
    let mut hdr = vec![3u8, 0, 1];
    hdr.extend_from_slice(&size.to_be_bytes());
    c.send_bytes(&hdr).await;
    let text = c.expect_connection_close(501).await;
    assert!(text.contains("exceeds frame_max"), "{text}");
}

#[tokio::test]
async fn channel_above_channel_max_is_a_channel_error() {
    let server = start_broker_with(Config {
        channel_max: 4,
        ..Config::default()
    })
    .await;
    let mut c = RawClient::open(&server).await;
    c.open_channel(4).await;
    c.send_method(5, Method::ChannelOpen(Default::default()))
        .await;
    c.expect_connection_close(504).await;
}

#[tokio::test]
async fn immediate_publish_is_not_implemented() {
    let server = start_broker().await;
    let mut c = RawClient::with_channel_1(&server).await;
    c.send_method(
        1,
        Method::BasicPublish(BasicPublish {
            routing_key: ShortStr::from_static("q"),
            immediate: true,
            ..Default::default()
        }),
    )
    .await;
    let text = c.expect_connection_close(540).await;
    assert!(text.contains("immediate=true"), "{text}");
}

#[tokio::test]
async fn heartbeat_on_a_channel_is_unexpected() {
    let server = start_broker().await;
    let mut c = RawClient::open(&server).await;
    c.send_bytes(&[8, 0, 1, 0, 0, 0, 0, 0xCE]).await;
    c.expect_connection_close(505).await;
}

#[tokio::test]
async fn client_close_is_answered_and_the_socket_reaped() {
    let server = start_broker_with(Config {
        closing_timeout: Duration::from_millis(500),
        ..Config::default()
    })
    .await;
    let mut c = RawClient::open(&server).await;
    c.send_method(
        0,
        Method::ConnectionClose(warren_codec::generated::ConnectionClose {
            reply_code: 200,
            reply_text: ShortStr::from_static("bye"),
            ..Default::default()
        }),
    )
    .await;
    let (_, ok) = c.next_method().await.expect("close-ok");
    assert!(matches!(ok, Method::ConnectionCloseOk(_)), "{ok:?}");
    // As RabbitMQ: what the client writes after its close is read and dropped (no
    // channel.open-ok), and a client that never closes its side is dropped after the
    // closing timeout.
    let closed_at = std::time::Instant::now();
    c.send_method(2, Method::ChannelOpen(Default::default()))
        .await;
    assert!(
        c.next_frame().await.is_none(),
        "socket closed by the broker"
    );
    assert!(closed_at.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn a_client_that_never_answers_the_shutdown_close_holds_nothing_of_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_broker_in(&data).await;
    let mut c = RawClient::open(&server).await;
    let started = std::time::Instant::now();
    server.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "shutdown waited for the client"
    );
    // Its socket lingers for the closing timeout, waiting for a close-ok that never comes,
    // yet the store is closed: the data dir opens again.
    let again = start_broker_in(&data).await;
    match c.next_method().await {
        Some((0, Method::ConnectionClose(close))) => assert_eq!(close.reply_code, 320),
        other => panic!("expected connection.close 320, got {other:?}"),
    }
    again.shutdown().await;
}

#[tokio::test]
async fn heartbeats_are_sent_and_a_silent_client_is_dropped() {
    let server = start_broker().await;
    let mut c = RawClient::connect(&server).await;
    c.send_bytes(&PROTOCOL_HEADER).await;
    let _ = c.next_method().await;
    c.send_method(
        0,
        Method::ConnectionStartOk(warren_codec::generated::ConnectionStartOk {
            mechanism: ShortStr::from_static("PLAIN"),
            response: "\0guest\0guest".into(),
            locale: ShortStr::from_static("en_US"),
            ..Default::default()
        }),
    )
    .await;
    let _tune = c.next_method().await;
    c.send_method(
        0,
        Method::ConnectionTuneOk(warren_codec::generated::ConnectionTuneOk {
            channel_max: 16,
            frame_max: 131_072,
            heartbeat: 1,
        }),
    )
    .await;
    c.send_method(
        0,
        Method::ConnectionOpen(warren_codec::generated::ConnectionOpen {
            virtual_host: ShortStr::from_static("/"),
            ..Default::default()
        }),
    )
    .await;
    let _open_ok = c.next_method().await;
    let started = std::time::Instant::now();
    let mut heartbeats = 0;
    // We never send anything: the broker heartbeats us, then gives up after two intervals.
    while let Some(f) = c.next_frame().await {
        if matches!(f, warren_codec::Frame::Heartbeat) {
            heartbeats += 1;
        }
    }
    assert!(heartbeats >= 1, "the broker sent heartbeats");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "dropped after missed heartbeats, not before: {waited:?}"
    );
}
