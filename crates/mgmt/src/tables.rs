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
