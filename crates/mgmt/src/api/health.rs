//! The health checks (`/api/health/checks/...`) and `/api/aliveness-test/{vhost}`, with
//! RabbitMQ's bodies: `{"status": "ok"}` and 200, or `"failed"` with a reason and 503.

use crate::auth::Caller;
use crate::errors::{ApiError, ApiResult};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use warren_codec::{BasicProperties, FieldTable};
use warren_server::admin::GetMode;
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/health/checks/alarms", get(alarms))
        .route("/health/checks/local-alarms", get(alarms))
        .route("/health/checks/port-listener/{port}", get(port_listener))
        .route("/health/checks/virtual-hosts", get(ok))
        .route(
            "/health/checks/node-is-quorum-critical",
            get(quorum_critical),
        )
        .route("/aliveness-test/{vhost}", get(aliveness))
}

fn failed(body: Value) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

async fn ok() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn alarms(State(admin): State<Admin>) -> Response {
    let a = admin.alarms();
    let node = admin.node_name();
    let mut set = Vec::new();
    if a.memory_alarm {
        set.push(json!({"node": node, "resource": "memory"}));
    }
    if a.disk_alarm {
        set.push(json!({"node": node, "resource": "disk"}));
    }
    match set.is_empty() {
        true => Json(json!({"status": "ok"})).into_response(),
        false => failed(
            json!({"status": "failed", "reason": "resource alarm(s) in effect in the cluster", "alarms": set}),
        ),
    }
}

async fn port_listener(
    State(admin): State<Admin>,
    Path(port): Path<String>,
) -> ApiResult<Response> {
    let port: u16 = port
        .parse()
        .map_err(|_| ApiError::bad_request("Invalid port"))?;
    let mut ports: Vec<u16> = admin.listeners().iter().map(|l| l.addr.port()).collect();
    ports.push(admin.management_port());
    ports.sort_unstable();
    ports.dedup();
    Ok(match ports.contains(&port) {
        true => Json(json!({"status": "ok", "port": port})).into_response(),
        false => failed(
            json!({"status": "failed", "reason": "No active listener", "missing": port, "ports": ports}),
        ),
    })
}

async fn quorum_critical() -> Json<Value> {
    Json(json!({"status": "ok", "reason": "single node cluster"}))
}

/// RabbitMQ's aliveness test: declare the `aliveness-test` queue in the vhost, publish a
/// message to it through the default exchange and get it back.
async fn aliveness(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(vhost): Path<String>,
) -> ApiResult<Response> {
    admin.vhost(&vhost)?;
    caller.require_vhost(&admin, &vhost)?;
    let queue = "aliveness-test";
    admin.declare_queue(&vhost, queue, false, false, &FieldTable::default())?;
    admin.publish(
        &vhost,
        "",
        queue,
        &BasicProperties::default(),
        b"test_message",
    )?;
    match admin.get(&vhost, queue, 1, GetMode::Ack)?.pop() {
        Some(_) => Ok(Json(json!({"status": "ok"})).into_response()),
        None => Ok(failed(
            json!({"status": "failed", "reason": "message not received"}),
        )),
    }
}
