//! Round-trip property tests: every method, arbitrary property sets and field tables, and
//! streams of frames decoded at every split point.

mod support;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::HashSet;
use support::arbitrary_methods;
use support::strategies::{basic_properties, content_header, field_table, field_value, frame};
use support::{drain, encode};
use warren_codec::frame::{encode_method, FrameDecoder};
use warren_codec::{ContentHeader, DecodeError, FieldTable, Frame, Method};

/// Case counts are kept small so the whole suite runs in a few seconds in debug builds.
fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Encodes `frame`, decodes it back with no frame_max, and checks equality both ways:
/// the decoded frame equals the original and re-encodes to the very same bytes.
fn assert_frame_round_trips(frame: &Frame) -> Result<(), TestCaseError> {
    let wire = encode(frame);
    let mut buf = wire.clone();
    let decoded = FrameDecoder::new(0)
        .decode(&mut buf)
        .map_err(|e| TestCaseError::fail(format!("{e:?} decoding {frame:?}")))?
        .ok_or_else(|| TestCaseError::fail("a whole frame asked for more bytes"))?;
    prop_assert!(buf.is_empty(), "{} bytes left over", buf.len());
    prop_assert_eq!(&decoded, frame);
    prop_assert_eq!(&encode(&decoded)[..], &wire[..]);
    Ok(())
}

#[test]
fn the_generated_strategies_cover_every_method_once() {
    let all = arbitrary_methods::all();
    assert_eq!(
        all.len(),
        66,
        "AMQP 0-9-1 with RabbitMQ's extensions has 66 methods"
    );
    let mut runner = TestRunner::new(config(1));
    let mut ids = HashSet::new();
    for (name, strategy) in &all {
        let m = strategy.new_tree(&mut runner).unwrap().current();
        assert_eq!(m.name(), *name);
        assert!(
            ids.insert((m.class_id(), m.method_id())),
            "{name}: duplicate ids"
        );
    }
}

