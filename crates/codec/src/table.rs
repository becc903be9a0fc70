//! Field tables and field arrays: AMQP's typed key/value maps (arguments, headers, properties).
//!
//! The type letters are RabbitMQ's (the 0-9-1 errata), which every real client uses:
//! `t` bool, `b` i8, `B` u8, `s` i16, `u` u16, `I` i32, `i` u32, `l` i64, `f` f32, `d` f64,
//! `D` decimal, `S` long string, `x` byte array, `A` array, `T` timestamp, `F` table, `V` void.
//!
//! Tables keep their entries in wire order (a `Vec`, not a map), so a decoded table re-encodes
//! to the same bytes; floats compare by bit pattern for the same reason.

use crate::error::DecodeError;
use crate::strings::{LongStr, ShortStr};
use crate::wire::{self, fail, label, PResult};
use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete as num;

/// Deepest nesting of tables/arrays accepted from the wire. Real headers (x-death) nest three
/// levels; the bound keeps a hostile frame from exhausting the stack.
pub const MAX_NESTING: usize = 64;

/// One typed value.
#[derive(Debug, Clone)]
pub enum FieldValue {
    Bool(bool),
    I8(i8),
    U8(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    F32(f32),
    F64(f64),
    Decimal { scale: u8, value: u32 },
    LongStr(LongStr),
    Bytes(Bytes),
    Array(FieldArray),
    Timestamp(u64),
    Table(FieldTable),
    Void,
}

/// A field table: ordered (key, value) entries as they appear on the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldTable(Vec<(ShortStr, FieldValue)>);

/// A field array.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldArray(pub Vec<FieldValue>);

impl PartialEq for FieldValue {
    fn eq(&self, other: &Self) -> bool {
        use FieldValue::*;
        match (self, other) {
            (Bool(a), Bool(b)) => a == b,
            (I8(a), I8(b)) => a == b,
            (U8(a), U8(b)) => a == b,
            (I16(a), I16(b)) => a == b,
            (U16(a), U16(b)) => a == b,
            (I32(a), I32(b)) => a == b,
            (U32(a), U32(b)) => a == b,
            (I64(a), I64(b)) => a == b,
            (F32(a), F32(b)) => a.to_bits() == b.to_bits(),
            (F64(a), F64(b)) => a.to_bits() == b.to_bits(),
            (
                Decimal {
                    scale: s1,
                    value: v1,
                },
                Decimal {
                    scale: s2,
                    value: v2,
                },
            ) => s1 == s2 && v1 == v2,
            (LongStr(a), LongStr(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Array(a), Array(b)) => a == b,
            (Timestamp(a), Timestamp(b)) => a == b,
            (Table(a), Table(b)) => a == b,
            (Void, Void) => true,
            _ => false,
        }
    }
}

impl FieldValue {
    /// The wire type letter.
    pub fn type_letter(&self) -> u8 {
        use FieldValue::*;
        match self {
            Bool(_) => b't',
            I8(_) => b'b',
            U8(_) => b'B',
            I16(_) => b's',
            U16(_) => b'u',
            I32(_) => b'I',
            U32(_) => b'i',
            I64(_) => b'l',
            F32(_) => b'f',
            F64(_) => b'd',
            Decimal { .. } => b'D',
            LongStr(_) => b'S',
            Bytes(_) => b'x',
            Array(_) => b'A',
            Timestamp(_) => b'T',
            Table(_) => b'F',
            Void => b'V',
        }
    }

    /// RabbitMQ's name for this value's type, as its error texts print it.
    pub fn rabbit_type_name(&self) -> &'static str {
        use FieldValue::*;
        match self {
            Bool(_) => "bool",
            I8(_) => "byte",
            U8(_) => "unsignedbyte",
            I16(_) => "short",
            U16(_) => "unsignedshort",
            I32(_) => "signedint",
            U32(_) => "unsignedint",
            I64(_) => "long",
            F32(_) => "float",
            F64(_) => "double",
            Decimal { .. } => "decimal",
            LongStr(_) => "longstr",
            Bytes(_) => "binary",
            Array(_) => "array",
            Timestamp(_) => "timestamp",
            Table(_) => "table",
            Void => "void",
        }
    }

