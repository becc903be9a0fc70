//! Error replies as RabbitMQ sends them: channel.flow active=false (540), the 503/504 split for
//! misplaced methods, and hostile clients that leave a healthy lapin connection untouched.

use super::{assert_close, start_ok};
use lapin::options::*;
use lapin::{BasicProperties, Confirmation};
use warren_codec::frame::PROTOCOL_HEADER;
use warren_codec::generated::{
    ChannelFlow, ConnectionOpen, ConnectionTune, ExchangeDeclare, QueueDeclareOk,
};
use warren_codec::{Method, ShortStr};
use warren_testkit::{
    broker_with_channel, connect, consume, declare_queue, next, probe_ready_count, publish,
    select_confirms, start_broker, within, RawClient,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_flow_active_is_acknowledged_and_inactive_is_not_implemented() {
    let server = start_broker().await;
    // Through lapin: flow-ok echoes active=true.
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    assert!(ch
        .channel_flow(ChannelFlowOptions { active: true })
        .await
        .expect("channel.flow-ok"));
    declare_queue(&ch, "still-open").await;

    // active=false: RabbitMQ 3.x refuses to pause a client's publishing with a connection
    // error, 540 naming channel.flow.
    let mut c = RawClient::with_channel_1(&server).await;
    c.send_method(1, Method::ChannelFlow(ChannelFlow { active: true }))
        .await;
    let (ch_id, ok) = c.next_method().await.expect("channel.flow-ok");
    assert_eq!(ch_id, 1);
    assert!(
        matches!(ok, Method::ChannelFlowOk(ref f) if f.active),
        "{ok:?}"
    );
    c.send_method(1, Method::ChannelFlow(ChannelFlow { active: false }))
        .await;
    let close = c.connection_close().await;
    assert_close(&close, 540, "NOT_IMPLEMENTED - active=false", (20, 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_invalid_and_channel_error_as_rabbitmq_answers_them() {
    let server = start_broker().await;
    let cases = [
        // A server-to-client method sent by a client: 503, "unimplemented method", naming it.
        (
            1,
            Method::QueueDeclareOk(QueueDeclareOk {
                queue: ShortStr::from_static("q"),
                message_count: 0,
                consumer_count: 0,
            }),
            503,
            "COMMAND_INVALID - unimplemented method",
            (50, 11),
        ),
        // A connection-class method on a channel other than 0: the same.
        (
            1,
            Method::ConnectionOpen(ConnectionOpen {
                virtual_host: ShortStr::from_static("/"),
                ..Default::default()
            }),
            503,
            "COMMAND_INVALID - unimplemented method",
            (10, 40),
        ),
        // An exchange type nobody registered.
        (
            1,
            Method::ExchangeDeclare(ExchangeDeclare {
                exchange: ShortStr::from_static("odd"),
                kind: ShortStr::from_static("nosuchtype"),
                ..Default::default()
            }),
            503,
            "COMMAND_INVALID - unknown exchange type 'nosuchtype'",
            (40, 10),
        ),
        // Not 503: a handshake method (or any other) on channel 0 of an open connection is
        // RabbitMQ's 504 "unexpected method in connection state running".
        (
            0,
            Method::ConnectionTune(ConnectionTune {
                channel_max: 0,
                frame_max: 131_072,
                heartbeat: 0,
            }),
            504,
            "CHANNEL_ERROR - unexpected method in connection state running",
            (10, 30),
        ),
    ];
    for (channel, method, code, text, ids) in cases {
        let mut c = match channel {
            0 => RawClient::open(&server).await,
            _ => RawClient::with_channel_1(&server).await,
        };
        c.send_method(channel, method).await;
        let close = c.connection_close().await;
        assert_close(&close, code, text, ids);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_leave_a_working_connection_alone() {
    let (server, conn, ch) = broker_with_channel().await;
    select_confirms(&ch).await;
    declare_queue(&ch, "live").await;
    declare_queue(&ch, "parked").await;
    for i in 0..5u8 {
        publish(&ch, "", "parked", &[i]).await;
    }
    let mut c = consume(&ch, "live").await;
    publish(&ch, "", "live", b"before").await;
    next(&mut c)
        .await
        .ack(BasicAckOptions::default())
        .await
        .unwrap();

    // Oversized frame: a method frame header announcing 1 MiB, refused from the header.
    let mut raw = RawClient::open(&server).await;
    raw.send_bytes(&[1, 0, 1, 0, 0x10, 0, 0]).await;
    assert_eq!(raw.connection_close().await.reply_code, 501);
    // A frame that does not end in 0xCE.
    let mut raw = RawClient::open(&server).await;
    raw.send_bytes(&[1, 0, 1, 0, 0, 0, 4, 0, 20, 0, 10, 0x00])
        .await;
    assert_eq!(raw.connection_close().await.reply_code, 501);
    // class 60, method 999.
    let mut raw = RawClient::with_channel_1(&server).await;
    raw.send_bytes(&[1, 0, 1, 0, 0, 0, 4, 0, 60, 0x03, 0xE7, 0xCE])
        .await;
    assert_eq!(raw.connection_close().await.reply_code, 540);
    // Not AMQP at all: our protocol header back, then EOF.
    let mut raw = RawClient::connect(&server).await;
    raw.send_bytes(b"GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(raw.read_to_end().await, PROTOCOL_HEADER.to_vec());
    // Wrong password from a client that asked for authentication_failure_close.
    let mut raw = RawClient::connect(&server).await;
    match start_ok(&mut raw, "wrong", true).await {
        Some(Method::ConnectionClose(close)) => assert_close(
            &close,
            403,
            "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For \
             details see the broker logfile.",
            (0, 0),
        ),
        other => panic!("expected connection.close 403, got {other:?}"),
    }

    // The lapin connection never noticed: publishes are confirmed, deliveries flow, and the
    // parked messages are all still there.
    for i in 0..3u8 {
        let confirm = ch
            .basic_publish(
                "".into(),
                "live".into(),
                BasicPublishOptions::default(),
                &[i],
                BasicProperties::default(),
            )
            .await
            .unwrap();
        assert!(matches!(
            within("confirm", confirm).await.unwrap(),
            Confirmation::Ack(None)
        ));
    }
    for i in 0..3u8 {
        let d = next(&mut c).await;
        assert_eq!(d.data, vec![i]);
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    assert_eq!(probe_ready_count(&conn, "parked").await, 5);
    assert!(conn.status().connected());
}
