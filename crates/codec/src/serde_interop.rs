//! Conversions between our field values and `amqp_serde`'s (`amqp_serde::types`, version 0.4.3).
//!
//! amqp_serde is never the first reader of client bytes (docs/codec.md says why). These
//! conversions are where the two meet: once our parser has validated a table, code that wants
//! amqp_serde's types or its serializer can convert, and our tests use amqp_serde as an
//! independent second implementation to cross-check the codec.
//!
//! Every conversion is a `TryFrom` on a reference, both ways, and copies the data (this is not a
//! hot-path API).
//!
//! Ours → theirs fails, with an [`InteropError`], where amqp_serde cannot hold the value:
//! - a short string (table key) or long string that is not UTF-8: theirs hold a `String`
//!   ([`InteropError::NotUtf8`]);
//! - a key that appears twice in one table: their table is a `HashMap` that keeps one value,
//!   and its length prefix would still count both entries ([`InteropError::DuplicateKey`]);
//! - a table, array, string or byte array over `u32::MAX` bytes ([`InteropError::TooLong`]),
//!   refused before amqp_serde's own size arithmetic could overflow.
//!
//! Decimals convert without loss: our `u32` value and their `i32` are the same four octets.
//!
//! Theirs → ours fails only on a short string longer than 255 bytes, which their constructors
//! refuse but a value deserialized from some other serde format can hold. Table entries come out
//! sorted by key bytes, because a `HashMap` has no order to keep. The length prefixes amqp_serde
//! caches inside its values are ignored; the contents are what convert.

use crate::strings::{LongStr, ShortStr};
use crate::table::{FieldArray, FieldTable, FieldValue};
use amqp_serde::types as theirs;
use bytes::Bytes;

/// The largest length a `u32` length prefix can state.
const U32_LIMIT: u64 = u32::MAX as u64;