    /// Any integer type as i64 (what RabbitMQ accepts for numeric arguments such as
    /// `x-max-length` or `x-message-ttl`, whichever width the client chose).
    pub fn as_i64(&self) -> Option<i64> {
        use FieldValue::*;
        match *self {
            I8(v) => Some(v.into()),
            U8(v) => Some(v.into()),
            I16(v) => Some(v.into()),
            U16(v) => Some(v.into()),
            I32(v) => Some(v.into()),
            U32(v) => Some(v.into()),
            I64(v) => Some(v),
            Timestamp(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// A long string's text, if this is one and it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::LongStr(s) => s.as_str(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            FieldValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&FieldTable> {
        match self {
            FieldValue::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Appends the type letter and value.
    pub fn encode(&self, buf: &mut BytesMut) {
        use FieldValue::*;
        buf.put_u8(self.type_letter());
        match self {
            Bool(v) => buf.put_u8(u8::from(*v)),
            I8(v) => buf.put_i8(*v),
            U8(v) => buf.put_u8(*v),
            I16(v) => buf.put_i16(*v),
            U16(v) => buf.put_u16(*v),
            I32(v) => buf.put_i32(*v),
            U32(v) => buf.put_u32(*v),
            I64(v) => buf.put_i64(*v),
            F32(v) => buf.put_f32(*v),
            F64(v) => buf.put_f64(*v),
            Decimal { scale, value } => {
                buf.put_u8(*scale);
                buf.put_u32(*value);
            }
            LongStr(s) => wire::put_long_str(buf, s),
            Bytes(b) => {
                buf.put_u32(b.len() as u32);
                buf.put_slice(b);
            }
            Array(a) => a.encode(buf),
            Timestamp(t) => buf.put_u64(*t),
            Table(t) => t.encode(buf),
            Void => {}
        }
    }

    /// Decodes a type letter and value. `depth` counts enclosing tables/arrays.
    pub(crate) fn decode<'a>(base: &Bytes, i: &'a [u8], depth: usize) -> PResult<'a, FieldValue> {
        use FieldValue as V;
        let (i, tag) = wire::octet(i)?;
        match tag {
            b't' => wire::octet(i).map(|(i, v)| (i, V::Bool(v != 0))),
            b'b' => num::be_i8(i).map(|(i, v)| (i, V::I8(v))),
            b'B' => num::be_u8(i).map(|(i, v)| (i, V::U8(v))),
            b's' => num::be_i16(i).map(|(i, v)| (i, V::I16(v))),
            b'u' => num::be_u16(i).map(|(i, v)| (i, V::U16(v))),
            b'I' => num::be_i32(i).map(|(i, v)| (i, V::I32(v))),
            b'i' => num::be_u32(i).map(|(i, v)| (i, V::U32(v))),
            // RabbitMQ's parser also reads the spec's `L` as a signed 64-bit integer (and
            // re-encodes it as `l`); spec-following encoders send it.
            b'l' | b'L' => num::be_i64(i).map(|(i, v)| (i, V::I64(v))),
            b'f' => num::be_f32(i).map(|(i, v)| (i, V::F32(v))),
            b'd' => num::be_f64(i).map(|(i, v)| (i, V::F64(v))),
            b'D' => {
                let (i, scale) = wire::octet(i)?;
                let (i, value) = wire::long(i)?;
                Ok((i, V::Decimal { scale, value }))
            }
            b'S' => wire::long_str(base, i).map(|(i, v)| (i, V::LongStr(v))),
            b'x' => {
                let (i, len) = wire::long(i)?;
                wire::raw(base, len as usize, i).map(|(i, v)| (i, V::Bytes(v)))
            }
            b'A' => FieldArray::decode_nested(base, i, depth + 1).map(|(i, v)| (i, V::Array(v))),
            b'T' => wire::longlong(i).map(|(i, v)| (i, V::Timestamp(v))),
            b'F' => FieldTable::decode_nested(base, i, depth + 1).map(|(i, v)| (i, V::Table(v))),
            b'V' => Ok((i, V::Void)),
            other => fail(DecodeError::UnknownFieldType(other)),
        }
    }
}

/// Splits off a u32-length-prefixed block, checking the nesting bound first.
fn length_prefixed<'a>(i: &'a [u8], depth: usize) -> PResult<'a, &'a [u8]> {
    if depth > MAX_NESTING {
        return fail(DecodeError::TooDeep(MAX_NESTING));
    }
    let (i, len) = wire::long(i)?;
    label("field table", nom::bytes::complete::take(len as usize)(i))
}

impl FieldTable {
    pub fn new() -> Self {
        FieldTable(Vec::new())
    }

    /// Entries in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&ShortStr, &FieldValue)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first value under `key` (RabbitMQ, like most clients, reads the first one).
    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Replaces the value under `key`, or appends the entry.
    pub fn insert(&mut self, key: ShortStr, value: FieldValue) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Appends an entry without looking for an existing key (wire-faithful construction).
    pub fn push(&mut self, key: ShortStr, value: FieldValue) {
        self.0.push((key, value));
    }

    pub fn remove(&mut self, key: &str) -> Option<FieldValue> {
        let pos = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(pos).1)
    }

    pub fn into_entries(self) -> Vec<(ShortStr, FieldValue)> {
        self.0
    }

    /// Appends the u32 length and the entries.
    pub fn encode(&self, buf: &mut BytesMut) {
        let at = wire::begin_len(buf);
        for (k, v) in &self.0 {
            wire::put_short_str(buf, k);
            v.encode(buf);
        }
        wire::patch_len(buf, at);
    }

