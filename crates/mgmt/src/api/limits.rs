//! `/api/vhost-limits` and `/api/user-limits`: list, one vhost's or user's, set one limit
//! (`{"value": N}`), clear one. Listing is for every management user (RabbitMQ shows vhost
//! limits of the vhosts the user sees, and every user's limits); changes are administrators'.

use crate::auth::Caller;
use crate::body;
use crate::errors::{ApiError, ApiResult};
use crate::query::{shape, Params};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Extension, Json, Router};
use serde_json::{json, Map, Value};
use warren_server::admin::{UserLimits, VhostLimits};
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/vhost-limits", get(vhost_list))
        .route("/vhost-limits/{vhost}", get(vhost_one))
        .route(
            "/vhost-limits/{vhost}/{name}",
            put(vhost_put).delete(vhost_delete),
        )
        .route("/user-limits", get(user_list))
        .route("/user-limits/{user}", get(user_one))
        .route(
            "/user-limits/{user}/{name}",
            put(user_put).delete(user_delete),
        )
}

type Ctx = (State<Admin>, Extension<Caller>);

fn limits_json(pairs: &[(&str, Option<u64>)]) -> Value {
    let m: Map<String, Value> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), json!(v))))
        .collect();
    Value::Object(m)
}

pub fn user_limits_json(l: &UserLimits) -> Value {
    limits_json(&[
        ("max-connections", l.max_connections),
        ("max-channels", l.max_channels),
    ])
}

pub fn vhost_limits_json(l: &VhostLimits) -> Value {
    limits_json(&[
        ("max-connections", l.max_connections),
        ("max-queues", l.max_queues),
    ])
}

fn is_empty(v: &Value) -> bool {
    v.as_object().is_none_or(Map::is_empty)
}

/// The limit in a PUT body: an integer (negative: no limit, as RabbitMQ reads -1).
fn value(name: &str, known: &[&str], bytes: &Bytes) -> ApiResult<Option<u64>> {
    let m = body::object(bytes)?;
    let v = body::require(&m, &["value"])?[0];
    if !known.contains(&name) {
        return Err(ApiError::bad_request(format!(
            "Validation failed\n\nUnrecognised terms [{{<<\"{name}\">>,{v}}}] in limits\n"
        )));
    }
    match v.as_i64() {
        Some(n) => Ok(u64::try_from(n).ok()),
        None => Err(ApiError::bad_request(format!(
            "Validation failed\n\n{name} should be a number, actually was <<{v}>>\n"
        ))),
    }
}

async fn vhost_list(
    (State(admin), Extension(caller)): Ctx,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let items = admin
        .vhosts()
        .iter()
        .filter(|v| caller.sees_vhost(&admin, &v.name))
        .map(|v| (v.name.clone(), vhost_limits_json(&v.limits)))
        .filter(|(_, l)| !is_empty(l))
        .map(|(name, l)| json!({"vhost": name, "value": l}))
        .collect();
    Ok(Json(shape(items, &params)?))
}

async fn vhost_one(
    State(admin): State<Admin>,
    Path(vhost): Path<String>,
) -> ApiResult<Json<Value>> {
    let l = vhost_limits_json(&admin.vhost(&vhost)?.limits);
    Ok(Json(match is_empty(&l) {
        true => json!([]),
        false => json!([{"vhost": vhost, "value": l}]),
    }))
}

fn set_vhost_limit(admin: &Admin, vhost: &str, name: &str, v: Option<u64>) -> ApiResult<()> {
    let mut l = admin
        .vhost(vhost)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "vhost_not_found"))?
        .limits;
    match name {
        "max-connections" => l.max_connections = v,
        _ => l.max_queues = v,
    }
    Ok(admin.set_vhost_limits(vhost, l)?)
}

async fn vhost_put(
    (State(admin), Extension(caller)): Ctx,
    Path((vhost, name)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let v = value(&name, &["max-connections", "max-queues"], &bytes)?;
    set_vhost_limit(&admin, &vhost, &name, v)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn vhost_delete(
    (State(admin), Extension(caller)): Ctx,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    if matches!(name.as_str(), "max-connections" | "max-queues") {
        set_vhost_limit(&admin, &vhost, &name, None)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn user_list(
    State(admin): State<Admin>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let items = admin
        .users()
        .iter()
        .map(|u| (u.name.clone(), user_limits_json(&u.limits)))
        .filter(|(_, l)| !is_empty(l))
        .map(|(name, l)| json!({"user": name, "value": l}))
        .collect();
    Ok(Json(shape(items, &params)?))
}

async fn user_one(State(admin): State<Admin>, Path(user): Path<String>) -> ApiResult<Json<Value>> {
    let l = user_limits_json(&admin.user(&user)?.limits);
    Ok(Json(match is_empty(&l) {
        true => json!([]),
        false => json!([{"user": user, "value": l}]),
    }))
}

fn set_user_limit(admin: &Admin, user: &str, name: &str, v: Option<u64>) -> ApiResult<()> {
    let mut l = admin
        .user(user)
        .map_err(|_| ApiError::bad_request(json!(["no_such_user", user])))?
        .limits;
    match name {
        "max-connections" => l.max_connections = v,
        _ => l.max_channels = v,
    }
    Ok(admin.set_user_limits(user, l)?)
}

async fn user_put(
    (State(admin), Extension(caller)): Ctx,
    Path((user, name)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let v = value(&name, &["max-connections", "max-channels"], &bytes)?;
    set_user_limit(&admin, &user, &name, v)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn user_delete(
    (State(admin), Extension(caller)): Ctx,
    Path((user, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    if matches!(name.as_str(), "max-connections" | "max-channels") {
        set_user_limit(&admin, &user, &name, None)?;
    }
    Ok(StatusCode::NO_CONTENT)
}
