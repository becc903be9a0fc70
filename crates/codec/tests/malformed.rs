//! Every malformed-input class, with the exact error and the reply code the server closes
//! with. The byte strings are the ones sent to RabbitMQ 3.10.8 to measure its answer; the
//! table in docs/codec-errors.md lists what it replied.

mod support;

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use support::arbitrary_methods;
use warren_codec::frame::{encode_method, FrameDecoder};
use warren_codec::generated::{ReplyCode, FRAME_END, FRAME_MIN_SIZE};
use warren_codec::table::MAX_NESTING;
use warren_codec::{ContentHeader, DecodeError, FieldTable, Frame, Method};

/// A frame with the given type, channel and payload (and frame-end octet).
fn raw_frame(kind: u8, channel: u16, payload: &[u8], end: u8) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_u8(kind);
    b.put_u16(channel);
    b.put_u32(payload.len() as u32);
    b.put_slice(payload);
    b.put_u8(end);
    b
}

/// A method frame on channel 1 with raw argument bytes.
fn method_frame(class_id: u16, method_id: u16, args: &[u8]) -> BytesMut {
    let mut payload = Vec::new();
    payload.extend_from_slice(&class_id.to_be_bytes());
    payload.extend_from_slice(&method_id.to_be_bytes());
    payload.extend_from_slice(args);
    raw_frame(1, 1, &payload, FRAME_END)
}

/// Decodes one frame at frame_max 131072 (what every capture negotiated).
fn decode(bytes: &[u8]) -> Result<Option<Frame>, DecodeError> {
    FrameDecoder::new(131_072).decode(&mut BytesMut::from(bytes))
}

/// The error a complete malformed frame decodes to, checked to be a hard (connection) error.
fn error_of(bytes: &[u8]) -> DecodeError {
    let err = decode(bytes).expect_err("malformed input must be refused");
    assert!(err.reply_code().is_hard(), "{err:?} closes the connection");
    err
}

/// queue.declare (exclusive, server-named) with a raw arguments table body.
fn queue_declare_with_args(table_body: &[u8]) -> BytesMut {
    let mut args = vec![0, 0, 0, 0x04];
    args.extend_from_slice(&(table_body.len() as u32).to_be_bytes());
    args.extend_from_slice(table_body);
    method_frame(50, 10, &args)
}

/// `depth` tables nested inside the top-level one: {n: {n: ... {n: I 1}}}.
fn nested_tables(depth: usize) -> Vec<u8> {
    let mut inner = b"\x01nI\x00\x00\x00\x01".to_vec();
    for _ in 0..depth {
        let mut outer = b"\x01nF".to_vec();
        outer.extend_from_slice(&(inner.len() as u32).to_be_bytes());
        outer.extend_from_slice(&inner);
        inner = outer;
    }
    inner
}

/// `depth` arrays nested inside the top-level table: {n: [[... [I 1]]]}.
fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut inner = b"I\x00\x00\x00\x01".to_vec();
    for _ in 0..depth {
        let mut outer = b"A".to_vec();
        outer.extend_from_slice(&(inner.len() as u32).to_be_bytes());
        outer.extend_from_slice(&inner);
        inner = outer;
    }
    let mut entry = b"\x01n".to_vec();
    entry.extend_from_slice(&inner);
    entry
}

// ---- frame over frame_max -------------------------------------------------------------

#[test]
fn frame_over_frame_max_is_refused_from_the_seven_byte_header() {
    // The size field alone decides: no payload has arrived yet.
    for (frame_max, payload) in [(131_072u32, 131_065u32), (131_072, 131_073), (4096, 4089)] {
        let mut buf = BytesMut::new();
        buf.put_u8(1);
        buf.put_u16(1);
        buf.put_u32(payload);
        let err = FrameDecoder::new(frame_max).decode(&mut buf).unwrap_err();
        assert_eq!(
            err,
            DecodeError::FrameTooLarge {
                size: u64::from(payload) + 8,
                max: frame_max
            }
        );
        assert_eq!(err.reply_code(), ReplyCode::FrameError);
        assert_eq!(buf.len(), 7, "nothing consumed");
    }
}

