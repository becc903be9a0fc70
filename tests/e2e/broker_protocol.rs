//! Protocol corners first observed on a local RabbitMQ 3.10.8 with a raw-socket client (codes,
//! texts, method ids), then pinned here for Warren: channel.flow, exchange and queue rules, ack
//! and nack with `multiple`, consumer tags, AMQPLAIN and the advertised capabilities, tune-ok
//! limits, the 503/504 split, `x-queue-mode`, and hostile clients next to a healthy one.
//!
//! lapin drives what a real client does; `RawClient` is used wherever the test needs the exact
//! close code, text and method ids (lapin reports a channel close only to a call already
//! waiting, and never shows the server properties).

use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ExchangeKind};
use warren_codec::frame::PROTOCOL_HEADER;
use warren_codec::generated::{
    ChannelFlow, ConnectionClose, ConnectionOpen, ConnectionStartOk, ConnectionTune,
    ConnectionTuneOk, ExchangeDeclare, QueueDeclareOk,
};
use warren_codec::{FieldValue, LongStr, Method, ShortStr};
use warren_server::Server;
use warren_testkit::{
    bind, broker_with_channel, connect, consume_with, declare_queue, next,
    passive_declare_exchange, passive_declare_queue, publish, reply_code, select_confirms,
    start_broker, url, within, RawClient,
};

