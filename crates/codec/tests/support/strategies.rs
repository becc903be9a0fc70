//! Hand-written proptest strategies for the codec's value types: strings, field values and
//! tables, basic properties, frames.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use warren_codec::{
    BasicProperties, ContentHeader, FieldArray, FieldTable, FieldValue, Frame, LongStr, ShortStr,
};

/// Short strings: mostly short, sometimes at the 255-octet limit; any bytes (not only UTF-8).
pub fn short_str() -> impl Strategy<Value = ShortStr> {
    prop_oneof![
        4 => vec(any::<u8>(), 0..24),
        1 => vec(any::<u8>(), 250..=255),
    ]
    .prop_map(|v| ShortStr::new(v).expect("at most 255 octets"))
}

pub fn long_str() -> impl Strategy<Value = LongStr> {
    vec(any::<u8>(), 0..80).prop_map(LongStr::from)
}

/// Every field value type, tables and arrays nested up to four levels.
pub fn field_value() -> impl Strategy<Value = FieldValue> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(FieldValue::Bool),
        any::<i8>().prop_map(FieldValue::I8),
        any::<u8>().prop_map(FieldValue::U8),
        any::<i16>().prop_map(FieldValue::I16),
        any::<u16>().prop_map(FieldValue::U16),
        any::<i32>().prop_map(FieldValue::I32),
        any::<u32>().prop_map(FieldValue::U32),
        any::<i64>().prop_map(FieldValue::I64),
        // Every bit pattern, NaNs and signed zeros included: floats compare by bits.
        any::<u32>().prop_map(|b| FieldValue::F32(f32::from_bits(b))),
        any::<u64>().prop_map(|b| FieldValue::F64(f64::from_bits(b))),
        (any::<u8>(), any::<u32>()).prop_map(|(scale, value)| FieldValue::Decimal { scale, value }),
        long_str().prop_map(FieldValue::LongStr),
        vec(any::<u8>(), 0..24).prop_map(|v| FieldValue::Bytes(Bytes::from(v))),
        any::<u64>().prop_map(FieldValue::Timestamp),
        Just(FieldValue::Void),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(|v| FieldValue::Array(FieldArray(v))),
            vec((short_str(), inner), 0..6)
                .prop_map(|entries| FieldValue::Table(entries.into_iter().collect())),
        ]
    })
}

/// A table of arbitrary entries, duplicate keys included (kept in wire order).
pub fn field_table() -> impl Strategy<Value = FieldTable> {
    vec((short_str(), field_value()), 0..6).prop_map(|entries| entries.into_iter().collect())
}

/// Any subset of the 14 basic properties, each with an arbitrary value.
pub fn basic_properties() -> impl Strategy<Value = BasicProperties> {
    let s = || proptest::option::of(short_str());
    (
        (s(), s(), proptest::option::of(field_table())),
        (
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<u8>()),
        ),
        (s(), s(), s(), s()),
        proptest::option::of(any::<u64>()),
        (s(), s(), s(), s()),
    )
        .prop_map(
            |(
                (content_type, content_encoding, headers),
                (delivery_mode, priority),
                (correlation_id, reply_to, expiration, message_id),
                timestamp,
                (kind, user_id, app_id, cluster_id),
            )| BasicProperties {
                content_type,
                content_encoding,
                headers,
                delivery_mode,
                priority,
                correlation_id,
                reply_to,
                expiration,
                message_id,
                timestamp,
                kind,
                user_id,
                app_id,
                cluster_id,
            },
        )
}

/// A basic content header with arbitrary weight, body size and properties.
pub fn content_header() -> impl Strategy<Value = ContentHeader> {
    (any::<u16>(), any::<u64>(), basic_properties()).prop_map(|(weight, body_size, props)| {
        let mut h = ContentHeader::new(body_size, props);
        h.weight = weight;
        h
    })
}

/// Any frame: a method, a content header, a body (possibly empty) or a heartbeat.
pub fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        4 => (any::<u16>(), super::arbitrary_methods::any_method())
            .prop_map(|(channel, method)| Frame::Method { channel, method }),
        2 => (any::<u16>(), content_header())
            .prop_map(|(channel, header)| Frame::Header { channel, header: Box::new(header) }),
        2 => (any::<u16>(), vec(any::<u8>(), 0..64))
            .prop_map(|(channel, b)| Frame::Body { channel, payload: Bytes::from(b) }),
        1 => Just(Frame::Heartbeat),
    ]
}
