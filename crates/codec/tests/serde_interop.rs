//! Cross-checks our field-table codec against amqp_serde 0.4.3, an independent implementation:
//! tables amqp_serde encodes must decode with ours to the same values, and the other way round.
//!
//! amqp_serde keeps tables in a `HashMap`, so key order is not compared: both sides are
//! normalised (entries sorted by key, recursively) first. Arrays keep their order. Where no
//! table has more than one entry the order question disappears, and the bytes must match exactly.
//!
//! The last tests pin the amqp_serde behaviour docs/codec.md relies on, so an upgrade that
//! changes it fails here and the doc gets revisited.

use amqp_serde::types as theirs;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use warren_codec::{FieldArray, FieldTable, FieldValue, LongStr, ShortStr};

/// Sorts every table's entries by key, at every depth.
fn normalise_table(t: &FieldTable) -> FieldTable {
    let mut entries: Vec<(ShortStr, FieldValue)> = t
        .iter()
        .map(|(k, v)| (k.clone(), normalise_value(v)))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

fn normalise_value(v: &FieldValue) -> FieldValue {
    match v {
        FieldValue::Table(t) => FieldValue::Table(normalise_table(t)),
        FieldValue::Array(a) => {
            FieldValue::Array(FieldArray(a.0.iter().map(normalise_value).collect()))
        }
        other => other.clone(),
    }
}

fn encode_ours(t: &FieldTable) -> Bytes {
    let mut buf = BytesMut::new();
    t.encode(&mut buf);
    buf.freeze()
}

/// Theirs encodes (their own serializer), ours decodes.
fn theirs_then_ours(t: &FieldTable) -> FieldTable {
    let there = theirs::FieldTable::try_from(t).expect("representable in amqp_serde");
    let mut buf = BytesMut::new();
    amqp_serde::to_buffer(&there, &mut buf).expect("amqp_serde encodes");
    FieldTable::decode_bytes(&buf.freeze()).expect("our decoder reads amqp_serde's bytes")
}

/// Ours encodes, theirs decodes (their own deserializer).
fn ours_then_theirs(t: &FieldTable) -> FieldTable {
    let bytes = encode_ours(t);
    let there: theirs::FieldTable =
        amqp_serde::from_bytes(&bytes).expect("amqp_serde reads our bytes");
    FieldTable::try_from(&there).expect("converts back")
}

fn k(s: &'static str) -> ShortStr {
    ShortStr::from_static(s)
}

/// One of every type letter, nested tables and arrays included.
fn every_type() -> FieldTable {
    let mut inner = FieldTable::new();
    inner.push(k("count"), FieldValue::I64(3));
    inner.push(k("reason"), FieldValue::LongStr("expired".into()));
    inner.push(k("queue"), FieldValue::LongStr("q1".into()));
    [
        ("bool", FieldValue::Bool(true)),
        ("i8", FieldValue::I8(-3)),
        ("u8", FieldValue::U8(200)),
        ("i16", FieldValue::I16(-300)),
        ("u16", FieldValue::U16(60000)),
        ("i32", FieldValue::I32(-70000)),
        ("u32", FieldValue::U32(4_000_000_000)),
        ("i64", FieldValue::I64(i64::MIN)),
        ("f32", FieldValue::F32(f32::NAN)),
        ("f64", FieldValue::F64(-0.0)),
        (
            "decimal",
            FieldValue::Decimal {
                scale: 2,
                value: 0xffff_fff0,
            },
        ),
        ("longstr", FieldValue::LongStr("héllo".into())),
        (
            "bytes",
            FieldValue::Bytes(Bytes::from_static(b"\x00\xff\xce")),
        ),
        (
            "array",
            FieldValue::Array(FieldArray(vec![
                FieldValue::I32(1),
                FieldValue::Void,
                FieldValue::Table(inner.clone()),
                FieldValue::Array(FieldArray(vec![])),
            ])),
        ),
        ("timestamp", FieldValue::Timestamp(1_700_000_000)),
        ("table", FieldValue::Table(inner)),
        ("void", FieldValue::Void),
        ("", FieldValue::Table(FieldTable::new())),
    ]
    .into_iter()
    .map(|(key, v)| (k(key), v))
    .collect()
}

#[test]
fn amqp_serde_encodes_every_type_and_we_decode_it() {
    let t = every_type();
    assert_eq!(normalise_table(&theirs_then_ours(&t)), normalise_table(&t));
}

#[test]
fn we_encode_every_type_and_amqp_serde_decodes_it() {
    let t = every_type();
    assert_eq!(normalise_table(&ours_then_theirs(&t)), normalise_table(&t));
}

#[test]
fn single_entry_tables_are_byte_identical() {
    for (key, value) in every_type().iter() {
        // Nested multi-entry tables would be reordered by amqp_serde's HashMap.
        if matches!(value, FieldValue::Table(t) if t.len() > 1)
            || matches!(value, FieldValue::Array(_))
        {
            continue;
        }
        let mut one = FieldTable::new();
        one.push(key.clone(), value.clone());
        let there = theirs::FieldTable::try_from(&one).unwrap();
        assert_eq!(
            amqp_serde::to_bytes(&there).unwrap(),
            encode_ours(&one).to_vec(),
            "key {key}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Random tables, within what amqp_serde can hold: UTF-8 strings, one value per key.

fn leaf() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        any::<bool>().prop_map(FieldValue::Bool),
        any::<i8>().prop_map(FieldValue::I8),
        any::<u8>().prop_map(FieldValue::U8),
        any::<i16>().prop_map(FieldValue::I16),
        any::<u16>().prop_map(FieldValue::U16),
        any::<i32>().prop_map(FieldValue::I32),
        any::<u32>().prop_map(FieldValue::U32),
        any::<i64>().prop_map(FieldValue::I64),
        any::<u32>().prop_map(|b| FieldValue::F32(f32::from_bits(b))),
        any::<u64>().prop_map(|b| FieldValue::F64(f64::from_bits(b))),
        (any::<u8>(), any::<u32>()).prop_map(|(scale, value)| FieldValue::Decimal { scale, value }),
        ".{0,24}".prop_map(|s| FieldValue::LongStr(LongStr::from(s))),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(|b| FieldValue::Bytes(b.into())),
        any::<u64>().prop_map(FieldValue::Timestamp),
        Just(FieldValue::Void),
    ]
}

fn table_from(entries: std::collections::BTreeMap<String, FieldValue>) -> FieldTable {
    entries
        .into_iter()
        .map(|(key, v)| (ShortStr::try_from(key).unwrap(), v))
        .collect()
}

/// Values whose nested tables hold at most `max_entries` entries.
fn value(max_entries: usize) -> impl Strategy<Value = FieldValue> {
    leaf().prop_recursive(3, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6)
                .prop_map(|v| FieldValue::Array(FieldArray(v))),
            proptest::collection::btree_map(".{0,8}", inner, 0..=max_entries)
                .prop_map(|m| FieldValue::Table(table_from(m))),
        ]
    })
}

