//! JSON request bodies: read whole (the router caps their size), then parsed here so that
//! malformed JSON gets RabbitMQ's 400 `not_json` rather than a framework's text, and a body
//! that is absent counts as `{}` as RabbitMQ treats it.

use crate::errors::{ApiError, ApiResult};
use axum::body::Bytes;
use serde_json::{Map, Value};

/// The body as a JSON object (an empty body is an empty object).
pub fn object(body: &Bytes) -> ApiResult<Map<String, Value>> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::bad_request("not_json")),
    }
}

/// RabbitMQ's reason for missing keys: `[{key_missing,write},{key_missing,read}]`.
pub fn require<'a>(m: &'a Map<String, Value>, keys: &[&str]) -> ApiResult<Vec<&'a Value>> {
    let missing: Vec<String> = keys
        .iter()
        .filter(|k| !m.contains_key(**k))
        .map(|k| format!("{{key_missing,{k}}}"))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!("[{}]", missing.join(","))));
    }
    Ok(keys.iter().map(|k| &m[*k]).collect())
}

/// A JSON value as text the way RabbitMQ reads pattern fields: strings as they are, other
/// values in their JSON form.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Tags as RabbitMQ takes them: a comma-separated string or a list.
pub fn tags(v: &Value) -> Vec<String> {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()
    };
    match v {
        Value::String(s) => split(s),
        Value::Array(items) => items.iter().flat_map(|t| split(&text(t))).collect(),
        _ => Vec::new(),
    }
}
