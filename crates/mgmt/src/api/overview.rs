//! `/api/overview`, `/api/whoami`, `/api/nodes` and `/api/cluster-name`: the one node and
//! broker-wide counts, in RabbitMQ's shapes; `message_stats` and `queue_totals` are the
//! sampler's (`rates`), and so are `churn_rates`.

use crate::auth::Caller;
use crate::errors::{ApiError, ApiResult};
use crate::query::{shape, Params};
use crate::rates::Rates;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use warren_server::Admin;

/// The RabbitMQ release whose management API this one follows.
pub const RABBITMQ_VERSION: &str = "3.10.8";

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/overview", get(overview))
        .route("/whoami", get(whoami))
        .route("/nodes", get(nodes))
        .route("/nodes/{node}", get(node))
        .route("/cluster-name", get(cluster_name))
}

async fn whoami(Extension(caller): Extension<Caller>) -> Json<Value> {
    Json(json!({"name": caller.name, "tags": caller.tags}))
}

fn listeners(admin: &Admin) -> Vec<Value> {
    let node = admin.node_name();
    admin
        .listeners()
        .iter()
        .map(|l| {
            json!({"node": node, "protocol": l.protocol,
                   "ip_address": l.addr.ip().to_string(), "port": l.addr.port()})
        })
        .collect()
}

async fn overview(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
) -> Json<Value> {
    let o = admin.overview().await;
    let (message_stats, queue_totals, churn_rates) = rates.overview();
    let node = admin.node_name();
    let types = ["direct", "fanout", "headers", "topic"];
    Json(json!({
        "management_version": RABBITMQ_VERSION,
        "rates_mode": "basic",
        "sample_retention_policies": {"global": [600, 3600, 28800, 86400], "basic": [600, 3600], "detailed": [600]},
        "exchange_types": types.iter().map(|t| json!({"name": t, "description": "", "enabled": true})).collect::<Vec<_>>(),
        "product_version": env!("CARGO_PKG_VERSION"),
        "product_name": "Warren",
        "rabbitmq_version": RABBITMQ_VERSION,
        "cluster_name": node,
        "erlang_version": "",
        "erlang_full_version": "",
        "release_series_support_status": "supported",
        "disable_stats": false,
        "enable_queue_totals": false,
        "message_stats": message_stats,
        "churn_rates": churn_rates,
        "queue_totals": queue_totals,
        "object_totals": {"channels": o.channels, "connections": o.connections, "consumers": o.consumers,
                          "exchanges": o.exchanges, "queues": o.queues},
        "statistics_db_event_queue": 0,
        "node": node,
        "listeners": listeners(&admin),
        "contexts": [],
    }))
}

fn node_info(admin: &Admin) -> Value {
    let alarms = admin.alarms();
    json!({
        "name": admin.node_name(),
        "type": "disc",
        "running": true,
        "os_pid": std::process::id().to_string(),
        "mem_used": alarms.memory_used,
        "mem_limit": alarms.memory_limit,
        "mem_alarm": alarms.memory_alarm,
        "disk_free": alarms.disk_free.unwrap_or(0),
        "disk_free_limit": alarms.disk_free_limit,
        "disk_free_alarm": alarms.disk_alarm,
        "partitions": [],
        "processors": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "rates_mode": "basic",
        "uptime": 0,
    })
}

async fn nodes(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    caller.require_monitor()?;
    Ok(Json(shape(vec![node_info(&admin)], &params)?))
}

async fn node(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require_monitor()?;
    match name == admin.node_name() {
        true => Ok(Json(node_info(&admin))),
        false => Err(ApiError::not_found()),
    }
}

async fn cluster_name(State(admin): State<Admin>) -> Json<Value> {
    Json(json!({"name": admin.node_name()}))
}
