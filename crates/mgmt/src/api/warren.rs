//! Warren's own endpoints, under `/api/warren/` so they can never clash with RabbitMQ's:
//! `PUT /api/warren/vm-memory-high-watermark` (administrators), what `rabbitmqctl
//! set_vm_memory_high_watermark` does over Erlang distribution in RabbitMQ, which has no HTTP
//! endpoint for it. Body `{"relative": 0.5}` or `{"absolute": 268435456}`; 204.

use crate::auth::Caller;
use crate::body;
use crate::errors::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::put;
use axum::{Extension, Router};
use serde_json::Value;
use warren_server::config::MemoryWatermark;
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new().route("/warren/vm-memory-high-watermark", put(set_watermark))
}

fn watermark(m: &serde_json::Map<String, Value>) -> ApiResult<MemoryWatermark> {
    match (m.get("relative"), m.get("absolute")) {
        (Some(v), None) => v
            .as_f64()
            .filter(|f| (0.0..=1.0).contains(f))
            .map(MemoryWatermark::Relative)
            .ok_or_else(|| ApiError::bad_request("relative must be a number from 0 to 1")),
        (None, Some(v)) => v
            .as_u64()
            .map(MemoryWatermark::Absolute)
            .ok_or_else(|| ApiError::bad_request("absolute must be a number of bytes")),
        _ => Err(ApiError::bad_request(
            "give one of relative (a fraction) or absolute (bytes)",
        )),
    }
}

async fn set_watermark(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let w = watermark(&body::object(&bytes)?)?;
    admin.set_memory_high_watermark(w)?;
    tracing::info!(watermark = ?w, user = %caller.name, "memory high watermark set");
    Ok(StatusCode::NO_CONTENT)
}
