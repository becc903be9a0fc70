//! `/api/definitions` (whole broker) and `/api/definitions/{vhost}`: export in RabbitMQ's JSON
//! (users with their hashes, vhosts, permissions, topic permissions, vhost limits as
//! `parameters`, and the topology: queues, exchanges, bindings); import (POST) of the same
//! sections (`api::import` reads the topology ones), and policies (the server checks and sets
//! them with the access sections). Global parameters are an empty list until Warren has them.
//! Administrators only.

use super::import::{apply, Topology};
use super::overview::RABBITMQ_VERSION;
use super::permissions::{permission_json, topic_json};
use super::users::user_json;
use crate::auth::Caller;
use crate::errors::{ApiError, ApiResult};
use crate::tables::table_json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use warren_server::admin::{DestinationType, PolicyKind};
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/definitions", get(export).post(import))
        .route("/definitions/{vhost}", get(export_vhost).post(import_vhost))
}

type Ctx = (State<Admin>, Extension<Caller>);

/// The topology of one vhost: its non-exclusive queues, its exchanges other than the
/// default and `amq.*` ones, and bindings other than the default exchange's.
fn topology(admin: &Admin, vhost: &str, with_vhost: bool) -> ApiResult<[Vec<Value>; 3]> {
    let tag = |mut v: Value| {
        if with_vhost {
            v["vhost"] = json!(vhost);
        }
        v
    };
    let queues = admin
        .queues(vhost)?
        .into_iter()
        .filter(|q| !q.exclusive)
        .map(|q| {
            tag(
                json!({"name": q.name, "durable": q.durable, "auto_delete": q.auto_delete,
                   "arguments": table_json(&q.arguments)}),
            )
        });
    let exchanges = admin.exchanges(vhost)?.into_iter();
    let exchanges = exchanges.filter(|x| !x.name.is_empty() && !x.name.starts_with("amq."));
    let exchanges = exchanges.map(|x| {
        tag(json!({"name": x.name, "type": x.kind, "durable": x.durable,
                   "auto_delete": x.auto_delete, "internal": x.internal,
                   "arguments": table_json(&x.arguments)}))
    });
    let bindings = admin
        .bindings(vhost)?
        .into_iter()
        .filter(|b| !b.source.is_empty());
    let bindings = bindings.map(|b| {
        let kind = match b.destination_type {
            DestinationType::Queue => "queue",
            DestinationType::Exchange => "exchange",
        };
        tag(
            json!({"source": b.source, "destination": b.destination, "destination_type": kind,
                   "routing_key": b.routing_key, "arguments": table_json(&b.arguments)}),
        )
    });
    Ok([queues.collect(), exchanges.collect(), bindings.collect()])
}

fn vhost_limit_parameters(admin: &Admin, only: Option<&str>) -> Vec<Value> {
    admin
        .vhosts()
        .iter()
        .filter(|v| only.is_none_or(|o| o == v.name))
        .filter_map(|v| {
            let l = super::limits::vhost_limits_json(&v.limits);
            let empty = l.as_object().is_none_or(|m| m.is_empty());
            (!empty).then(|| json!({"value": l, "vhost": v.name, "component": "vhost-limits", "name": "limits"}))
        })
        .collect()
}

async fn export((State(admin), Extension(caller)): Ctx) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let (mut queues, mut exchanges, mut bindings) = (Vec::new(), Vec::new(), Vec::new());
    for v in admin.vhosts() {
        let [q, x, b] = topology(&admin, &v.name, true)?;
        queues.extend(q);
        exchanges.extend(x);
        bindings.extend(b);
    }
    // RabbitMQ 3.10.8 exports a vhost as its name alone (no description, tags or limits).
    let vhosts: Vec<Value> = admin
        .vhosts()
        .iter()
        .map(|v| json!({"name": v.name}))
        .collect();
    Ok(Json(json!({
        "rabbit_version": RABBITMQ_VERSION,
        "rabbitmq_version": RABBITMQ_VERSION,
        "product_name": "Warren",
        "product_version": env!("CARGO_PKG_VERSION"),
        "users": admin.users().iter().map(user_json).collect::<Vec<_>>(),
        "vhosts": vhosts,
        "permissions": admin.permissions().iter().map(permission_json).collect::<Vec<_>>(),
        "topic_permissions": admin.topic_permissions().iter().map(topic_json).collect::<Vec<_>>(),
        "parameters": vhost_limit_parameters(&admin, None),
        "global_parameters": [],
        "policies": policies(&admin, None)?,
        "queues": queues,
        "exchanges": exchanges,
        "bindings": bindings,
    })))
}

async fn export_vhost(
    (State(admin), Extension(caller)): Ctx,
    Path(vhost): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    admin.vhost(&vhost)?;
    let [queues, exchanges, bindings] = topology(&admin, &vhost, false)?;
    let mut parameters = vhost_limit_parameters(&admin, Some(&vhost));
    for p in &mut parameters {
        if let Some(m) = p.as_object_mut() {
            m.remove("vhost");
        }
    }
    Ok(Json(json!({
        "rabbit_version": RABBITMQ_VERSION,
        "parameters": parameters,
        "policies": policies(&admin, Some(&vhost))?,
        "queues": queues,
        "exchanges": exchanges,
        "bindings": bindings,
    })))
}

/// The policies of every vhost, or of one (with their `vhost` either way, as RabbitMQ
/// writes them).
fn policies(admin: &Admin, vhost: Option<&str>) -> ApiResult<Vec<Value>> {
    Ok(admin
        .policies(PolicyKind::Policy, vhost)?
        .iter()
        .map(super::policies::policy_json)
        .collect())
}

/// A vhost's import: its policies, placed in the vhost the path names, checked whole and set
/// as a whole-broker import sets them.
fn import_vhost_policies(admin: &Admin, vhost: &str, text: &str) -> ApiResult<()> {
    let parsed: Value = serde_json::from_str(text).unwrap_or_default();
    let Some(list) = parsed.get("policies").and_then(Value::as_array) else {
        return Ok(());
    };
    let placed: Vec<Value> = list
        .iter()
        .cloned()
        .map(|mut p| {
            if let Some(m) = p.as_object_mut() {
                m.insert("vhost".into(), json!(vhost));
            }
            p
        })
        .collect();
    Ok(admin.import_access_definitions(&json!({ "policies": placed }).to_string())?)
}

fn json_text(bytes: &Bytes) -> ApiResult<&str> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| ApiError::bad_request("failed_to_parse_json"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(_)) => Ok(text),
        _ => Err(ApiError::bad_request("failed_to_parse_json")),
    }
}

/// A whole-broker import: every section is checked before any is applied (the access ones
/// all or nothing), then access, then the topology.
async fn import((State(admin), Extension(caller)): Ctx, bytes: Bytes) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let text = json_text(&bytes)?;
    let topology = Topology::parse(text)?;
    let steps = topology.check(&admin, None)?;
    admin.import_access_definitions(text)?;
    apply(&admin, steps)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A per-vhost import: the topology sections, into the vhost the path names.
async fn import_vhost(
    (State(admin), Extension(caller)): Ctx,
    Path(vhost): Path<String>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    admin.vhost(&vhost)?;
    let text = json_text(&bytes)?;
    let topology = Topology::parse(text)?;
    let steps = topology.check(&admin, Some(&vhost))?;
    import_vhost_policies(&admin, &vhost, text)?;
    apply(&admin, steps)?;
    Ok(StatusCode::NO_CONTENT)
}
