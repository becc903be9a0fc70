//! The connection handshake: AMQPLAIN login and the capabilities connection.start advertises,
//! and tune-ok values outside the server's limits.

use super::{assert_close, start_ok};
use lapin::Connection;
use warren_codec::frame::PROTOCOL_HEADER;
use warren_codec::generated::{ConnectionOpen, ConnectionTune, ConnectionTuneOk};
use warren_codec::{FieldValue, Method, ShortStr};
use warren_server::Server;
use warren_testkit::{declare_queue, probe_ready_count, publish, start_broker, url, RawClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqplain_login_and_advertised_capabilities() {
    let server = start_broker().await;
    let conn = Connection::connect(
        &format!("{}?auth_mechanism=amqplain", url(&server)),
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect("AMQPLAIN login");
    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "via-amqplain").await;
    publish(&ch, "", "via-amqplain", b"hi").await;
    assert_eq!(probe_ready_count(&conn, "via-amqplain").await, 1);
    // The refusal names the mechanism, so lapin really spoke AMQPLAIN above.
    let refused = Connection::connect(
        &format!(
            "amqp://guest:wrong@{}/%2f?auth_mechanism=amqplain",
            server.local_addr()
        ),
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect_err("wrong password");
    assert!(
        refused
            .to_string()
            .contains("Login was refused using authentication mechanism AMQPLAIN"),
        "{refused}"
    );

    // lapin does not expose the server properties: read connection.start off the wire.
    let mut c = RawClient::connect(&server).await;
    c.send_bytes(&PROTOCOL_HEADER).await;
    let Some((0, Method::ConnectionStart(start))) = c.next_method().await else {
        panic!("expected connection.start");
    };
    assert_eq!(start.mechanisms.as_bytes(), b"AMQPLAIN PLAIN");
    let caps = start
        .server_properties
        .get("capabilities")
        .and_then(FieldValue::as_table)
        .expect("a capabilities table");
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "consumer_priorities",
        "direct_reply_to",
    ] {
        assert_eq!(
            caps.get(cap).and_then(FieldValue::as_bool),
            Some(true),
            "{cap}"
        );
    }
}

/// A raw handshake whose tune-ok says `channel_max` / `frame_max` (`None`: the server's value).
async fn tune_with(
    server: &Server,
    channel_max: Option<u16>,
    frame_max: Option<u32>,
) -> (RawClient, ConnectionTune) {
    let mut c = RawClient::connect(server).await;
    let tune = match start_ok(&mut c, "guest", true).await {
        Some(Method::ConnectionTune(t)) => t,
        other => panic!("expected connection.tune, got {other:?}"),
    };
    c.send_method(
        0,
        Method::ConnectionTuneOk(ConnectionTuneOk {
            channel_max: channel_max.unwrap_or(tune.channel_max),
            frame_max: frame_max.unwrap_or(tune.frame_max),
            heartbeat: 0,
        }),
    )
    .await;
    c.send_method(
        0,
        Method::ConnectionOpen(ConnectionOpen {
            virtual_host: ShortStr::from_static("/"),
            ..Default::default()
        }),
    )
    .await;
    (c, tune)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tune_ok_outside_the_servers_limits_is_not_allowed() {
    let server = start_broker().await;
    // RabbitMQ's rule and texts (rabbit_reader:validate_negotiated_integer_value), with 0
    // ("no limit") over a server that has one also refused. 3.10.8 only logs these and drops
    // the socket after 3 s; Warren sends the 530 RabbitMQ's code means to send.
    let (_, tune) = tune_with(&server, None, None).await;
    let (server_channels, server_frame) = (tune.channel_max, tune.frame_max);
    let cases: [(Option<u16>, Option<u32>, String); 5] = [
        (
            Some(server_channels + 1),
            None,
            format!(
                "negotiated channel_max = {} is higher than the maximum allowed value \
                 ({server_channels})",
                server_channels + 1
            ),
        ),
        (
            None,
            Some(server_frame + 1),
            format!(
                "negotiated frame_max = {} is higher than the maximum allowed value \
                 ({server_frame})",
                server_frame + 1
            ),
        ),
        (
            None,
            Some(4095),
            "negotiated frame_max = 4095 is lower than the minimum allowed value (4096)".into(),
        ),
        (
            None,
            Some(0),
            format!(
                "negotiated frame_max = 0 is higher than the maximum allowed value \
                 ({server_frame})"
            ),
        ),
        (
            Some(0),
            None,
            format!(
                "negotiated channel_max = 0 (no limit) is higher than the maximum allowed \
                 value ({server_channels})"
            ),
        ),
    ];
    for (channel_max, frame_max, text) in cases {
        let (mut c, _) = tune_with(&server, channel_max, frame_max).await;
        let close = c.connection_close().await;
        assert_close(&close, 530, &format!("NOT_ALLOWED - {text}"), (10, 30));
        assert!(
            c.next_frame().await.is_none(),
            "socket closed after the close"
        );
    }
    // The boundaries themselves are fine.
    let (mut c, _) = tune_with(&server, Some(1), Some(4096)).await;
    let (_, ok) = c.next_method().await.expect("connection.open-ok");
    assert!(matches!(ok, Method::ConnectionOpenOk(_)), "{ok:?}");
    c.open_channel(1).await;
}
