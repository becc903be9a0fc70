//! `/api/permissions` and `/api/topic-permissions`: every grant, and one user's in one vhost
//! (get, set, clear). Administrators only, as in RabbitMQ.

use crate::auth::Caller;
use crate::body;
use crate::errors::{ApiError, ApiResult};
use crate::query::{shape, Params};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use warren_server::access::permissions::TopicPermission;
use warren_server::admin::{PermissionInfo, TopicPermissionInfo};
use warren_server::config::PermissionPatterns;
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/permissions", get(list))
        .route(
            "/permissions/{vhost}/{user}",
            get(one).put(put).delete(delete),
        )
        .route("/topic-permissions", get(topic_list))
        .route(
            "/topic-permissions/{vhost}/{user}",
            get(topic_one).put(topic_put).delete(topic_delete),
        )
}

pub fn permission_json(p: &PermissionInfo) -> Value {
    json!({"user": p.user, "vhost": p.vhost, "configure": p.configure, "write": p.write, "read": p.read})
}

pub fn topic_json(t: &TopicPermissionInfo) -> Value {
    json!({"user": t.user, "vhost": t.vhost, "exchange": t.exchange, "write": t.write, "read": t.read})
}

type Ctx = (State<Admin>, Extension<Caller>);

async fn list(
    (State(admin), Extension(caller)): Ctx,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let items = admin.permissions().iter().map(permission_json).collect();
    Ok(Json(shape(items, &params)?))
}

fn find(admin: &Admin, vhost: &str, user: &str) -> Option<PermissionInfo> {
    admin
        .permissions()
        .into_iter()
        .find(|p| p.vhost == vhost && p.user == user)
}

async fn one(
    (State(admin), Extension(caller)): Ctx,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let p = find(&admin, &vhost, &user).ok_or_else(ApiError::not_found)?;
    Ok(Json(permission_json(&p)))
}

async fn put(
    (State(admin), Extension(caller)): Ctx,
    Path((vhost, user)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let m = body::object(&bytes)?;
    let v = body::require(&m, &["configure", "write", "read"])?;
    let existed = find(&admin, &vhost, &user).is_some();
    let patterns = PermissionPatterns {
        configure: body::text(v[0]),
        write: body::text(v[1]),
        read: body::text(v[2]),
    };
    admin.set_permissions(&user, &vhost, patterns)?;
    Ok(created_or_updated(existed))
}

pub fn created_or_updated(existed: bool) -> StatusCode {
    match existed {
        true => StatusCode::NO_CONTENT,
        false => StatusCode::CREATED,
    }
}

async fn delete(
    (State(admin), Extension(caller)): Ctx,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    admin.clear_permissions(&user, &vhost)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn topic_list(
    (State(admin), Extension(caller)): Ctx,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let items = admin.topic_permissions().iter().map(topic_json).collect();
    Ok(Json(shape(items, &params)?))
}

fn topics_of(admin: &Admin, vhost: &str, user: &str) -> Vec<TopicPermissionInfo> {
    admin
        .topic_permissions()
        .into_iter()
        .filter(|t| t.vhost == vhost && t.user == user)
        .collect()
}

async fn topic_one(
    (State(admin), Extension(caller)): Ctx,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let list = topics_of(&admin, &vhost, &user);
    if list.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Json(list.iter().map(topic_json).collect()))
}

async fn topic_put(
    (State(admin), Extension(caller)): Ctx,
    Path((vhost, user)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let m = body::object(&bytes)?;
    let v = body::require(&m, &["exchange", "write", "read"])?;
    let exchange = body::text(v[0]);
    let existed = topics_of(&admin, &vhost, &user)
        .iter()
        .any(|t| t.exchange == exchange);
    let permission = TopicPermission {
        exchange,
        write: body::text(v[1]),
        read: body::text(v[2]),
    };
    admin.set_topic_permission(&user, &vhost, permission)?;
    Ok(created_or_updated(existed))
}

async fn topic_delete(
    (State(admin), Extension(caller)): Ctx,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    admin.clear_topic_permissions(&user, &vhost, None)?;
    Ok(StatusCode::NO_CONTENT)
}