    /// Decodes a length-prefixed table from the start of `i`, a view into `base`.
    pub fn decode<'a>(base: &Bytes, i: &'a [u8]) -> PResult<'a, FieldTable> {
        Self::decode_nested(base, i, 0)
    }

    /// Decodes a whole buffer holding exactly one length-prefixed table.
    pub fn decode_bytes(bytes: &Bytes) -> Result<FieldTable, DecodeError> {
        wire::finish("field table", Self::decode(bytes, bytes))
    }

    fn decode_nested<'a>(base: &Bytes, i: &'a [u8], depth: usize) -> PResult<'a, FieldTable> {
        let (rest, mut body) = length_prefixed(i, depth)?;
        let mut entries = Vec::new();
        while !body.is_empty() {
            let (b, key) = label("field table key", wire::short_str(base, body))?;
            let (b, value) = label("field table value", FieldValue::decode(base, b, depth))?;
            entries.push((key, value));
            body = b;
        }
        Ok((rest, FieldTable(entries)))
    }
}

impl FieldArray {
    pub fn encode(&self, buf: &mut BytesMut) {
        let at = wire::begin_len(buf);
        for v in &self.0 {
            v.encode(buf);
        }
        wire::patch_len(buf, at);
    }

    fn decode_nested<'a>(base: &Bytes, i: &'a [u8], depth: usize) -> PResult<'a, FieldArray> {
        let (rest, mut body) = length_prefixed(i, depth)?;
        let mut values = Vec::new();
        while !body.is_empty() {
            let (b, value) = label("field array value", FieldValue::decode(base, body, depth))?;
            values.push(value);
            body = b;
        }
        Ok((rest, FieldArray(values)))
    }
}

impl FromIterator<(ShortStr, FieldValue)> for FieldTable {
    fn from_iter<T: IntoIterator<Item = (ShortStr, FieldValue)>>(iter: T) -> Self {
        FieldTable(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(t: &FieldTable) -> FieldTable {
        let mut buf = BytesMut::new();
        t.encode(&mut buf);
        FieldTable::decode_bytes(&buf.freeze()).unwrap()
    }

    #[test]
    fn every_type_round_trips_in_order() {
        let mut inner = FieldTable::new();
        inner.push(ShortStr::from_static("n"), FieldValue::Void);
        let t: FieldTable = [
            ("z", FieldValue::Bool(true)),
            ("a", FieldValue::I8(-3)),
            ("b", FieldValue::U8(200)),
            ("c", FieldValue::I16(-300)),
            ("d", FieldValue::U16(60000)),
            ("e", FieldValue::I32(-70000)),
            ("f", FieldValue::U32(4_000_000_000)),
            ("g", FieldValue::I64(i64::MIN)),
            ("h", FieldValue::F32(f32::NAN)),
            ("i", FieldValue::F64(-0.0)),
            (
                "j",
                FieldValue::Decimal {
                    scale: 2,
                    value: 12345,
                },
            ),
            ("k", FieldValue::LongStr("héllo".into())),
            ("l", FieldValue::Bytes(Bytes::from_static(b"\x00\xff"))),
            (
                "m",
                FieldValue::Array(FieldArray(vec![FieldValue::I32(1), FieldValue::Void])),
            ),
            ("n", FieldValue::Timestamp(1_700_000_000)),
            ("o", FieldValue::Table(inner)),
            ("p", FieldValue::Void),
        ]
        .into_iter()
        .map(|(k, v)| (ShortStr::from_static(k), v))
        .collect();
        assert_eq!(roundtrip(&t), t);
        let keys: Vec<_> = roundtrip(&t).iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys[0], "z");
    }

    #[test]
    fn unknown_type_letter_is_a_syntax_error() {
        let bytes = Bytes::from_static(b"\x00\x00\x00\x03\x01kQ");
        let err = FieldTable::decode_bytes(&bytes).unwrap_err();
        assert_eq!(err, DecodeError::UnknownFieldType(b'Q'));
        assert_eq!(err.reply_code() as u16, 502);
    }

    #[test]
    fn capital_l_reads_as_a_signed_64_bit_integer() {
        let bytes = Bytes::from_static(b"\x00\x00\x00\x0b\x01kL\xff\xff\xff\xff\xff\xff\xff\xfe");
        let t = FieldTable::decode_bytes(&bytes).unwrap();
        assert_eq!(t.get("k"), Some(&FieldValue::I64(-2)));
    }

    #[test]
    fn length_past_end_is_truncated() {
        let bytes = Bytes::from_static(b"\x00\x00\x00\x10\x01kt\x01");
        assert!(matches!(
            FieldTable::decode_bytes(&bytes),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        // 10k nested arrays, each claiming the rest of the buffer.
        let depth = 10_000usize;
        let mut v = Vec::new();
        for level in 0..depth {
            let remaining = (depth - level - 1) * 5;
            v.push(b'A');
            v.extend_from_slice(&(remaining as u32).to_be_bytes());
        }
        let mut t = Vec::new();
        t.extend_from_slice(&((v.len() + 2) as u32).to_be_bytes());
        t.push(1);
        t.push(b'k');
        t.extend_from_slice(&v);
        let err = FieldTable::decode_bytes(&Bytes::from(t)).unwrap_err();
        assert_eq!(err, DecodeError::TooDeep(MAX_NESTING));
    }
}