/// A value that cannot be represented on the other side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteropError {
    /// amqp_serde keeps strings as `String`, so the bytes must be UTF-8.
    #[error("{what} is not valid UTF-8, which amqp_serde requires")]
    NotUtf8 { what: &'static str },

    /// amqp_serde's table is a `HashMap`: one value per key.
    #[error("field table key {0:?} appears more than once; amqp_serde keeps one value per key")]
    DuplicateKey(String),

    /// A length beyond what the wire format (or a short string) can state.
    #[error("{what} of {len} bytes is over its limit of {max} bytes")]
    TooLong {
        what: &'static str,
        len: u64,
        max: u64,
    },

    /// amqp_serde's serializer refused a value we only read back through it (decimals, whose
    /// fields amqp_serde keeps private).
    #[error("amqp_serde could not encode a {0}")]
    Unreadable(&'static str),
}

fn too_long(what: &'static str, len: u64, max: u64) -> InteropError {
    InteropError::TooLong { what, len, max }
}

fn check_u32(what: &'static str, len: u64) -> Result<u32, InteropError> {
    u32::try_from(len).map_err(|_| too_long(what, len, U32_LIMIT))
}

// ---------------------------------------------------------------------------------------------
// Ours → theirs.

impl TryFrom<&ShortStr> for theirs::ShortStr {
    type Error = InteropError;

    fn try_from(s: &ShortStr) -> Result<Self, InteropError> {
        let text = s.as_str().ok_or(InteropError::NotUtf8 {
            what: "short string",
        })?;
        // Our ShortStr is at most 255 bytes, so their length check cannot fail.
        theirs::ShortStr::try_from(text).map_err(|_| too_long("short string", s.len() as u64, 255))
    }
}

impl TryFrom<&LongStr> for theirs::LongStr {
    type Error = InteropError;

    fn try_from(s: &LongStr) -> Result<Self, InteropError> {
        let text = s.as_str().ok_or(InteropError::NotUtf8 {
            what: "long string",
        })?;
        check_u32("long string", s.len() as u64)?;
        theirs::LongStr::try_from(text)
            .map_err(|_| too_long("long string", s.len() as u64, U32_LIMIT))
    }
}

impl TryFrom<&FieldValue> for theirs::FieldValue {
    type Error = InteropError;

    fn try_from(v: &FieldValue) -> Result<Self, InteropError> {
        value_to_theirs(v).map(|(value, _)| value)
    }
}

impl TryFrom<&FieldArray> for theirs::FieldArray {
    type Error = InteropError;

    fn try_from(a: &FieldArray) -> Result<Self, InteropError> {
        array_to_theirs(a).map(|(array, _)| array)
    }
}

impl TryFrom<&FieldTable> for theirs::FieldTable {
    type Error = InteropError;

    fn try_from(t: &FieldTable) -> Result<Self, InteropError> {
        table_to_theirs(t).map(|(table, _)| table)
    }
}

/// Converts one value and returns its encoded size (type letter included), so enclosing
/// tables and arrays can check their length without walking the subtree again.
fn value_to_theirs(v: &FieldValue) -> Result<(theirs::FieldValue, u64), InteropError> {
    use theirs::FieldValue as T;
    use FieldValue as V;
    Ok(match v {
        V::Bool(x) => (T::t(*x), 2),
        V::I8(x) => (T::b(*x), 2),
        V::U8(x) => (T::B(*x), 2),
        V::I16(x) => (T::s(*x), 3),
        V::U16(x) => (T::u(*x), 3),
        V::I32(x) => (T::I(*x), 5),
        V::U32(x) => (T::i(*x), 5),
        V::I64(x) => (T::l(*x), 9),
        V::F32(x) => (T::f(*x), 5),
        V::F64(x) => (T::d(*x), 9),
        V::Decimal { scale, value } => {
            // Same four octets on the wire: ours reads them unsigned, amqp_serde signed.
            let signed = i32::from_be_bytes(value.to_be_bytes());
            (T::D(theirs::DecimalValue::new(*scale, signed)), 6)
        }
        V::LongStr(s) => (T::S(theirs::LongStr::try_from(s)?), 5 + s.len() as u64),
        V::Bytes(b) => {
            check_u32("byte array", b.len() as u64)?;
            let array = theirs::ByteArray::try_from(b.to_vec())
                .map_err(|_| too_long("byte array", b.len() as u64, U32_LIMIT))?;
            (T::x(array), 5 + b.len() as u64)
        }
        V::Array(a) => {
            let (array, size) = array_to_theirs(a)?;
            (T::A(array), 1 + size)
        }
        V::Timestamp(x) => (T::T(*x), 9),
        V::Table(t) => {
            let (table, size) = table_to_theirs(t)?;
            (T::F(table), 1 + size)
        }
        V::Void => (T::V, 1),
    })
}

/// Converts an array; the size returned includes the 4-byte length prefix.
fn array_to_theirs(a: &FieldArray) -> Result<(theirs::FieldArray, u64), InteropError> {
    let mut body = 0u64;
    let mut values = Vec::with_capacity(a.0.len());
    for v in &a.0 {
        let (value, size) = value_to_theirs(v)?;
        body += size;
        check_u32("field array", body)?;
        values.push(value);
    }
    let array = theirs::FieldArray::try_from(values)
        .map_err(|_| too_long("field array", body, U32_LIMIT))?;
    Ok((array, 4 + body))
}

/// Converts a table; the size returned includes the 4-byte length prefix.
fn table_to_theirs(t: &FieldTable) -> Result<(theirs::FieldTable, u64), InteropError> {
    let mut body = 0u64;
    let mut table = theirs::FieldTable::new();
    for (k, v) in t.iter() {
        let key = theirs::ShortStr::try_from(k)?;
        if table.get(&key).is_some() {
            return Err(InteropError::DuplicateKey(k.to_string_lossy().into_owned()));
        }
        let (value, size) = value_to_theirs(v)?;
        body += 1 + k.len() as u64 + size;
        // Checked before `insert`, whose running u32 total would otherwise overflow.
        check_u32("field table", body)?;
        table.insert(key, value);
    }
    Ok((table, 4 + body))
}

// ---------------------------------------------------------------------------------------------
// Theirs → ours.

impl TryFrom<&theirs::ShortStr> for ShortStr {
    type Error = InteropError;

    fn try_from(s: &theirs::ShortStr) -> Result<Self, InteropError> {
        let text: &String = s.as_ref();
        ShortStr::new(Bytes::copy_from_slice(text.as_bytes()))
            .map_err(|e| too_long("short string", e.0 as u64, 255))
    }
}

impl From<&theirs::LongStr> for LongStr {
    fn from(s: &theirs::LongStr) -> Self {
        let text: &String = s.as_ref();
        LongStr::new(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl TryFrom<&theirs::FieldValue> for FieldValue {
    type Error = InteropError;

    fn try_from(v: &theirs::FieldValue) -> Result<Self, InteropError> {
        use theirs::FieldValue as T;
        use FieldValue as V;
        Ok(match v {
            T::t(x) => V::Bool(*x),
            T::b(x) => V::I8(*x),
            T::B(x) => V::U8(*x),
            T::s(x) => V::I16(*x),
            T::u(x) => V::U16(*x),
            T::I(x) => V::I32(*x),
            T::i(x) => V::U32(*x),
            T::l(x) => V::I64(*x),
            T::f(x) => V::F32(*x),
            T::d(x) => V::F64(*x),
            T::D(d) => decimal_from_theirs(d)?,
            T::S(s) => V::LongStr(LongStr::from(s)),
            T::A(a) => V::Array(FieldArray::try_from(a)?),
            T::T(x) => V::Timestamp(*x),
            T::F(t) => V::Table(FieldTable::try_from(t)?),
            T::V => V::Void,
            T::x(b) => V::Bytes(Bytes::from(Vec::<u8>::from(b.clone()))),
        })
    }
}

/// amqp_serde's `DecimalValue` keeps its fields private; its own serializer writes them as the
/// five wire octets (scale, then the value big-endian), which we read back.
fn decimal_from_theirs(d: &theirs::DecimalValue) -> Result<FieldValue, InteropError> {
    match amqp_serde::to_bytes(d).as_deref() {
        Ok(&[scale, a, b, c, e]) => Ok(FieldValue::Decimal {
            scale,
            value: u32::from_be_bytes([a, b, c, e]),
        }),
        _ => Err(InteropError::Unreadable("decimal")),
    }
}

impl TryFrom<&theirs::FieldArray> for FieldArray {
    type Error = InteropError;

    fn try_from(a: &theirs::FieldArray) -> Result<Self, InteropError> {
        // amqp_serde only gives its array's values up by value.
        let values: Vec<theirs::FieldValue> = a.clone().into();
        values
            .iter()
            .map(FieldValue::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map(FieldArray)
    }
}

impl TryFrom<&theirs::FieldTable> for FieldTable {
    type Error = InteropError;

    fn try_from(t: &theirs::FieldTable) -> Result<Self, InteropError> {
        let mut entries = t
            .as_ref()
            .iter()
            .map(|(k, v)| Ok((ShortStr::try_from(k)?, FieldValue::try_from(v)?)))
            .collect::<Result<Vec<_>, InteropError>>()?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &'static str) -> ShortStr {
        ShortStr::from_static(s)
    }

    #[test]
    fn non_utf8_key_and_string_are_refused() {
        let mut t = FieldTable::new();
        t.push(ShortStr::new(&b"\xff"[..]).unwrap(), FieldValue::Void);
        assert_eq!(
            theirs::FieldTable::try_from(&t).unwrap_err(),
            InteropError::NotUtf8 {
                what: "short string"
            }
        );

        let v = FieldValue::LongStr(LongStr::new(&b"ok\xc3"[..]));
        assert_eq!(
            theirs::FieldValue::try_from(&v).unwrap_err(),
            InteropError::NotUtf8 {
                what: "long string"
            }
        );
    }

    #[test]
    fn binary_bytes_are_fine_as_a_byte_array() {
        let v = FieldValue::Bytes(Bytes::from_static(b"\x00\xff"));
        let there = theirs::FieldValue::try_from(&v).unwrap();
        assert_eq!(FieldValue::try_from(&there).unwrap(), v);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let mut t = FieldTable::new();
        t.push(key("k"), FieldValue::Bool(true));
        t.push(key("k"), FieldValue::Bool(false));
        assert_eq!(
            theirs::FieldTable::try_from(&t).unwrap_err(),
            InteropError::DuplicateKey("k".into())
        );
    }

    #[test]
    fn decimals_keep_all_four_octets() {
        for value in [0, 1, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
            let v = FieldValue::Decimal { scale: 3, value };
            let there = theirs::FieldValue::try_from(&v).unwrap();
            assert_eq!(FieldValue::try_from(&there).unwrap(), v);
        }
    }

    #[test]
    fn tables_come_back_sorted_by_key() {
        let t: FieldTable = ["b", "c", "a"]
            .into_iter()
            .map(|k| (key(k), FieldValue::Void))
            .collect();
        let back = FieldTable::try_from(&theirs::FieldTable::try_from(&t).unwrap()).unwrap();
        let keys: Vec<String> = back.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
    }
}