async fn declare_exchange(ch: &Channel, name: &str, kind: ExchangeKind, auto_delete: bool) {
    ch.exchange_declare(
        name.into(),
        kind,
        ExchangeDeclareOptions {
            auto_delete,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("exchange.declare");
}

async fn message_count(conn: &Connection, name: &str) -> u32 {
    let ch = conn.create_channel().await.unwrap();
    let count = passive_declare_queue(&ch, name)
        .await
        .expect("passive declare")
        .message_count();
    ch.close(200, "done".into()).await.unwrap();
    count
}

/// Whether an exchange exists, asked on a channel of its own: a 404 closes that channel.
async fn exchange_exists(conn: &Connection, name: &str) -> bool {
    let ch = conn.create_channel().await.unwrap();
    let res = passive_declare_exchange(&ch, name).await;
    match res {
        Ok(()) => {
            ch.close(200, "done".into()).await.unwrap();
            true
        }
        Err(e) => {
            assert_eq!(reply_code(&e), Some(404), "{e}");
            false
        }
    }
}

async fn consumer(ch: &Channel, queue: &str, no_ack: bool) -> lapin::Consumer {
    let options = BasicConsumeOptions {
        no_ack,
        ..Default::default()
    };
    consume_with(ch, queue, "", options).await
}

fn assert_close(close: &ConnectionClose, code: u16, text: &str, ids: (u16, u16)) {
    assert_eq!(
        (
            close.reply_code,
            close.reply_text.to_string_lossy().as_ref(),
            (close.class_id, close.method_id)
        ),
        (code, text, ids)
    );
}

/// start-ok with PLAIN and the given client capabilities; returns the server's tune.
async fn start_ok(c: &mut RawClient, password: &str, failure_close: bool) -> Option<Method> {
    c.send_bytes(&PROTOCOL_HEADER).await;
    let (_, start) = c.next_method().await.expect("connection.start");
    assert!(matches!(start, Method::ConnectionStart(_)), "{start:?}");
    let mut caps = warren_codec::FieldTable::new();
    caps.push(
        ShortStr::from_static("authentication_failure_close"),
        FieldValue::Bool(failure_close),
    );
    let mut props = warren_codec::FieldTable::new();
    props.push(
        ShortStr::from_static("capabilities"),
        FieldValue::Table(caps),
    );
    c.send_method(
        0,
        Method::ConnectionStartOk(ConnectionStartOk {
            client_properties: props,
            mechanism: ShortStr::from_static("PLAIN"),
            response: LongStr::from(format!("\0guest\0{password}")),
            locale: ShortStr::from_static("en_US"),
        }),
    )
    .await;
    c.next_method().await.map(|(_, m)| m)
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
async fn exchange_declare_passive_equivalence_and_auto_delete() {
    let (_server, conn, ch) = broker_with_channel().await;

    let err = passive_declare_exchange(&ch, "nowhere").await.unwrap_err();
    assert_eq!(reply_code(&err), Some(404), "{err}");
    assert!(
        err.to_string()
            .contains("no exchange 'nowhere' in vhost '/'"),
        "{err}"
    );

    let ch = conn.create_channel().await.unwrap();
    declare_exchange(&ch, "settled", ExchangeKind::Direct, false).await;
    let err = ch
        .exchange_declare(
            "settled".into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(406), "{err}");
    assert!(
        err.to_string().contains(
            "inequivalent arg 'durable' for exchange 'settled' in vhost '/': received 'true' \
             but current is 'false'"
        ),
        "{err}"
    );
    // RabbitMQ compares only `alternate-exchange` among exchange arguments: another argument
    // that differs is an equivalent redeclare.
    let ch = conn.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert("x-note".into(), AMQPValue::LongString("first".into()));
    ch.exchange_declare(
        "noted".into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        args,
    )
    .await
    .unwrap();
    let mut args = FieldTable::default();
    args.insert("x-note".into(), AMQPValue::LongString("second".into()));
    ch.exchange_declare(
        "noted".into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        args,
    )
    .await
    .expect("an unchecked argument does not make a redeclare inequivalent");

    // Auto-delete: never bound, it stays; it goes when the last binding with it as *source*
    // goes, not before.
    declare_exchange(&ch, "ad.src", ExchangeKind::Direct, true).await;
    assert!(exchange_exists(&conn, "ad.src").await, "never bound: kept");
    declare_queue(&ch, "ad.q").await;
    for key in ["a", "b"] {
        bind(&ch, "ad.q", "ad.src", key, FieldTable::default()).await;
    }
    ch.queue_unbind(
        "ad.q".into(),
        "ad.src".into(),
        "a".into(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    assert!(exchange_exists(&conn, "ad.src").await, "one binding left");
    ch.queue_unbind(
        "ad.q".into(),
        "ad.src".into(),
        "b".into(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    assert!(!exchange_exists(&conn, "ad.src").await, "last binding gone");

    // As the destination of an exchange-to-exchange binding it is not "in use": unbinding
    // that keeps it. As the source, the exchange.unbind of its last binding deletes it.
    declare_exchange(&ch, "ad.dest", ExchangeKind::Fanout, true).await;
    ch.exchange_bind(
        "ad.dest".into(),
        "amq.fanout".into(),
        "".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.exchange_unbind(
        "ad.dest".into(),
        "amq.fanout".into(),
        "".into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    assert!(
        exchange_exists(&conn, "ad.dest").await,
        "was only a destination"
    );
    ch.exchange_bind(
        "amq.fanout".into(),
        "ad.dest".into(),
        "".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.exchange_unbind(
        "amq.fanout".into(),
        "ad.dest".into(),
        "".into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    assert!(
        !exchange_exists(&conn, "ad.dest").await,
        "its last source binding went"
    );

    // Deleting the bound queue removes the last binding too.
    declare_exchange(&ch, "ad.byqueue", ExchangeKind::Direct, true).await;
    declare_queue(&ch, "ad.doomed").await;
    bind(&ch, "ad.doomed", "ad.byqueue", "k", FieldTable::default()).await;
    ch.queue_delete("ad.doomed".into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    assert!(!exchange_exists(&conn, "ad.byqueue").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_unbind_stops_the_flow_between_exchanges() {
    let (_server, conn, ch) = broker_with_channel().await;
    declare_exchange(&ch, "upstream", ExchangeKind::Fanout, false).await;
    declare_exchange(&ch, "downstream", ExchangeKind::Direct, false).await;
    declare_queue(&ch, "sink").await;
    bind(&ch, "sink", "downstream", "k", FieldTable::default()).await;
    ch.exchange_bind(
        "downstream".into(),
        "upstream".into(),
        "".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    publish(&ch, "upstream", "k", b"through").await;
    assert_eq!(message_count(&conn, "sink").await, 1, "routed through e2e");

    ch.exchange_unbind(
        "downstream".into(),
        "upstream".into(),
        "".into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    publish(&ch, "upstream", "k", b"stopped").await;
    assert_eq!(
        message_count(&conn, "sink").await,
        1,
        "the e2e binding is gone"
    );
    // Only that binding went: the destination still routes on its own.
    publish(&ch, "downstream", "k", b"direct").await;
    assert_eq!(message_count(&conn, "sink").await, 2);
    // Unbinding what is not bound is unbind-ok, as in RabbitMQ.
    ch.exchange_unbind(
        "downstream".into(),
        "upstream".into(),
        "".into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("unbinding twice is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_delete_if_unused_refuses_while_a_consumer_is_attached() {
    // if-empty with messages is covered by broker_core's
    // `purge_and_delete_report_counts_and_preconditions`.
    let (_server, conn, ch) = broker_with_channel().await;
    declare_queue(&ch, "busy").await;
    let mut c = consumer(&ch, "busy", false).await;

    let admin = conn.create_channel().await.unwrap();
    let err = admin
        .queue_delete(
            "busy".into(),
            QueueDeleteOptions {
                if_unused: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(406), "{err}");
    assert!(
        err.to_string().contains("queue 'busy' in vhost '/' in use"),
        "{err}"
    );
    // Refused means untouched: the consumer still gets what is published.
    publish(&ch, "", "busy", b"still here").await;
    let d = next(&mut c).await;
    assert_eq!(d.data, b"still here");
    d.ack(BasicAckOptions::default()).await.unwrap();

    ch.basic_cancel(c.tag(), BasicCancelOptions::default())
        .await
        .unwrap();
    let admin = conn.create_channel().await.unwrap();
    publish(&admin, "", "busy", b"left behind").await;
    let deleted = admin
        .queue_delete(
            "busy".into(),
            QueueDeleteOptions {
                if_unused: true,
                ..Default::default()
            },
        )
        .await
        .expect("no consumer left: deleted");
    assert_eq!(deleted, 1, "delete-ok counts the messages it dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiple_ack_and_nack_and_no_ack_consumers() {
    let server = start_broker().await;
    let conn = connect(&server).await;

    // ack multiple=true settles every delivery up to the tag, and only those.
    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "acks").await;
    for i in 0..5u8 {
        publish(&ch, "", "acks", &[i]).await;
    }
    let mut c = consumer(&ch, "acks", false).await;
    let mut deliveries = Vec::new();
    for i in 0..5u8 {
        let d = next(&mut c).await;
        assert_eq!(d.data, vec![i]);
        deliveries.push(d);
    }
    deliveries[2]
        .ack(BasicAckOptions { multiple: true })
        .await
        .unwrap();
    // Closing the channel requeues what is still unacked: the two after the tag.
    ch.close(200, "done".into()).await.unwrap();
    assert_eq!(message_count(&conn, "acks").await, 2);
    let ch = conn.create_channel().await.unwrap();
    let mut c = consumer(&ch, "acks", false).await;
    for i in 3..5u8 {
        let d = next(&mut c).await;
        assert_eq!(d.data, vec![i]);
        assert!(d.redelivered, "delivered once before the requeue");
        d.ack(BasicAckOptions::default()).await.unwrap();
    }

    // nack multiple=true requeue=true gives them all back, in order, marked redelivered.
    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "nacks").await;
    for i in 0..3u8 {
        publish(&ch, "", "nacks", &[i]).await;
    }
    let mut c = consumer(&ch, "nacks", false).await;
    let mut last = None;
    for i in 0..3u8 {
        let d = next(&mut c).await;
        assert_eq!(d.data, vec![i]);
        assert!(!d.redelivered);
        last = Some(d);
    }
    last.unwrap()
        .nack(BasicNackOptions {
            multiple: true,
            requeue: true,
        })
        .await
        .unwrap();
    let mut last = None;
    for i in 0..3u8 {
        let d = next(&mut c).await;
        assert_eq!(d.data, vec![i], "requeued in their original order");
        assert!(d.redelivered);
        last = Some(d);
    }
    last.unwrap()
        .ack(BasicAckOptions { multiple: true })
        .await
        .unwrap();
    ch.close(200, "done".into()).await.unwrap();
    assert_eq!(message_count(&conn, "nacks").await, 0, "all acked");

    // A no-ack consumer takes messages without settling them: nothing comes back when its
    // channel closes.
    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "fire-and-forget").await;
    for i in 0..3u8 {
        publish(&ch, "", "fire-and-forget", &[i]).await;
    }
    let mut c = consumer(&ch, "fire-and-forget", true).await;
    for i in 0..3u8 {
        let d = next(&mut c).await;
        assert_eq!(d.data, vec![i]);
        assert!(!d.redelivered);
    }
    ch.close(200, "done".into()).await.unwrap();
    assert_eq!(message_count(&conn, "fire-and-forget").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_generated_consumer_tags_are_amq_ctag_and_unique() {
    let server = start_broker().await;
    let a = connect(&server).await;
    let b = connect(&server).await;
    let mut tags = std::collections::HashSet::new();
    let mut consumers = Vec::new();
    for conn in [&a, &b] {
        for _ in 0..2 {
            let ch = conn.create_channel().await.unwrap();
            declare_queue(&ch, "tagged").await;
            for _ in 0..3 {
                let c = consumer(&ch, "tagged", false).await;
                let tag = c.tag().to_string();
                assert!(tag.starts_with("amq.ctag-"), "{tag}");
                assert!(tags.insert(tag.clone()), "tag {tag} handed out twice");
                consumers.push(c);
            }
        }
    }
    assert_eq!(tags.len(), 12);
    // The generated tag is the consumer's name on the wire: cancelling by it works.
    let ch = a.create_channel().await.unwrap();
    let c = consumer(&ch, "tagged", false).await;
    ch.basic_cancel(c.tag(), BasicCancelOptions::default())
        .await
        .expect("cancel by the generated tag");
}

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
    assert_eq!(message_count(&conn, "via-amqplain").await, 1);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_invalid_and_channel_error_as_rabbitmq_answers_them() {
    let server = start_broker().await;
    // A server-to-client method sent by a client: 503, "unimplemented method", naming it.
    let mut c = RawClient::with_channel_1(&server).await;
    c.send_method(
        1,
        Method::QueueDeclareOk(QueueDeclareOk {
            queue: ShortStr::from_static("q"),
            message_count: 0,
            consumer_count: 0,
        }),
    )
    .await;
    let close = c.connection_close().await;
    assert_close(
        &close,
        503,
        "COMMAND_INVALID - unimplemented method",
        (50, 11),
    );

    // A connection-class method on a channel other than 0: the same.
    let mut c = RawClient::with_channel_1(&server).await;
    c.send_method(
        1,
        Method::ConnectionOpen(ConnectionOpen {
            virtual_host: ShortStr::from_static("/"),
            ..Default::default()
        }),
    )
    .await;
    let close = c.connection_close().await;
    assert_close(
        &close,
        503,
        "COMMAND_INVALID - unimplemented method",
        (10, 40),
    );

    // An exchange type nobody registered.
    let mut c = RawClient::with_channel_1(&server).await;
    c.send_method(
        1,
        Method::ExchangeDeclare(ExchangeDeclare {
            exchange: ShortStr::from_static("odd"),
            kind: ShortStr::from_static("nosuchtype"),
            ..Default::default()
        }),
    )
    .await;
    let close = c.connection_close().await;
    assert_close(
        &close,
        503,
        "COMMAND_INVALID - unknown exchange type 'nosuchtype'",
        (40, 10),
    );

    // Not 503: a handshake method (or any other) on channel 0 of an open connection is
    // RabbitMQ's 504 "unexpected method in connection state running".
    let mut c = RawClient::open(&server).await;
    c.send_method(
        0,
        Method::ConnectionTune(ConnectionTune {
            channel_max: 0,
            frame_max: 131_072,
            heartbeat: 0,
        }),
    )
    .await;
    let close = c.connection_close().await;
    assert_close(
        &close,
        504,
        "CHANNEL_ERROR - unexpected method in connection state running",
        (10, 30),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_and_default_queue_modes_are_accepted() {
    let (_server, _conn, ch) = broker_with_channel().await;
    for (queue, mode) in [("lazy-q", "lazy"), ("default-q", "default")] {
        let mut args = FieldTable::default();
        args.insert("x-queue-mode".into(), AMQPValue::LongString(mode.into()));
        ch.queue_declare(queue.into(), QueueDeclareOptions::default(), args.clone())
            .await
            .unwrap_or_else(|e| panic!("x-queue-mode={mode}: {e}"));
        publish(&ch, "", queue, mode.as_bytes()).await;
        // The same declaration again is equivalent: declare-ok, and the queue is untouched.
        let again = ch
            .queue_declare(queue.into(), QueueDeclareOptions::default(), args)
            .await
            .expect("equivalent redeclare");
        assert_eq!(again.message_count(), 1);
        let got = ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .expect("the message");
        assert_eq!(got.delivery.data, mode.as_bytes());
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
    let mut c = consumer(&ch, "live", false).await;
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
    assert_eq!(message_count(&conn, "parked").await, 5);
    assert!(conn.status().connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_what_does_not_exist_is_ok() {
    // RabbitMQ 3.x answers delete-ok (count 0) for a queue or exchange that is not there, so
    // cleanup code deletes without checking first; the channel stays open.
    let (_server, conn, ch) = broker_with_channel().await;
    let count = within(
        "queue.delete of a missing queue",
        ch.queue_delete("never-declared".into(), QueueDeleteOptions::default()),
    )
    .await
    .unwrap();
    assert_eq!(count, 0);
    within(
        "exchange.delete of a missing exchange",
        ch.exchange_delete("never-declared-x".into(), ExchangeDeleteOptions::default()),
    )
    .await
    .unwrap();
    // The same channel still works.
    declare_queue(&ch, "after-deletes").await;
    publish(&ch, "", "after-deletes", b"ok").await;
    assert_eq!(message_count(&conn, "after-deletes").await, 1);
}
