//! `/api/queues`: list (all, per vhost), get, declare (PUT), delete (`if-unused`,
//! `if-empty`), purge (`DELETE .../contents`) and a queue's bindings. Message counts are read
//! when asked; `message_stats` and the `*_details` rates come from the sampler (`rates`).

use super::args::{self, permit, refused, Resource};
use super::bindings::binding_json;
use crate::auth::Caller;
use crate::body;
use crate::errors::{ApiError, ApiResult};
use crate::query::{shape, shape_lazily, Params};
use crate::rates::Rates;
use crate::tables::table_json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use warren_server::access::permissions::Permission;
use warren_server::admin::{BindingInfo, DestinationType, QueueInfo};
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/queues", get(list_all))
        .route("/queues/{vhost}", get(list))
        .route("/queues/{vhost}/{name}", get(one).put(put).delete(remove))
        .route("/queues/{vhost}/{name}/contents", delete(purge))
        .route("/queues/{vhost}/{name}/bindings", get(bindings))
}

fn queue_json(admin: &Admin, rates: &Rates, q: &QueueInfo) -> Value {
    let mut out = json!({
        "name": q.name,
        "vhost": q.vhost,
        "durable": q.durable,
        "auto_delete": q.auto_delete,
        "exclusive": q.exclusive,
        "arguments": table_json(&q.arguments),
        "node": admin.node_name(),
        "type": "classic",
        "state": "running",
        "messages": q.messages_ready + q.messages_unacknowledged,
        "messages_ready": q.messages_ready,
        "messages_unacknowledged": q.messages_unacknowledged,
        "consumers": q.consumers,
        "policy": q.policy,
        "operator_policy": q.operator_policy,
        "effective_policy_definition": q.effective_policy_definition,
    });
    if let Value::Object(m) = &mut out {
        m.extend(memory_json(q));
        m.extend(rates.queue(&q.vhost, &q.name));
    }
    out
}

/// Bytes and what is in memory or paged out, as RabbitMQ's classic queues show them
/// (`messages_paged_out` counts ready messages only).
fn memory_json(q: &QueueInfo) -> serde_json::Map<String, Value> {
    let m = &q.memory;
    let fields = [
        ("messages_ram", m.ready_ram + m.unacked_ram),
        ("messages_ready_ram", m.ready_ram),
        ("messages_unacknowledged_ram", m.unacked_ram),
        ("messages_paged_out", m.paged_out),
        ("message_bytes", m.ready_bytes + m.unacked_bytes),
        ("message_bytes_ready", m.ready_bytes),
        ("message_bytes_unacknowledged", m.unacked_bytes),
        ("message_bytes_ram", m.ready_bytes_ram + m.unacked_bytes_ram),
        ("message_bytes_paged_out", m.bytes_paged_out),
    ];
    fields
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .collect()
}

async fn list_all(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let mut queues = Vec::new();
    for v in admin.vhosts() {
        if caller.sees_vhost(&admin, &v.name) {
            queues.extend(admin.queues(&v.name)?);
        }
    }
    let json = |q: &QueueInfo| queue_json(&admin, &rates, q);
    Ok(Json(shape_lazily(queues, &params, |q| &q.name, json)?))
}

async fn list(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Path(vhost): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    args::vhost(&admin, &caller, &vhost)?;
    let json = |q: &QueueInfo| queue_json(&admin, &rates, q);
    Ok(Json(shape_lazily(
        admin.queues(&vhost)?,
        &params,
        |q| &q.name,
        json,
    )?))
}

fn find(admin: &Admin, caller: &Caller, vhost: &str, name: &str) -> ApiResult<QueueInfo> {
    args::vhost(admin, caller, vhost)?;
    admin.queue(vhost, name).map_err(|_| ApiError::not_found())
}

async fn one(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let q = find(&admin, &caller, &vhost, &name)?;
    let mut out = queue_json(&admin, &rates, &q);
    out["consumer_details"] = json!([]);
    out["deliveries"] = json!([]);
    out["incoming"] = json!([]);
    Ok(Json(out))
}

/// 201 when declared, 204 when an equivalent queue was there already.
async fn put(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, name)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    args::vhost(&admin, &caller, &vhost)?;
    let m = body::object(&bytes)?;
    let (durable, auto_delete) = (args::flag(&m, "durable")?, args::flag(&m, "auto_delete")?);
    let arguments = args::table(m.get("arguments"))?;
    let r = Resource {
        vhost: &vhost,
        kind: "queue",
        name: &name,
    };
    permit(&admin, &caller, &r, Permission::Configure)?;
    let existed = admin.queue(&vhost, &name).is_ok();
    admin
        .declare_queue(&vhost, &name, durable, auto_delete, &arguments)
        .map_err(refused)?;
    Ok(match existed {
        true => StatusCode::NO_CONTENT,
        false => StatusCode::CREATED,
    })
}

async fn remove(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, name)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> ApiResult<StatusCode> {
    find(&admin, &caller, &vhost, &name)?;
    let r = Resource {
        vhost: &vhost,
        kind: "queue",
        name: &name,
    };
    permit(&admin, &caller, &r, Permission::Configure)?;
    let if_unused = args::query_flag(&params, "if-unused");
    let if_empty = args::query_flag(&params, "if-empty");
    admin
        .delete_queue(&vhost, &name, if_unused, if_empty)
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn purge(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    find(&admin, &caller, &vhost, &name)?;
    let r = Resource {
        vhost: &vhost,
        kind: "queue",
        name: &name,
    };
    permit(&admin, &caller, &r, Permission::Read)?;
    admin.purge(&vhost, &name).map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn bindings(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, name)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    args::vhost(&admin, &caller, &vhost)?;
    let mut items: Vec<Value> = admin
        .bindings(&vhost)?
        .iter()
        .filter(|b| b.destination == name && b.destination_type == DestinationType::Queue)
        .map(binding_json)
        .collect();
    // RabbitMQ lists the default exchange's binding even for a queue that is not there.
    if items.is_empty() {
        items.push(binding_json(&BindingInfo {
            vhost: vhost.clone(),
            source: String::new(),
            destination: name.clone(),
            destination_type: DestinationType::Queue,
            routing_key: name,
            arguments: Default::default(),
        }));
    }
    Ok(Json(shape(items, &params)?))
}