#[test]
fn a_frame_of_exactly_frame_max_bytes_is_accepted() {
    // frame_max counts the whole frame: 7-byte header + payload + frame-end.
    let body = vec![0xAB; 131_072 - 8];
    let bytes = raw_frame(3, 1, &body, FRAME_END);
    assert_eq!(bytes.len(), 131_072);
    assert_eq!(
        decode(&bytes).unwrap(),
        Some(Frame::Body {
            channel: 1,
            payload: Bytes::from(body)
        })
    );
    // One byte more is refused. (RabbitMQ itself tolerates up to 8 bytes more, its
    // FRAME_SIZE_FUDGE: see docs/codec-errors.md.)
    let over = raw_frame(3, 1, &[0; 131_072 - 7], FRAME_END);
    assert_eq!(
        error_of(&over),
        DecodeError::FrameTooLarge {
            size: 131_073,
            max: 131_072
        }
    );
}

#[test]
fn before_tune_frames_are_capped_at_4096() {
    let dec = FrameDecoder::default();
    assert_eq!(dec.frame_max(), FRAME_MIN_SIZE);
    assert_eq!(FRAME_MIN_SIZE, 4096);
    // A start-ok whose client-properties push the frame to 5054 bytes (RabbitMQ: socket closed).
    let mut args = Vec::new();
    let mut props = b"\x04junkS".to_vec();
    props.extend_from_slice(&5000u32.to_be_bytes());
    props.extend_from_slice(&[b'x'; 5000]);
    args.extend_from_slice(&(props.len() as u32).to_be_bytes());
    args.extend_from_slice(&props);
    args.extend_from_slice(b"\x05PLAIN\x00\x00\x00\x0c\x00guest\x00guest\x05en_US");
    let mut payload = vec![0, 10, 0, 11];
    payload.extend_from_slice(&args);
    let mut buf = raw_frame(1, 0, &payload, FRAME_END);
    let err = dec.decode(&mut buf).unwrap_err();
    assert_eq!(
        err,
        DecodeError::FrameTooLarge {
            size: payload.len() as u64 + 8,
            max: 4096
        }
    );
    assert_eq!(err.reply_code() as u16, 501);
}

// ---- bad frame-end --------------------------------------------------------------------

#[test]
fn bad_frame_end_is_a_frame_error() {
    // basic.qos(0, 10, false) ending in 0x00 instead of 0xCE: RabbitMQ 501.
    let bytes = raw_frame(1, 1, &[0, 60, 0, 10, 0, 0, 0, 0, 0, 10, 0], 0x00);
    let err = error_of(&bytes);
    assert_eq!(err, DecodeError::BadFrameEnd { found: 0x00 });
    assert_eq!(err.reply_code() as u16, 501);
    for end in (0..=255u8).filter(|e| *e != FRAME_END) {
        let bytes = raw_frame(8, 0, &[], end);
        assert_eq!(error_of(&bytes), DecodeError::BadFrameEnd { found: end });
    }
}

#[test]
fn the_frame_end_is_only_judged_once_the_whole_frame_is_there() {
    let bytes = raw_frame(1, 1, &[0, 60, 0, 10, 0, 0, 0, 0, 0, 10, 0], 0x00);
    for cut in 0..bytes.len() {
        assert_eq!(decode(&bytes[..cut]), Ok(None), "cut at {cut}");
    }
}

// ---- unknown frame type ---------------------------------------------------------------

#[test]
fn unknown_frame_types_are_frame_errors_from_the_header_alone() {
    // RabbitMQ: 501 "type 9, all octets = <<"abc">>: unknown_frame" (and the same for 4).
    assert_eq!(
        error_of(&raw_frame(9, 1, b"abc", FRAME_END)),
        DecodeError::UnknownFrameType(9)
    );
    for kind in (0..=255u8).filter(|k| ![1, 2, 3, 8].contains(k)) {
        let header = raw_frame(kind, 0, &[], FRAME_END);
        let err = decode(&header[..7]).unwrap_err();
        assert_eq!(err, DecodeError::UnknownFrameType(kind));
        assert_eq!(err.reply_code(), ReplyCode::FrameError);
    }
}

// ---- unknown class/method -------------------------------------------------------------

#[test]
fn unknown_class_or_method_is_not_implemented() {
    // RabbitMQ 3.10 drops the socket here (its reader crashes); we close with 540.
    for (class_id, method_id) in [(60, 99), (99, 10), (10, 12), (85, 20), (0, 0)] {
        let err = error_of(&method_frame(class_id, method_id, &[]));
        assert_eq!(
            err,
            DecodeError::UnknownMethod {
                class_id,
                method_id
            }
        );
        assert_eq!(err.reply_code(), ReplyCode::NotImplemented);
        assert_eq!(err.reply_code() as u16, 540);
    }
}