#[test]
fn every_method_round_trips_with_arbitrary_arguments() {
    for (name, strategy) in arbitrary_methods::all() {
        let mut runner = TestRunner::new(config(16));
        runner
            .run(&(any::<u16>(), strategy), |(channel, method)| {
                assert_frame_round_trips(&Frame::Method { channel, method })
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn every_unassigned_class_and_method_id_is_unknown() {
    let mut known = HashSet::new();
    let mut runner = TestRunner::new(config(1));
    for (_, strategy) in arbitrary_methods::all() {
        let m = strategy.new_tree(&mut runner).unwrap().current();
        known.insert((m.class_id(), m.method_id()));
    }
    let base = Bytes::new();
    for class_id in 0..=130u16 {
        for method_id in 0..=130u16 {
            if known.contains(&(class_id, method_id)) {
                continue;
            }
            assert_eq!(
                Method::decode_args(class_id, method_id, &base, &[]),
                Err(DecodeError::UnknownMethod {
                    class_id,
                    method_id
                })
            );
        }
    }
    for (class_id, method_id) in [(u16::MAX, 10), (60, u16::MAX), (u16::MAX, u16::MAX)] {
        assert!(matches!(
            Method::decode_args(class_id, method_id, &base, &[]),
            Err(DecodeError::UnknownMethod { .. })
        ));
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn content_headers_round_trip_with_any_property_set(
        channel in any::<u16>(),
        header in content_header(),
    ) {
        let props = &header.properties;
        // The flags word names exactly the properties that are present.
        let present = [
            props.content_type.is_some(),
            props.content_encoding.is_some(),
            props.headers.is_some(),
            props.delivery_mode.is_some(),
            props.priority.is_some(),
            props.correlation_id.is_some(),
            props.reply_to.is_some(),
            props.expiration.is_some(),
            props.message_id.is_some(),
            props.timestamp.is_some(),
            props.kind.is_some(),
            props.user_id.is_some(),
            props.app_id.is_some(),
            props.cluster_id.is_some(),
        ];
        let expected_flags = present
            .iter()
            .enumerate()
            .filter(|(_, p)| **p)
            .fold(0u16, |f, (i, _)| f | 1 << (15 - i));
        prop_assert_eq!(props.flags(), expected_flags);
        prop_assert_eq!(&header.raw_properties[..2], &expected_flags.to_be_bytes()[..]);
        let frame = Frame::Header { channel, header: Box::new(header.clone()) };
        assert_frame_round_trips(&frame)?;
        // The decoded raw property bytes are exactly the encoded ones.
        let mut buf = encode(&frame);
        match FrameDecoder::new(0).decode(&mut buf).unwrap() {
            Some(Frame::Header { header: d, .. }) => {
                prop_assert_eq!(d.raw_properties, header.raw_properties);
            }
            other => prop_assert!(false, "decoded {:?}", other),
        }
    }

    #[test]
    fn properties_behind_continuation_flag_words_decode_the_same(
        props in basic_properties(),
        extra_words in 1usize..4,
    ) {
        // The same properties with the continuation bit set and empty extra flag words.
        let plain = ContentHeader::new(7, props.clone());
        let mut payload = BytesMut::new();
        payload.extend_from_slice(&[0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        let flags = props.flags();
        payload.extend_from_slice(&(flags | 1).to_be_bytes());
        for i in 0..extra_words {
            let last = i + 1 == extra_words;
            payload.extend_from_slice(if last { &[0, 0] } else { &[0, 1] });
        }
        payload.extend_from_slice(&plain.raw_properties[2..]);
        let base = payload.freeze();
        let decoded = ContentHeader::decode(&base, &base).unwrap();
        prop_assert_eq!(&decoded, &plain);
        // Kept as received, so forwarding it is byte-exact.
        prop_assert_eq!(&decoded.raw_properties[..], &base[12..]);
    }

    #[test]
    fn field_tables_round_trip_in_wire_order(table in field_table()) {
        let mut wire = BytesMut::new();
        table.encode(&mut wire);
        let wire = wire.freeze();
        let decoded = FieldTable::decode_bytes(&wire).unwrap();
        prop_assert_eq!(&decoded, &table);
        let keys: Vec<_> = decoded.iter().map(|(k, _)| k.clone()).collect();
        let expected: Vec<_> = table.iter().map(|(k, _)| k.clone()).collect();
        prop_assert_eq!(keys, expected);
        let mut again = BytesMut::new();
        decoded.encode(&mut again);
        prop_assert_eq!(&again[..], &wire[..]);
    }

    #[test]
    fn every_field_value_round_trips_inside_a_table_and_an_array(value in field_value()) {
        let table: FieldTable = [(
            warren_codec::ShortStr::from_static("k"),
            warren_codec::FieldValue::Array(warren_codec::FieldArray(vec![value.clone()])),
        )]
        .into_iter()
        .collect();
        let mut wire = BytesMut::new();
        table.encode(&mut wire);
        let decoded = FieldTable::decode_bytes(&wire.freeze()).unwrap();
        match decoded.get("k") {
            Some(warren_codec::FieldValue::Array(a)) => prop_assert_eq!(&a.0, &vec![value]),
            other => prop_assert!(false, "decoded {:?}", other),
        }
    }

    #[test]
    fn a_stream_decodes_the_same_in_arbitrary_chunks(
        frames in proptest::collection::vec(frame(), 1..8),
        chunks in proptest::collection::vec(1usize..40, 1..64),
    ) {
        let mut wire = BytesMut::new();
        for f in &frames {
            f.encode(&mut wire);
        }
        let dec = FrameDecoder::new(0);
        let (mut buf, mut got, mut at) = (BytesMut::new(), Vec::new(), 0);
        for len in chunks.iter().cycle() {
            if at == wire.len() {
                break;
            }
            let end = (at + len).min(wire.len());
            buf.extend_from_slice(&wire[at..end]);
            at = end;
            drain(&dec, &mut buf, &mut got);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn method_frames_decode_under_the_frame_max_that_fits_them(
        channel in any::<u16>(),
        method in arbitrary_methods::any_method(),
    ) {
        let mut wire = BytesMut::new();
        encode_method(channel, &method, &mut wire);
        let total = wire.len() as u32;
        let mut at_limit = wire.clone();
        let decoded = FrameDecoder::new(total).decode(&mut at_limit).unwrap();
        prop_assert_eq!(decoded, Some(Frame::Method { channel, method }));
        let mut over = wire.clone();
        prop_assert_eq!(
            FrameDecoder::new(total - 1).decode(&mut over),
            Err(DecodeError::FrameTooLarge { size: u64::from(total), max: total - 1 })
        );
        prop_assert_eq!(over.len(), wire.len(), "a refused frame consumes nothing");
    }
}

proptest! {
    // Quadratic in the stream length: fewer cases.
    #![proptest_config(config(20))]

    #[test]
    fn a_stream_decodes_the_same_at_every_split_point(
        frames in proptest::collection::vec(frame(), 1..6),
    ) {
        let mut wire = BytesMut::new();
        for f in &frames {
            f.encode(&mut wire);
        }
        let dec = FrameDecoder::new(0);
        for split in 0..=wire.len() {
            let mut buf = BytesMut::from(&wire[..split]);
            let mut got = Vec::new();
            drain(&dec, &mut buf, &mut got);
            buf.extend_from_slice(&wire[split..]);
            drain(&dec, &mut buf, &mut got);
            prop_assert!(buf.is_empty(), "split {}: {} bytes left", split, buf.len());
            prop_assert_eq!(&got, &frames, "split at {}", split);
        }
    }
}