fn table(max_entries: usize) -> impl Strategy<Value = FieldTable> {
    proptest::collection::btree_map(".{0,8}", value(max_entries), 0..=max_entries)
        .prop_map(table_from)
}

proptest! {
    #[test]
    fn random_tables_agree_both_ways(t in table(6)) {
        prop_assert_eq!(normalise_table(&theirs_then_ours(&t)), normalise_table(&t));
        prop_assert_eq!(normalise_table(&ours_then_theirs(&t)), normalise_table(&t));
    }

    #[test]
    fn random_unordered_free_tables_are_byte_identical(t in table(1)) {
        let there = theirs::FieldTable::try_from(&t).unwrap();
        prop_assert_eq!(amqp_serde::to_bytes(&there).unwrap(), encode_ours(&t).to_vec());
    }
}

// ---------------------------------------------------------------------------------------------
// amqp_serde 0.4.3 behaviour that docs/codec.md records. If one of these starts failing after
// an upgrade, update the doc (and perhaps what we use amqp_serde for).

fn amqp_serde_decode(
    bytes: &[u8],
) -> std::thread::Result<Result<theirs::FieldTable, amqp_serde::Error>> {
    let bytes = bytes.to_vec();
    std::panic::catch_unwind(move || amqp_serde::from_bytes::<theirs::FieldTable>(&bytes))
}

#[test]
fn amqp_serde_panics_on_a_non_letter_type_tag() {
    // { "k": <tag 0x00> }
    let bytes = b"\x00\x00\x00\x03\x01k\x00";
    assert!(
        amqp_serde_decode(bytes).is_err(),
        "amqp_serde no longer panics on tag 0x00"
    );
    let ours = FieldTable::decode_bytes(&Bytes::from_static(bytes)).unwrap_err();
    assert_eq!(ours, warren_codec::DecodeError::UnknownFieldType(0));
}

#[cfg(debug_assertions)]
#[test]
fn amqp_serde_panics_in_debug_on_a_table_length_shorter_than_its_entries() {
    // Declared length 3, entry "k" t 1 is 4 bytes.
    let bytes = b"\x00\x00\x00\x03\x01kt\x01";
    assert!(
        amqp_serde_decode(bytes).is_err(),
        "amqp_serde no longer panics here"
    );
    assert!(FieldTable::decode_bytes(&Bytes::from_static(bytes)).is_err());
}

#[test]
fn amqp_serde_refuses_a_non_utf8_long_string_we_accept() {
    let bytes = b"\x00\x00\x00\x08\x01kS\x00\x00\x00\x01\xff";
    assert!(matches!(amqp_serde_decode(bytes), Ok(Err(_))));
    let ours = FieldTable::decode_bytes(&Bytes::from_static(bytes)).unwrap();
    assert_eq!(
        ours.get("k").unwrap(),
        &FieldValue::LongStr(LongStr::new(&b"\xff"[..]))
    );
}

#[test]
fn amqp_serde_tables_are_hash_maps_keeping_the_last_duplicate() {
    // { "k": true, "k": false }: we keep both and `get` answers the first; amqp_serde keeps one.
    let bytes = b"\x00\x00\x00\x08\x01kt\x01\x01kt\x00";
    let there = amqp_serde_decode(bytes).unwrap().unwrap();
    let map: &std::collections::HashMap<theirs::ShortStr, theirs::FieldValue> = there.as_ref();
    assert_eq!(map.len(), 1);
    assert_eq!(map.values().next(), Some(&theirs::FieldValue::t(false)));
    let ours = FieldTable::decode_bytes(&Bytes::from_static(bytes)).unwrap();
    assert_eq!(ours.len(), 2);
    assert_eq!(ours.get("k"), Some(&FieldValue::Bool(true)));
}