#[test]
fn a_method_frame_too_short_for_its_ids_is_truncated() {
    for payload in [&[][..], &[0], &[0, 60], &[0, 60, 0]] {
        let err = error_of(&raw_frame(1, 1, payload, FRAME_END));
        assert!(matches!(err, DecodeError::Truncated { .. }), "{err:?}");
        assert_eq!(err.reply_code() as u16, 501);
    }
}

// ---- truncated arguments / lengths past the frame -------------------------------------

#[test]
fn truncated_method_arguments_are_a_frame_error() {
    // basic.qos cut after prefetch-size and one octet: RabbitMQ 501 "cannot decode".
    let err = error_of(&method_frame(60, 10, &[0, 0, 0, 0, 0]));
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "basic.qos arguments"
        }
    );
    assert_eq!(err.reply_code() as u16, 501);
}

#[test]
fn every_proper_prefix_of_every_methods_arguments_is_truncated() {
    for (name, strategy) in arbitrary_methods::all() {
        let mut runner = TestRunner::new(Config {
            cases: 4,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |method| {
                let mut args = BytesMut::new();
                method.encode_args(&mut args);
                // decode_args slices strings out of `base`, so the input must be a view of it.
                let base = args.freeze();
                for cut in 0..base.len() {
                    let err = Method::decode_args(
                        method.class_id(),
                        method.method_id(),
                        &base,
                        &base[..cut],
                    )
                    .expect_err("a prefix must not decode");
                    prop_assert!(
                        matches!(err, DecodeError::Truncated { .. }),
                        "cut at {}: {:?}",
                        cut,
                        err
                    );
                    prop_assert_eq!(err.reply_code(), ReplyCode::FrameError);
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn bytes_left_after_the_last_argument_are_a_frame_error() {
    // basic.qos + "xyz": RabbitMQ 501 "cannot decode".
    let err = error_of(&method_frame(60, 10, b"\x00\x00\x00\x00\x00\x0a\x00xyz"));
    assert_eq!(
        err,
        DecodeError::Malformed {
            what: "basic.qos arguments"
        }
    );
    assert_eq!(err.reply_code() as u16, 501);
    // Also for methods without arguments.
    let err = error_of(&method_frame(90, 10, b"\x00"));
    assert_eq!(
        err,
        DecodeError::Malformed {
            what: "tx.select arguments"
        }
    );
}

#[test]
fn a_shortstr_length_past_the_frame_is_a_frame_error() {
    // queue.declare whose queue name claims 200 octets with 3 present: RabbitMQ 501.
    let err = error_of(&method_frame(50, 10, b"\x00\x00\xc8abc"));
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "queue.declare arguments"
        }
    );
    assert_eq!(err.reply_code() as u16, 501);
}

#[test]
fn a_table_length_past_the_frame_is_a_frame_error() {
    // queue.declare whose arguments table claims 1000 octets: RabbitMQ 501.
    let err = error_of(&method_frame(
        50,
        10,
        b"\x00\x00\x00\x04\x00\x00\x03\xe8\x01kI",
    ));
    assert!(matches!(err, DecodeError::Truncated { .. }), "{err:?}");
    assert_eq!(err.reply_code() as u16, 501);
}

#[test]
fn lengths_inside_a_table_past_its_end_are_frame_errors() {
    // A long string, a byte array, a nested table and an array each claiming more than the
    // table holds, and a key length past the end.
    for body in [
        &b"\x01kS\x00\x00\x00\x10ab"[..],
        b"\x01kx\x00\x00\x10\x00ab",
        b"\x01kF\x00\x00\x00\x09\x01a",
        b"\x01kA\x00\x00\x00\x09I",
        b"\x01kI\x00\x00",
        b"\x09k",
    ] {
        let err = error_of(&queue_declare_with_args(body));
        assert!(
            matches!(err, DecodeError::Truncated { .. }),
            "{body:?}: {err:?}"
        );
        assert_eq!(err.reply_code(), ReplyCode::FrameError);
    }
}

#[test]
fn a_longstr_length_past_the_frame_is_a_frame_error() {
    // connection.start-ok whose response claims 4 GiB.
    let err = error_of(&method_frame(
        10,
        11,
        b"\x00\x00\x00\x00\x05PLAIN\xff\xff\xff\xff\x00guest",
    ));
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "connection.start-ok arguments"
        }
    );
}

// ---- field tables: unknown type letters, nesting -------------------------------------

#[test]
fn unknown_field_type_letter_in_queue_declare_arguments_is_a_syntax_error() {
    // RabbitMQ 3.10 drops the socket (its decoder crashes); we close with 502.
    let err = error_of(&queue_declare_with_args(b"\x01kQ\x00\x00\x00\x01"));
    assert_eq!(err, DecodeError::UnknownFieldType(b'Q'));
    assert_eq!(err.reply_code(), ReplyCode::SyntaxError);
    assert_eq!(err.reply_code() as u16, 502);
}

#[test]
fn every_letter_outside_rabbitmqs_set_is_refused_in_tables_and_arrays() {
    let known = b"tbBsuIilLfdDSxATFV";
    for letter in (0..=255u8).filter(|l| !known.contains(l)) {
        let in_table = [b'\x01', b'k', letter, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            error_of(&queue_declare_with_args(&in_table)),
            DecodeError::UnknownFieldType(letter)
        );
        let in_array = [b'\x01', b'k', b'A', 0, 0, 0, 1, letter];
        assert_eq!(
            error_of(&queue_declare_with_args(&in_array)),
            DecodeError::UnknownFieldType(letter)
        );
    }
}

#[test]
fn unknown_field_type_letter_in_message_headers_is_a_syntax_error() {
    // headers property only (flag 0x2000): {k: 'Z' ...}. RabbitMQ answers 541 INTERNAL_ERROR
    // when its channel decodes the properties; we refuse the header frame itself.
    let mut payload = vec![0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x20, 0x00];
    payload.extend_from_slice(b"\x00\x00\x00\x04\x01kZ\x00");
    let err = error_of(&raw_frame(2, 1, &payload, FRAME_END));
    assert_eq!(err, DecodeError::UnknownFieldType(b'Z'));
    assert_eq!(err.reply_code() as u16, 502);
}

#[test]
fn nesting_is_bounded_at_max_nesting_levels_below_the_top_table() {
    assert_eq!(MAX_NESTING, 64);
    for nested in [nested_tables, nested_arrays] {
        let ok = decode(&queue_declare_with_args(&nested(MAX_NESTING))).unwrap();
        assert!(matches!(
            ok,
            Some(Frame::Method {
                method: Method::QueueDeclare(_),
                ..
            })
        ));
        let err = error_of(&queue_declare_with_args(&nested(MAX_NESTING + 1)));
        assert_eq!(err, DecodeError::TooDeep(MAX_NESTING));
        assert_eq!(err.reply_code(), ReplyCode::SyntaxError);
    }
}

#[test]
fn nesting_rabbitmq_accepts_is_refused_without_exhausting_the_stack() {
    // 15000 levels fit in one 131072-byte frame; RabbitMQ 3.10 declared the queue.
    let bytes = queue_declare_with_args(&nested_tables(15_000));
    assert!(bytes.len() < 131_072);
    assert_eq!(error_of(&bytes), DecodeError::TooDeep(MAX_NESTING));
    let bytes = queue_declare_with_args(&nested_arrays(20_000));
    assert_eq!(error_of(&bytes), DecodeError::TooDeep(MAX_NESTING));
    // FieldTable::decode_bytes applies the same bound.
    let mut table = (nested_tables(100).len() as u32).to_be_bytes().to_vec();
    table.extend_from_slice(&nested_tables(100));
    assert_eq!(
        FieldTable::decode_bytes(&Bytes::from(table)),
        Err(DecodeError::TooDeep(MAX_NESTING))
    );
}

// ---- heartbeats -----------------------------------------------------------------------

#[test]
fn heartbeat_on_a_non_zero_channel_is_an_unexpected_frame() {
    // RabbitMQ: 505 UNEXPECTED_FRAME "type 8, all octets = <<>>".
    for channel in [1u16, 7, u16::MAX] {
        let err = error_of(&raw_frame(8, channel, &[], FRAME_END));
        assert_eq!(err, DecodeError::BadHeartbeat { channel, len: 0 });
        assert_eq!(err.reply_code(), ReplyCode::UnexpectedFrame);
        assert_eq!(err.reply_code() as u16, 505);
    }
}

#[test]
fn heartbeat_with_a_payload_is_a_frame_error() {
    // RabbitMQ: 501 FRAME_ERROR "type 8, all octets = <<"xx">>: unknown_frame".
    let err = error_of(&raw_frame(8, 0, b"xx", FRAME_END));
    assert_eq!(err, DecodeError::BadHeartbeat { channel: 0, len: 2 });
    assert_eq!(err.reply_code() as u16, 501);
    let err = error_of(&raw_frame(8, 3, b"x", FRAME_END));
    assert_eq!(err, DecodeError::BadHeartbeat { channel: 3, len: 1 });
    assert_eq!(err.reply_code() as u16, 501);
    // The one valid heartbeat.
    assert_eq!(
        decode(&raw_frame(8, 0, &[], FRAME_END)),
        Ok(Some(Frame::Heartbeat))
    );
}

// ---- content headers ------------------------------------------------------------------

#[test]
fn content_header_for_a_class_other_than_basic_is_an_unexpected_frame() {
    // Header frame with class 10 (after a basic.publish or not): RabbitMQ 505
    // "expected content header for class 60, got one for class 10 instead".
    for class_id in [10u16, 20, 50, 90, 0] {
        let mut payload = class_id.to_be_bytes().to_vec();
        payload.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
        let err = error_of(&raw_frame(2, 1, &payload, FRAME_END));
        assert_eq!(err, DecodeError::BadContentClass(class_id));
        assert_eq!(err.reply_code(), ReplyCode::UnexpectedFrame);
        assert_eq!(err.reply_code() as u16, 505);
    }
}

#[test]
fn truncated_content_header_is_a_frame_error() {
    // class 60, weight 0 and nothing else: RabbitMQ 501 "type 2 ... unknown_frame".
    let err = error_of(&raw_frame(2, 1, &[0, 60, 0, 0], FRAME_END));
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "content header"
        }
    );
    assert_eq!(err.reply_code() as u16, 501);
    // A property whose length runs past the frame: content-type claims 16 octets. (The
    // outermost label names the error: the header, as "X arguments" names a method's.)
    let mut payload = vec![0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0x00];
    payload.extend_from_slice(b"\x10ab");
    let err = error_of(&raw_frame(2, 1, &payload, FRAME_END));
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "content header"
        }
    );
    assert_eq!(err.reply_code() as u16, 501);
}

