//! Golden bytes: streams captured between real clients (pika, amqplib, lapin) and RabbitMQ
//! 3.10.8, decoded to the last byte and checked value by value, and re-encoded byte for byte.
//! fixtures/README.md says where each capture comes from.

mod support;

use bytes::{Bytes, BytesMut};
use support::{capture, decode_stream, drain, encode, fixture, Decoded, Dir, Stream};
use warren_codec::frame::{
    decode_protocol_header, encode_body, encode_content, FrameDecoder, PROTOCOL_HEADER,
};
use warren_codec::generated::*;
use warren_codec::{
    BasicProperties, DecodeError, FieldArray, FieldTable, FieldValue, Frame, LongStr, Method,
    ProtocolHeader, ShortStr,
};

const CAPTURES: [&str; 8] = [
    "pika-basic-flow",
    "pika-errors",
    "pika-large-message",
    "pika-mandatory-return",
    "pika-tx-get-nack-recover",
    "amqplib-field-types",
    "raw-auth-failure",
    "lapin-basic-flow",
];

fn s(text: &'static str) -> ShortStr {
    ShortStr::from_static(text)
}

fn some(text: &'static str) -> Option<ShortStr> {
    Some(s(text))
}

fn table(entries: Vec<(&'static str, FieldValue)>) -> FieldTable {
    entries.into_iter().map(|(k, v)| (s(k), v)).collect()
}

fn long(text: &str) -> FieldValue {
    FieldValue::LongStr(LongStr::from(text))
}

/// The content header frame (and its wire bytes) that follows the first method matching `pick`.
fn header_after(stream: &Stream, pick: impl Fn(&Method) -> bool) -> &Decoded {
    let at = stream
        .frames
        .iter()
        .position(|d| matches!(&d.frame, Frame::Method { method, .. } if pick(method)))
        .expect("method present");
    let next = &stream.frames[at + 1];
    assert!(matches!(next.frame, Frame::Header { .. }), "header follows");
    next
}

fn properties(d: &Decoded) -> &BasicProperties {
    match &d.frame {
        Frame::Header { header, .. } => &header.properties,
        other => panic!("expected a header, got {other:?}"),
    }
}

#[test]
fn every_capture_decodes_completely_and_re_encodes_byte_for_byte() {
    for name in CAPTURES {
        let (c2s, s2c) = capture(name);
        assert_eq!(c2s.header, Some(ProtocolHeader::Amqp091), "{name}");
        for (dir, stream, file) in [
            ("client", &c2s, "client-to-server"),
            ("server", &s2c, "server-to-client"),
        ] {
            assert!(!stream.frames.is_empty(), "{name} {dir}: no frames");
            let mut all = BytesMut::new();
            for (i, d) in stream.frames.iter().enumerate() {
                let ours = encode(&d.frame);
                assert_eq!(&ours[..], &d.wire[..], "{name} {dir} frame {i} re-encodes");
                all.extend_from_slice(&ours);
            }
            let original = fixture(&format!("{name}/conn1.{file}.bin"));
            let skip = if dir == "client" { 8 } else { 0 };
            assert_eq!(&all[..], &original[skip..], "{name} {dir}: whole stream");
        }
    }
}

#[test]
fn small_captures_decode_the_same_at_every_split_point() {
    // Every capture but the 300 KB one: a split point is O(stream), so this is quadratic.
    for name in CAPTURES.iter().filter(|n| **n != "pika-large-message") {
        for file in ["client-to-server", "server-to-client"] {
            let bytes = fixture(&format!("{name}/conn1.{file}.bin"));
            let bytes = if file == "client-to-server" {
                &bytes[8..]
            } else {
                &bytes[..]
            };
            // 131072 throughout: every frame in these captures fits.
            let dec = FrameDecoder::new(131_072);
            let mut whole = Vec::new();
            drain(&dec, &mut BytesMut::from(bytes), &mut whole);
            for split in 0..=bytes.len() {
                let mut buf = BytesMut::from(&bytes[..split]);
                let mut got = Vec::new();
                drain(&dec, &mut buf, &mut got);
                buf.extend_from_slice(&bytes[split..]);
                drain(&dec, &mut buf, &mut got);
                assert!(buf.is_empty());
                assert_eq!(got, whole, "{name} {file}: split at {split}");
            }
        }
    }
}

#[test]
fn the_large_message_decodes_the_same_fed_one_byte_at_a_time() {
    let bytes = fixture("pika-large-message/conn1.server-to-client.bin");
    let whole = decode_stream(&bytes, Dir::ServerToClient);
    let mut dec = FrameDecoder::default();
    let (mut buf, mut got) = (BytesMut::new(), Vec::new());
    for b in &bytes {
        buf.extend_from_slice(std::slice::from_ref(b));
        while let Some(f) = dec.decode(&mut buf).unwrap() {
            if let Frame::Method {
                method: Method::ConnectionTune(t),
                ..
            } = &f
            {
                dec.set_frame_max(t.frame_max);
            }
            got.push(f);
        }
    }
    assert!(buf.is_empty());
    let expected: Vec<_> = whole.frames.into_iter().map(|d| d.frame).collect();
    assert_eq!(got, expected);
}

#[test]
fn pika_basic_flow_client_side() {
    let (c2s, _) = capture("pika-basic-flow");
    assert_eq!(
        c2s.method_names(),
        [
            "0:connection.start-ok",
            "0:connection.tune-ok",
            "0:connection.open",
            "1:channel.open",
            "1:exchange.declare",
            "1:queue.declare",
            "1:queue.bind",
            "1:basic.qos",
            "1:confirm.select",
            "1:basic.publish",
            "1:basic.consume",
            "1:basic.ack",
            "1:basic.cancel",
            "1:queue.delete",
            "1:exchange.delete",
            "1:channel.close",
            "0:connection.close",
        ]
    );
    let start_ok = c2s.find("start-ok", |m| match m {
        Method::ConnectionStartOk(m) => Some(m.clone()),
        _ => None,
    });
    assert_eq!(start_ok.mechanism, "PLAIN");
    assert_eq!(start_ok.response, "\0guest\0guest");
    assert_eq!(start_ok.locale, "en_US");
    let cp = &start_ok.client_properties;
    assert_eq!(
        cp.get("product").unwrap().as_str(),
        Some("Pika Python Client Library")
    );
    assert_eq!(cp.get("version").unwrap().as_str(), Some("1.4.4"));
    let caps = cp.get("capabilities").unwrap().as_table().unwrap();
    for cap in [
        "authentication_failure_close",
        "basic.nack",
        "connection.blocked",
        "consumer_cancel_notify",
        "exchange_exchange_bindings",
        "publisher_confirms",
    ] {
        assert_eq!(
            caps.get(cap).and_then(FieldValue::as_bool),
            Some(true),
            "{cap}"
        );
    }
    assert_eq!(
        c2s.find("tune-ok", |m| match m {
            Method::ConnectionTuneOk(t) => Some(t.clone()),
            _ => None,
        }),
        ConnectionTuneOk {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 60
        }
    );
    assert_eq!(
        c2s.find("open", |m| match m {
            Method::ConnectionOpen(o) => Some(o.clone()),
            _ => None,
        }),
        ConnectionOpen {
            virtual_host: s("/"),
            capabilities: s(""),
            insist: true
        }
    );
    assert_eq!(
        c2s.find("exchange.declare", |m| match m {
            Method::ExchangeDeclare(x) => Some(x.clone()),
            _ => None,
        }),
        ExchangeDeclare {
            exchange: s("cap.orders"),
            kind: s("topic"),
            durable: true,
            ..Default::default()
        }
    );
    let bind = c2s.find("queue.bind", |m| match m {
        Method::QueueBind(b) => Some(b.clone()),
        _ => None,
    });
    assert_eq!(bind.queue, "amq.gen-yuAIqmNqwkYzVqxDvaq0dg");
    assert_eq!(bind.exchange, "cap.orders");
    assert_eq!(bind.routing_key, "order.*");
    assert_eq!(
        c2s.find("qos", |m| match m {
            Method::BasicQos(q) => Some(q.clone()),
            _ => None,
        }),
        BasicQos {
            prefetch_size: 0,
            prefetch_count: 10,
            global: false
        }
    );
    assert_eq!(
        c2s.find("publish", |m| match m {
            Method::BasicPublish(p) => Some(p.clone()),
            _ => None,
        }),
        BasicPublish {
            ticket: 0,
            exchange: s("cap.orders"),
            routing_key: s("order.placed"),
            mandatory: true,
            immediate: false
        }
    );

    let header = header_after(&c2s, |m| matches!(m, Method::BasicPublish(_)));
    match &header.frame {
        Frame::Header { channel, header } => {
            assert_eq!(*channel, 1);
            assert_eq!(header.class_id, 60);
            assert_eq!(header.body_size, 12);
        }
        _ => unreachable!(),
    }
    let expected = BasicProperties {
        content_type: some("application/json"),
        content_encoding: some("utf-8"),
        headers: Some(table(vec![
            ("str", long("v")),
            ("int", FieldValue::I32(42)),
            ("big", FieldValue::I64(1 << 40)),
            ("neg", FieldValue::I32(-7)),
            ("bool", FieldValue::Bool(true)),
            (
                "dec",
                FieldValue::Decimal {
                    scale: 2,
                    value: 314,
                },
            ),
            ("time", FieldValue::Timestamp(1_795_608_000)),
            (
                "nested",
                FieldValue::Table(table(vec![
                    ("a", FieldValue::I32(1)),
                    (
                        "b",
                        FieldValue::Array(FieldArray(vec![
                            FieldValue::I32(1),
                            long("two"),
                            FieldValue::Bool(false),
                        ])),
                    ),
                ])),
            ),
            ("bytes", FieldValue::Bytes(Bytes::from_static(b"\x00\x01"))),
            ("none", FieldValue::Void),
        ])),
        delivery_mode: Some(2),
        priority: Some(5),
        correlation_id: some("corr-1"),
        reply_to: some("reply.q"),
        expiration: some("60000"),
        message_id: some("msg-1"),
        timestamp: Some(1_795_580_000),
        kind: some("order.placed"),
        user_id: some("guest"),
        app_id: some("shop"),
        cluster_id: some(""),
    };
    assert_eq!(properties(header), &expected);
    assert_eq!(expected.flags(), 0xFFFC, "all 14 properties present");
    let body = &c2s.frames[c2s.frames.len() - 8];
    assert_eq!(
        body.frame,
        Frame::Body {
            channel: 1,
            payload: Bytes::from_static(b"{\"order\": 1}")
        }
    );
    assert_eq!(
        c2s.find("ack", |m| match m {
            Method::BasicAck(a) => Some(a.clone()),
            _ => None,
        }),
        BasicAck {
            delivery_tag: 1,
            multiple: false
        }
    );
    assert_eq!(
        c2s.find("connection.close", |m| match m {
            Method::ConnectionClose(c) => Some(c.clone()),
            _ => None,
        }),
        ConnectionClose {
            reply_code: 200,
            reply_text: s("Normal shutdown"),
            class_id: 0,
            method_id: 0
        }
    );
}

#[test]
fn pika_basic_flow_server_side() {
    let (c2s, s2c) = capture("pika-basic-flow");
    let start = s2c.find("start", |m| match m {
        Method::ConnectionStart(m) => Some(m.clone()),
        _ => None,
    });
    assert_eq!((start.version_major, start.version_minor), (0, 9));
    assert_eq!(start.mechanisms, "AMQPLAIN PLAIN");
    assert_eq!(start.locales, "en_US");
    let sp = &start.server_properties;
    assert_eq!(sp.get("product").unwrap().as_str(), Some("RabbitMQ"));
    assert_eq!(sp.get("version").unwrap().as_str(), Some("3.10.8"));
    let caps: Vec<_> = sp
        .get("capabilities")
        .unwrap()
        .as_table()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bool()))
        .collect();
    let expected_caps = [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "consumer_priorities",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ];
    assert_eq!(
        caps,
        expected_caps
            .iter()
            .map(|c| (c.to_string(), Some(true)))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        s2c.find("tune", |m| match m {
            Method::ConnectionTune(t) => Some(t.clone()),
            _ => None,
        }),
        ConnectionTune {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 60
        }
    );
    assert_eq!(
        s2c.method_names(),
        [
            "0:connection.start",
            "0:connection.tune",
            "0:connection.open-ok",
            "1:channel.open-ok",
            "1:exchange.declare-ok",
            "1:queue.declare-ok",
            "1:queue.bind-ok",
            "1:basic.qos-ok",
            "1:confirm.select-ok",
            "1:basic.ack",
            "1:basic.consume-ok",
            "1:basic.deliver",
            "1:basic.cancel-ok",
            "1:queue.delete-ok",
            "1:exchange.delete-ok",
            "1:channel.close-ok",
            "0:connection.close-ok",
        ]
    );
    let declare_ok = s2c.find("declare-ok", |m| match m {
        Method::QueueDeclareOk(d) => Some(d.clone()),
        _ => None,
    });
    assert_eq!(declare_ok.queue, "amq.gen-yuAIqmNqwkYzVqxDvaq0dg");
    assert_eq!(
        (declare_ok.message_count, declare_ok.consumer_count),
        (0, 0)
    );
    let deliver = s2c.find("deliver", |m| match m {
        Method::BasicDeliver(d) => Some(d.clone()),
        _ => None,
    });
    assert_eq!(
        deliver.consumer_tag,
        "ctag1.06881e4a0f3c42839c9af36c8b50961f"
    );
    assert_eq!(deliver.delivery_tag, 1);
    assert!(!deliver.redelivered);
    assert_eq!(deliver.exchange, "cap.orders");
    assert_eq!(deliver.routing_key, "order.placed");
    // RabbitMQ forwards the publisher's property bytes unchanged.
    let published = header_after(&c2s, |m| matches!(m, Method::BasicPublish(_)));
    let delivered = header_after(&s2c, |m| matches!(m, Method::BasicDeliver(_)));
    assert_eq!(delivered.wire, published.wire);
    assert_eq!(properties(delivered), properties(published));
}

