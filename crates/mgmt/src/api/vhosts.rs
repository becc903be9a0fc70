//! `/api/vhosts`: list (the vhosts the user may see), get, create or update, delete; and the
//! permissions and topic permissions granted in one vhost.

use super::permissions::{permission_json, topic_json};
use crate::auth::Caller;
use crate::body;
use crate::errors::ApiResult;
use crate::query::{shape, Params};
use crate::rates::Rates;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use warren_server::admin::VhostInfo;
use warren_server::config::PermissionPatterns;
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/vhosts", get(list))
        .route("/vhosts/{vhost}", get(one).put(put).delete(delete))
        .route("/vhosts/{vhost}/permissions", get(permissions))
        .route("/vhosts/{vhost}/topic-permissions", get(topic_permissions))
}

pub fn vhost_json(admin: &Admin, rates: &Rates, v: &VhostInfo) -> Value {
    let mut out = json!({
        "name": v.name,
        "description": v.description,
        "tags": v.tags,
        "default_queue_type": "undefined",
        "metadata": {"description": v.description, "tags": v.tags},
        "tracing": false,
        "cluster_state": {admin.node_name(): "running"},
    });
    if let Value::Object(m) = &mut out {
        m.extend(rates.vhost(&v.name));
    }
    out
}

async fn list(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let items = admin
        .vhosts()
        .iter()
        .filter(|v| caller.sees_vhost(&admin, &v.name))
        .map(|v| vhost_json(&admin, &rates, v))
        .collect();
    Ok(Json(shape(items, &params)?))
}

async fn one(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    Ok(Json(vhost_json(&admin, &rates, &admin.vhost(&name)?)))
}

/// 201 when created, 204 when an existing vhost's description and tags were replaced. A vhost
/// created here gives its creator every permission in it, as RabbitMQ's API does (rabbitmqctl
/// add_vhost, whose acting user is no user, does not).
async fn put(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let m = body::object(&bytes)?;
    let description = m.get("description").map(body::text).unwrap_or_default();
    let tags = m.get("tags").map(body::tags).unwrap_or_default();
    if !admin.put_vhost(&name, &description, &tags) {
        return Ok(StatusCode::NO_CONTENT);
    }
    admin.set_permissions(&caller.name, &name, PermissionPatterns::default())?;
    Ok(StatusCode::CREATED)
}

async fn delete(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    admin.delete_vhost(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn permissions(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    admin.vhost(&name)?;
    let items = admin
        .permissions()
        .iter()
        .filter(|p| p.vhost == name)
        .map(permission_json)
        .collect();
    Ok(Json(shape(items, &params)?))
}

async fn topic_permissions(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    admin.vhost(&name)?;
    let items = admin
        .topic_permissions()
        .iter()
        .filter(|t| t.vhost == name)
        .map(topic_json)
        .collect();
    Ok(Json(shape(items, &params)?))
}
