//! Messages over HTTP: `POST /api/queues/{vhost}/{name}/get` with RabbitMQ's ackmodes,
//! encodings and `truncate`, and message properties as JSON both ways (the publish endpoint
//! reads them with [`properties`]).

use super::args;
use crate::auth::Caller;
use crate::body;
use crate::errors::{ApiError, ApiResult};
use crate::tables::table_json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Json, Router};
use base64::Engine;
use serde_json::{json, Map, Value};
use warren_codec::{BasicProperties, ShortStr};
use warren_server::access::permissions::Permission;
use warren_server::admin::{GetMode, GotMessage};
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new().route("/queues/{vhost}/{name}/get", post(get))
}

fn short(v: &Value) -> ApiResult<ShortStr> {
    ShortStr::try_from(body::text(v)).map_err(|_| ApiError::bad_request("property too long"))
}

fn small(v: &Value, key: &str) -> ApiResult<u8> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .and_then(|n| u8::try_from(n).ok())
        .ok_or_else(|| ApiError::bad_request(format!("invalid {key}")))
}

/// Message properties from a publish body (RabbitMQ's property names; `type` is the kind).
pub fn properties(v: &Value) -> ApiResult<BasicProperties> {
    let mut p = BasicProperties::default();
    let Some(m) = v.as_object() else {
        return Ok(p);
    };
    for (key, value) in m {
        match key.as_str() {
            "content_type" => p.content_type = Some(short(value)?),
            "content_encoding" => p.content_encoding = Some(short(value)?),
            "headers" => p.headers = Some(args::table(Some(value))?),
            "delivery_mode" => p.delivery_mode = Some(small(value, key)?),
            "priority" => p.priority = Some(small(value, key)?),
            "correlation_id" => p.correlation_id = Some(short(value)?),
            "reply_to" => p.reply_to = Some(short(value)?),
            "expiration" => p.expiration = Some(short(value)?),
            "message_id" => p.message_id = Some(short(value)?),
            "timestamp" => p.timestamp = value.as_u64(),
            "type" => p.kind = Some(short(value)?),
            "user_id" => p.user_id = Some(short(value)?),
            "app_id" => p.app_id = Some(short(value)?),
            "cluster_id" => p.cluster_id = Some(short(value)?),
            _ => return Err(ApiError::bad_request(format!("invalid property {key}"))),
        }
    }
    Ok(p)
}

/// The set properties as JSON; none at all is `[]`, as RabbitMQ shows an empty list.
fn properties_json(p: &BasicProperties) -> Value {
    let mut m = Map::new();
    let mut text = |k: &str, v: &Option<ShortStr>| {
        if let Some(v) = v {
            m.insert(k.into(), json!(v.to_string_lossy()));
        }
    };
    text("content_type", &p.content_type);
    text("content_encoding", &p.content_encoding);
    text("correlation_id", &p.correlation_id);
    text("reply_to", &p.reply_to);
    text("expiration", &p.expiration);
    text("message_id", &p.message_id);
    text("type", &p.kind);
    text("user_id", &p.user_id);
    text("app_id", &p.app_id);
    text("cluster_id", &p.cluster_id);
    if let Some(h) = &p.headers {
        m.insert("headers".into(), table_json(h));
    }
    for (k, v) in [("delivery_mode", p.delivery_mode), ("priority", p.priority)] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    if let Some(t) = p.timestamp {
        m.insert("timestamp".into(), json!(t));
    }
    match m.is_empty() {
        true => json!([]),
        false => Value::Object(m),
    }
}

fn mode(ackmode: &str) -> ApiResult<GetMode> {
    match ackmode {
        "ack_requeue_false" | "reject_requeue_false" => Ok(GetMode::Ack),
        "ack_requeue_true" | "reject_requeue_true" => Ok(GetMode::Requeue),
        other => Err(ApiError::bad_request(format!("unknown ackmode {other}"))),
    }
}

/// One message as RabbitMQ shows it; `base64` forces that encoding, `auto` keeps UTF-8 text.
fn message_json(m: &GotMessage, base64: bool, truncate: Option<usize>) -> Value {
    let body = &m.body[..truncate.unwrap_or(usize::MAX).min(m.body.len())];
    let (payload, encoding) = match std::str::from_utf8(body) {
        Ok(s) if !base64 => (s.to_string(), "string"),
        _ => (
            base64::engine::general_purpose::STANDARD.encode(body),
            "base64",
        ),
    };
    json!({
        "payload_bytes": m.body.len(),
        "redelivered": m.redelivered,
        "exchange": m.exchange,
        "routing_key": m.routing_key,
        "message_count": m.message_count,
        "properties": properties_json(&m.properties),
        "payload": payload,
        "payload_encoding": encoding,
    })
}

/// A number given as JSON number or as text: rabbitmqadmin sends `"count": "2"` and RabbitMQ
/// reads either; other text is its 400 `["not_integer", text]`.
fn int(v: &Value) -> ApiResult<Option<u64>> {
    match v {
        Value::String(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(serde_json::json!(["not_integer", s]))),
        other => Ok(other.as_u64()),
    }
}

async fn get(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, name)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<Json<Value>> {
    args::vhost(&admin, &caller, &vhost)?;
    let m = body::object(&bytes)?;
    let got = body::require(&m, &["count", "ackmode", "encoding"])?;
    let mode = mode(&body::text(got[1]))?;
    let base64 = match body::text(got[2]).as_str() {
        "auto" => false,
        "base64" => true,
        _ => {
            return Err(ApiError::bad_request(
                "Unsupported encoding. Please use auto or base64.",
            ))
        }
    };
    let r = args::Resource {
        vhost: &vhost,
        kind: "queue",
        name: &name,
    };
    if !admin.user_allows(&caller.name, &vhost, Permission::Read, &name) {
        return Err(ApiError::not_authorised(&r.refusal(&caller)));
    }
    let count = int(got[0])?.unwrap_or(1) as usize;
    let truncate = match m.get("truncate") {
        Some(v) => int(v)?.map(|n| n as usize),
        None => None,
    };
    let got = admin
        .get(&vhost, &name, count, mode)
        .map_err(|e| match e.code as u16 {
            404 => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                e.reply_text().to_string(),
            ),
            // RabbitMQ's get shows the whole AMQP close text, code first.
            _ => ApiError::bad_request(format!("{} {}", e.code as u16, e.reply_text())),
        })?;
    let items = got
        .iter()
        .map(|g| message_json(g, base64, truncate))
        .collect();
    Ok(Json(Value::Array(items)))
}