#[test]
fn amqplib_field_types_every_typed_value() {
    let (c2s, s2c) = capture("amqplib-field-types");
    let start_ok = c2s.find("start-ok", |m| match m {
        Method::ConnectionStartOk(m) => Some(m.clone()),
        _ => None,
    });
    let cp = &start_ok.client_properties;
    assert_eq!(cp.get("product").unwrap().as_str(), Some("amqplib"));
    assert_eq!(cp.get("version").unwrap().as_str(), Some("2.0.1"));
    let expected = table(vec![
        ("i8", FieldValue::I8(-5)),
        ("u8", FieldValue::U8(200)),
        ("i16", FieldValue::I16(-300)),
        ("u16", FieldValue::U16(60000)),
        ("i32", FieldValue::I32(-70000)),
        ("u32", FieldValue::U32(4_000_000_000)),
        ("i64", FieldValue::I64(1 << 40)),
        ("f32", FieldValue::F32(1.5)),
        ("f64", FieldValue::F64(2.25)),
        (
            "dec",
            FieldValue::Decimal {
                scale: 2,
                value: 314,
            },
        ),
        ("ts", FieldValue::Timestamp(1_795_580_000)),
        ("str", long("text")),
        ("bool", FieldValue::Bool(true)),
        ("nil", FieldValue::Void),
        (
            "arr",
            FieldValue::Array(FieldArray(vec![
                FieldValue::I8(1),
                long("two"),
                FieldValue::Bool(false),
                FieldValue::Array(FieldArray(vec![FieldValue::I8(3)])),
            ])),
        ),
        (
            "tbl",
            FieldValue::Table(table(vec![
                ("x", FieldValue::I8(1)),
                ("y", FieldValue::Table(table(vec![("z", long("deep"))]))),
            ])),
        ),
        (
            "bin",
            FieldValue::Bytes(Bytes::from_static(b"\x00\x01\x02\xff")),
        ),
    ]);
    let letters: Vec<u8> = expected.iter().map(|(_, v)| v.type_letter()).collect();
    assert_eq!(letters, b"bBsuIilfdDTStVAFx");
    let published = header_after(&c2s, |m| matches!(m, Method::BasicPublish(_)));
    let props = properties(published);
    assert_eq!(
        props,
        &BasicProperties {
            headers: Some(expected.clone()),
            ..Default::default()
        }
    );
    assert_eq!(props.flags(), 0x2000, "only the headers property");
    assert_eq!(
        props.headers.as_ref().unwrap().get("i64").unwrap().as_i64(),
        Some(1 << 40)
    );

    // basic.get-ok: RabbitMQ hands the table back with every type letter as the client sent
    // it (no widening of b/B/s/u/i to I or l), in the same order, to the same bytes.
    let get_ok = s2c.find("get-ok", |m| match m {
        Method::BasicGetOk(g) => Some(g.clone()),
        _ => None,
    });
    assert_eq!(get_ok.delivery_tag, 1);
    assert_eq!(get_ok.routing_key, "amq.gen-UlrKcLGGYqrl_AhFVFK8-w");
    assert_eq!(get_ok.message_count, 0);
    let got = header_after(&s2c, |m| matches!(m, Method::BasicGetOk(_)));
    assert_eq!(properties(got).headers.as_ref(), Some(&expected));
    assert_eq!(got.wire, published.wire);
    let body = s2c
        .frames
        .iter()
        .find_map(|d| match &d.frame {
            Frame::Body { payload, .. } => Some(payload.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(&body[..], b"typed");
    assert_eq!(
        c2s.find("close", |m| match m {
            Method::ConnectionClose(c) => Some(c.reply_text.clone()),
            _ => None,
        }),
        "Cheers, thanks"
    );
}

#[test]
fn pika_large_message_is_split_at_frame_max() {
    const SIZE: usize = 307_200;
    let expected_body: Vec<u8> = (0..SIZE).map(|i| (i % 256) as u8).collect();
    let (c2s, s2c) = capture("pika-large-message");
    for (dir, stream, pick) in [
        (
            "publish",
            &c2s,
            (|m: &Method| matches!(m, Method::BasicPublish(_))) as fn(&Method) -> bool,
        ),
        ("get-ok", &s2c, |m: &Method| {
            matches!(m, Method::BasicGetOk(_))
        }),
    ] {
        let at = stream
            .frames
            .iter()
            .position(|d| matches!(&d.frame, Frame::Method { method, .. } if pick(method)))
            .unwrap();
        match &stream.frames[at + 1].frame {
            Frame::Header { header, .. } => assert_eq!(header.body_size, SIZE as u64),
            other => panic!("{dir}: {other:?}"),
        }
        let bodies: Vec<&Bytes> = stream.frames[at + 2..at + 5]
            .iter()
            .map(|d| match &d.frame {
                Frame::Body {
                    channel: 1,
                    payload,
                } => payload,
                other => panic!("{dir}: {other:?}"),
            })
            .collect();
        // frame_max 131072 is the whole frame: 131064 payload bytes plus 8 of framing.
        let sizes: Vec<usize> = bodies.iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [131_064, 131_064, 45_072], "{dir}");
        let joined: Vec<u8> = bodies.iter().flat_map(|b| b.iter().copied()).collect();
        assert_eq!(joined, expected_body, "{dir}");
        // Our body splitter produces exactly RabbitMQ's and pika's frames.
        let mut ours = BytesMut::new();
        encode_body(1, &expected_body, 131_072, &mut ours);
        let theirs: Vec<u8> = stream.frames[at + 2..at + 5]
            .iter()
            .flat_map(|d| d.wire.iter().copied())
            .collect();
        assert_eq!(&ours[..], &theirs[..], "{dir}");
    }
    // And the whole get-ok (method, header, three bodies) in one call.
    let at = s2c
        .frames
        .iter()
        .position(|d| {
            matches!(
                &d.frame,
                Frame::Method {
                    method: Method::BasicGetOk(_),
                    ..
                }
            )
        })
        .unwrap();
    let (method, header) = match (&s2c.frames[at].frame, &s2c.frames[at + 1].frame) {
        (Frame::Method { method, .. }, Frame::Header { header, .. }) => (method, header),
        _ => unreachable!(),
    };
    let mut ours = BytesMut::new();
    encode_content(1, method, header, &expected_body, 131_072, &mut ours);
    let theirs: Vec<u8> = s2c.frames[at..at + 5]
        .iter()
        .flat_map(|d| d.wire.iter().copied())
        .collect();
    assert_eq!(&ours[..], &theirs[..]);
}

#[test]
fn pika_large_message_is_refused_under_a_smaller_frame_max() {
    let bytes = fixture("pika-large-message/conn1.client-to-server.bin");
    let mut buf = BytesMut::from(&bytes[8..]);
    let dec = FrameDecoder::new(65_536);
    let err = loop {
        match dec.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("stream ended without an error"),
            Err(e) => break e,
        }
    };
    assert_eq!(
        err,
        DecodeError::FrameTooLarge {
            size: 131_072,
            max: 65_536
        }
    );
    assert_eq!(err.reply_code(), ReplyCode::FrameError);
}

#[test]
fn raw_auth_failure_is_a_403_close() {
    let (c2s, s2c) = capture("raw-auth-failure");
    let start_ok = c2s.find("start-ok", |m| match m {
        Method::ConnectionStartOk(m) => Some(m.clone()),
        _ => None,
    });
    assert_eq!(start_ok.response, "\0guest\0wrong");
    assert_eq!(
        s2c.method_names(),
        ["0:connection.start", "0:connection.close"]
    );
    let close = s2c.find("close", |m| match m {
        Method::ConnectionClose(c) => Some(c.clone()),
        _ => None,
    });
    assert_eq!(close.reply_code, 403);
    assert_eq!(
        ReplyCode::from_u16(close.reply_code),
        Some(ReplyCode::AccessRefused)
    );
    assert_eq!(
        close.reply_text,
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details \
         see the broker logfile."
    );
    assert_eq!((close.class_id, close.method_id), (0, 0));
}

#[test]
fn raw_wrong_protocol_header_is_answered_with_ours() {
    let mut sent =
        BytesMut::from(&fixture("raw-wrong-protocol-header/conn1.client-to-server.bin")[..]);
    assert_eq!(
        decode_protocol_header(&mut sent),
        Some(ProtocolHeader::Unsupported(*b"GET / HT"))
    );
    assert_eq!(
        fixture("raw-wrong-protocol-header/conn1.server-to-client.bin"),
        PROTOCOL_HEADER
    );
    // The first bytes alone already show it is not AMQP.
    let mut partial = BytesMut::from(&b"GE"[..]);
    assert_eq!(
        decode_protocol_header(&mut partial),
        Some(ProtocolHeader::Unsupported(*b"GE\0\0\0\0\0\0"))
    );
}

#[test]
fn pika_errors_channel_closes() {
    let (c2s, s2c) = capture("pika-errors");
    let publish = c2s.find("publish", |m| match m {
        Method::BasicPublish(p) => Some(p.clone()),
        _ => None,
    });
    assert_eq!(publish.exchange, "cap.missing-exchange");
    let closes: Vec<ChannelClose> = s2c
        .methods()
        .filter_map(|(ch, m)| match m {
            Method::ChannelClose(c) => {
                assert_eq!(ch, 1);
                Some(c.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        closes,
        [
            ChannelClose {
                reply_code: 404,
                reply_text: s("NOT_FOUND - no exchange 'cap.missing-exchange' in vhost '/'"),
                class_id: 60,
                method_id: 40,
            },
            ChannelClose {
                reply_code: 406,
                reply_text: s(
                    "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'cap.args' \
                     in vhost '/': received '20' but current is '10'"
                ),
                class_id: 50,
                method_id: 10,
            },
        ]
    );
    for c in &closes {
        let code = ReplyCode::from_u16(c.reply_code).unwrap();
        assert!(!code.is_hard(), "{code:?} is a channel error");
        assert!(c.reply_text.as_str().unwrap().starts_with(code.name()));
    }
    let declares: Vec<_> = c2s
        .methods()
        .filter_map(|(_, m)| match m {
            Method::QueueDeclare(d) if d.queue == "cap.args" => {
                d.arguments.get("x-max-length").cloned()
            }
            _ => None,
        })
        .collect();
    assert_eq!(declares, [FieldValue::I32(10), FieldValue::I32(20)]);
    assert_eq!(
        s2c.find("get-empty", |m| match m {
            Method::BasicGetEmpty(g) => Some(g.clone()),
            _ => None,
        }),
        BasicGetEmpty { cluster_id: s("") }
    );
    // The client answers each channel.close with close-ok.
    assert_eq!(
        c2s.methods()
            .filter(|(_, m)| matches!(m, Method::ChannelCloseOk(_)))
            .count(),
        2
    );
}

#[test]
fn pika_mandatory_return_is_312_no_route() {
    let (c2s, s2c) = capture("pika-mandatory-return");
    let publish = c2s.find("publish", |m| match m {
        Method::BasicPublish(p) => Some(p.clone()),
        _ => None,
    });
    assert!(publish.mandatory);
    let at = s2c
        .frames
        .iter()
        .position(|d| {
            matches!(
                &d.frame,
                Frame::Method {
                    method: Method::BasicReturn(_),
                    ..
                }
            )
        })
        .unwrap();
    let frames: Vec<&Frame> = s2c.frames[at..at + 4].iter().map(|d| &d.frame).collect();
    assert_eq!(
        frames,
        [
            &Frame::Method {
                channel: 1,
                method: Method::BasicReturn(BasicReturn {
                    reply_code: 312,
                    reply_text: s("NO_ROUTE"),
                    exchange: s("cap.unbound"),
                    routing_key: s("nowhere"),
                })
            },
            &s2c.frames[at + 1].frame,
            &Frame::Body {
                channel: 1,
                payload: Bytes::from_static(b"lost?")
            },
            &Frame::Method {
                channel: 1,
                method: Method::BasicAck(BasicAck {
                    delivery_tag: 1,
                    multiple: false
                })
            },
        ]
    );
    assert_eq!(ReplyCode::from_u16(312), Some(ReplyCode::NoRoute));
    assert_eq!(ReplyCode::NoRoute.name(), "NO_ROUTE");
    match &s2c.frames[at + 1].frame {
        Frame::Header { header, .. } => {
            assert_eq!(header.body_size, 5);
            assert_eq!(header.properties, BasicProperties::default());
            assert_eq!(&header.raw_properties[..], &[0, 0]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pika_tx_get_nack_recover() {
    let (c2s, s2c) = capture("pika-tx-get-nack-recover");
    let acks: Vec<Method> = c2s
        .methods()
        .filter(|(_, m)| {
            matches!(
                m,
                Method::BasicNack(_)
                    | Method::BasicReject(_)
                    | Method::BasicRecover(_)
                    | Method::BasicAck(_)
            )
        })
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(
        acks,
        [
            Method::BasicNack(BasicNack {
                delivery_tag: 1,
                multiple: false,
                requeue: true
            }),
            Method::BasicReject(BasicReject {
                delivery_tag: 2,
                requeue: false
            }),
            Method::BasicRecover(BasicRecover { requeue: true }),
            Method::BasicAck(BasicAck {
                delivery_tag: 4,
                multiple: true
            }),
        ]
    );
    let tx: Vec<String> = c2s
        .method_names()
        .into_iter()
        .filter(|n| n.contains(":tx."))
        .collect();
    assert_eq!(
        tx,
        ["1:tx.select", "1:tx.commit", "1:tx.rollback", "1:tx.commit"]
    );
    let gets: Vec<(u64, bool, u32)> = s2c
        .methods()
        .filter_map(|(_, m)| match m {
            Method::BasicGetOk(g) => Some((g.delivery_tag, g.redelivered, g.message_count)),
            _ => None,
        })
        .collect();
    assert_eq!(
        gets,
        [(1, false, 2), (2, false, 1), (3, false, 0), (4, true, 0)]
    );
    let bodies: Vec<&[u8]> = s2c
        .frames
        .iter()
        .filter_map(|d| match &d.frame {
            Frame::Body { payload, .. } => Some(&payload[..]),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, [&b"m0"[..], b"m1", b"m2", b"m2"]);
    assert!(s2c
        .methods()
        .any(|(_, m)| matches!(m, Method::BasicRecoverOk(_))));
}

#[test]
fn lapin_basic_flow() {
    let (c2s, s2c) = capture("lapin-basic-flow");
    assert_eq!(
        c2s.method_names(),
        [
            "0:connection.start-ok",
            "0:connection.tune-ok",
            "0:connection.open",
            "1:channel.open",
            "1:exchange.declare",
            "1:queue.declare",
            "1:queue.bind",
            "1:confirm.select",
            "1:basic.publish",
            "1:basic.consume",
            "1:basic.ack",
            "1:basic.cancel",
            "1:channel.close",
            "0:connection.close",
        ]
    );
    let start_ok = c2s.find("start-ok", |m| match m {
        Method::ConnectionStartOk(m) => Some(m.clone()),
        _ => None,
    });
    let cp = &start_ok.client_properties;
    assert_eq!(cp.get("product").unwrap().as_str(), Some("lapin"));
    assert_eq!(cp.get("version").unwrap().as_str(), Some("3.7.2"));
    assert_eq!(cp.get("platform").unwrap().as_str(), Some("rust"));
    assert_eq!(start_ok.mechanism, "PLAIN");
    assert_eq!(start_ok.response, "\0guest\0guest");
    let caps = cp.get("capabilities").unwrap().as_table().unwrap();
    assert_eq!(caps.len(), 9);
    assert!(caps.iter().all(|(_, v)| v.as_bool() == Some(true)));
    let insist = c2s.find("open", |m| match m {
        Method::ConnectionOpen(o) => Some(o.insist),
        _ => None,
    });
    assert!(!insist, "lapin sends insist = false");
    assert_eq!(
        c2s.find("exchange.declare", |m| match m {
            Method::ExchangeDeclare(x) => Some(x.clone()),
            _ => None,
        }),
        ExchangeDeclare {
            exchange: s("lapin.x"),
            kind: s("direct"),
            auto_delete: true,
            ..Default::default()
        }
    );
    assert_eq!(
        c2s.find("queue.declare", |m| match m {
            Method::QueueDeclare(q) => Some(q.clone()),
            _ => None,
        }),
        QueueDeclare {
            queue: s("lapin.q"),
            exclusive: true,
            auto_delete: true,
            arguments: table(vec![("x-max-length", FieldValue::I32(1000))]),
            ..Default::default()
        }
    );
    assert_eq!(
        c2s.find("publish", |m| match m {
            Method::BasicPublish(p) => Some(p.clone()),
            _ => None,
        }),
        BasicPublish {
            exchange: s("lapin.x"),
            routing_key: s("lapin.rk"),
            ..Default::default()
        }
    );
    let published = header_after(&c2s, |m| matches!(m, Method::BasicPublish(_)));
    // lapin keeps headers in a BTreeMap: they go out sorted by key.
    let expected = BasicProperties {
        content_type: some("application/json"),
        content_encoding: some("utf-8"),
        headers: Some(table(vec![
            (
                "array",
                FieldValue::Array(FieldArray(vec![FieldValue::I32(1), long("two")])),
            ),
            ("bool", FieldValue::Bool(true)),
            ("bytes", FieldValue::Bytes(Bytes::from_static(&[0, 1, 255]))),
            (
                "dec",
                FieldValue::Decimal {
                    scale: 2,
                    value: 12345,
                },
            ),
            ("f64", FieldValue::F64(2.5)),
            ("i32", FieldValue::I32(-42)),
            ("i64", FieldValue::I64(1 << 40)),
            ("str", long("hello")),
            (
                "table",
                FieldValue::Table(table(vec![("depth", FieldValue::I8(2))])),
            ),
            ("ts", FieldValue::Timestamp(1_700_000_000)),
            ("void", FieldValue::Void),
        ])),
        delivery_mode: Some(2),
        priority: Some(5),
        correlation_id: some("corr-1"),
        reply_to: some("reply.q"),
        expiration: some("60000"),
        message_id: some("msg-1"),
        timestamp: Some(1_700_000_000),
        kind: some("lapin.test"),
        user_id: some("guest"),
        app_id: some("lapin-capture"),
        cluster_id: None,
    };
    assert_eq!(properties(published), &expected);
    assert_eq!(expected.flags(), 0xFFF8);
    let consume = c2s.find("consume", |m| match m {
        Method::BasicConsume(c) => Some(c.clone()),
        _ => None,
    });
    assert_eq!(consume.queue, "lapin.q");
    assert_eq!(consume.consumer_tag, "lapin-ctag");
    assert!(!consume.no_ack);

    assert_eq!(
        s2c.method_names(),
        [
            "0:connection.start",
            "0:connection.tune",
            "0:connection.open-ok",
            "1:channel.open-ok",
            "1:exchange.declare-ok",
            "1:queue.declare-ok",
            "1:queue.bind-ok",
            "1:confirm.select-ok",
            "1:basic.ack",
            "1:basic.consume-ok",
            "1:basic.deliver",
            "1:basic.cancel-ok",
            "1:channel.close-ok",
            "0:connection.close-ok",
        ]
    );
    assert_eq!(
        s2c.find("deliver", |m| match m {
            Method::BasicDeliver(d) => Some(d.clone()),
            _ => None,
        }),
        BasicDeliver {
            consumer_tag: s("lapin-ctag"),
            delivery_tag: 1,
            redelivered: false,
            exchange: s("lapin.x"),
            routing_key: s("lapin.rk"),
        }
    );
    let delivered = header_after(&s2c, |m| matches!(m, Method::BasicDeliver(_)));
    assert_eq!(delivered.wire, published.wire);
    let at = s2c
        .frames
        .iter()
        .position(|d| std::ptr::eq(d, delivered))
        .unwrap();
    assert_eq!(
        s2c.frames[at + 1].frame,
        Frame::Body {
            channel: 1,
            payload: Bytes::from_static(br#"{"hello":"lapin"}"#)
        }
    );
}