#[test]
fn unknown_property_flag_bits_and_trailing_bytes_are_refused() {
    // Bit 1 names no 0-9-1 property. (RabbitMQ ignores it; see docs/codec-errors.md.)
    let err = error_of(&raw_frame(
        2,
        1,
        &[0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x00, 0x02],
        FRAME_END,
    ));
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err:?}");
    assert_eq!(err.reply_code() as u16, 501);
    // A second flags word naming a property.
    let base = Bytes::from_static(&[0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x00, 0x01, 0x80, 0x00]);
    assert!(matches!(
        ContentHeader::decode(&base, &base),
        Err(DecodeError::Malformed { .. })
    ));
    // Bytes after the last property.
    let err = error_of(&raw_frame(
        2,
        1,
        &[0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x00, 0x00, 0xff],
        FRAME_END,
    ));
    assert_eq!(
        err,
        DecodeError::Malformed {
            what: "content header"
        }
    );
}

// ---- every error closes the connection ------------------------------------------------

#[test]
fn every_decode_error_maps_to_a_hard_reply_code() {
    let all = [
        DecodeError::FrameTooLarge { size: 9, max: 8 },
        DecodeError::BadFrameEnd { found: 0 },
        DecodeError::UnknownFrameType(9),
        DecodeError::BadHeartbeat { channel: 1, len: 0 },
        DecodeError::BadHeartbeat { channel: 0, len: 1 },
        DecodeError::UnknownMethod {
            class_id: 1,
            method_id: 1,
        },
        DecodeError::BadContentClass(10),
        DecodeError::UnknownFieldType(b'Q'),
        DecodeError::TooDeep(MAX_NESTING),
        DecodeError::Truncated { what: "x" },
        DecodeError::Malformed { what: "x" },
    ];
    let codes: Vec<u16> = all.iter().map(|e| e.reply_code() as u16).collect();
    assert_eq!(
        codes,
        [501, 501, 501, 505, 501, 540, 505, 502, 502, 501, 501]
    );
    assert!(all.iter().all(|e| e.reply_code().is_hard()));
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

    /// Arbitrary bytes never panic the decoder; any error it reports is a hard one.
    #[test]
    fn arbitrary_bytes_decode_or_fail_with_a_hard_error(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        let dec = FrameDecoder::new(4096);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    prop_assert!(e.reply_code().is_hard());
                    break;
                }
            }
        }
    }

    /// A method frame with one argument octet flipped decodes or fails cleanly.
    #[test]
    fn corrupted_method_frames_fail_cleanly(
        method in arbitrary_methods::any_method(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let mut wire = BytesMut::new();
        encode_method(1, &method, &mut wire);
        let payload_len = wire.len() - 8;
        let i = 7 + at.index(payload_len);
        wire[i] ^= xor;
        if let Err(e) = decode(&wire) {
            prop_assert!(e.reply_code().is_hard());
        }
    }
}
