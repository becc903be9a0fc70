//! AMQP field tables (queue, exchange and binding arguments) as JSON, the way RabbitMQ's API
//! shows them: numbers as numbers, strings as strings, nested tables as objects.

use serde_json::{json, Map, Value};
use warren_codec::{FieldTable, FieldValue};

pub fn table_json(t: &FieldTable) -> Value {
    let m: Map<String, Value> = t
        .iter()
        .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), value_json(v)))
        .collect();
    Value::Object(m)
}

fn value_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Bool(b) => json!(b),
        FieldValue::I8(n) => json!(n),
        FieldValue::U8(n) => json!(n),
        FieldValue::I16(n) => json!(n),
        FieldValue::U16(n) => json!(n),
        FieldValue::I32(n) => json!(n),
        FieldValue::U32(n) => json!(n),
        FieldValue::I64(n) => json!(n),
        FieldValue::F32(n) => json!(n),
        FieldValue::F64(n) => json!(n),
        FieldValue::Decimal { scale, value } => {
            json!(f64::from(*value) / 10f64.powi(i32::from(*scale)))
        }
        FieldValue::LongStr(s) => json!(s.to_string_lossy()),
        FieldValue::Bytes(b) => json!(String::from_utf8_lossy(b)),
        FieldValue::Array(a) => Value::Array(a.0.iter().map(value_json).collect()),
        FieldValue::Timestamp(t) => json!(t),
        FieldValue::Table(t) => table_json(t),
        FieldValue::Void => Value::Null,
    }
}

/// A JSON object as a field table (definitions and request bodies carry arguments so):
/// integers as signed 64-bit, other numbers as doubles, strings as long strings, objects as
/// nested tables; `None` if `v` is not an object.
pub fn json_table(v: &Value) -> Option<FieldTable> {
    let mut t = FieldTable::new();
    for (k, v) in v.as_object()? {
        let key = warren_codec::ShortStr::new(k.clone().into_bytes()).ok()?;
        t.insert(key, json_value(v)?);
    }
    Some(t)
}

fn json_value(v: &Value) -> Option<FieldValue> {
    Some(match v {
        Value::Null => FieldValue::Void,
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::I64(i),
            None => FieldValue::F64(n.as_f64()?),
        },
        Value::String(s) => FieldValue::LongStr(warren_codec::LongStr::new(s.clone().into_bytes())),
        Value::Array(items) => FieldValue::Array(warren_codec::FieldArray(
            items.iter().map(json_value).collect::<Option<_>>()?,
        )),
        Value::Object(_) => FieldValue::Table(json_table(v)?),
    })
}
