//! `/api/users`: list, get, create or update (a password, or a hash with its algorithm, and
//! tags), delete, bulk delete, the users without any permissions, and one user's
//! permissions and topic permissions. Administrators only, as in RabbitMQ.

use super::limits::user_limits_json;
use super::permissions::{created_or_updated, permission_json, topic_json};
use crate::auth::Caller;
use crate::body;
use crate::errors::{ApiError, ApiResult};
use crate::query::{shape, Params};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use serde_json::{json, Map, Value};
use warren_server::access::password::HashAlgorithm;
use warren_server::admin::{Credentials, UserInfo};
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/users", get(list))
        .route("/users/without-permissions", get(without_permissions))
        .route("/users/bulk-delete", post(bulk_delete))
        .route("/users/{user}", get(one).put(put).delete(delete))
        .route("/users/{user}/permissions", get(permissions))
        .route("/users/{user}/topic-permissions", get(topic_permissions))
}

type Ctx = (State<Admin>, Extension<Caller>);

const SHA256: &str = "rabbit_password_hashing_sha256";

pub fn user_json(u: &UserInfo) -> Value {
    json!({
        "name": u.name,
        "password_hash": u.password_hash.clone().unwrap_or_default(),
        "hashing_algorithm": u.hashing_algorithm.unwrap_or(SHA256),
        "tags": u.tags,
        "limits": user_limits_json(&u.limits),
    })
}

async fn list(
    (State(admin), Extension(caller)): Ctx,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let items = admin.users().iter().map(user_json).collect();
    Ok(Json(shape(items, &params)?))
}

async fn without_permissions(
    (State(admin), Extension(caller)): Ctx,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let granted = admin.permissions();
    let items = admin
        .users()
        .iter()
        .filter(|u| !granted.iter().any(|p| p.user == u.name))
        .map(user_json)
        .collect();
    Ok(Json(shape(items, &params)?))
}

async fn one(
    (State(admin), Extension(caller)): Ctx,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    Ok(Json(user_json(&admin.user(&name)?)))
}

/// The credentials a PUT asks for, checked as RabbitMQ checks them (tags first).
fn credentials(m: &Map<String, Value>) -> ApiResult<Credentials> {
    if !m.contains_key("tags") {
        return Err(ApiError::bad_request("tags_not_present"));
    }
    match (m.get("password"), m.get("password_hash")) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "both_password_and_password_hash_are_provided",
        )),
        (Some(p), None) => Ok(Credentials::Password(body::text(p))),
        (None, Some(h)) => hashed(&body::text(h), m.get("hashing_algorithm")),
        // Tags only: RabbitMQ gives the user a new random password, so the old one stops
        // working; here the user is left with none (only EXTERNAL login), to the same effect.
        (None, None) => Ok(Credentials::None),
    }
}

fn hashed(hash: &str, algorithm: Option<&Value>) -> ApiResult<Credentials> {
    if hash.is_empty() {
        return Ok(Credentials::None);
    }
    if base64::engine::general_purpose::STANDARD
        .decode(hash)
        .is_err()
    {
        return Err(ApiError::bad_request(json!(["not_base64", hash])));
    }
    let algorithm = match algorithm.map(body::text) {
        None => HashAlgorithm::Sha256,
        Some(name) => HashAlgorithm::from_rabbit_name(&name)
            .ok_or_else(|| ApiError::bad_request(json!(["unsupported_hashing_algorithm", name])))?,
    };
    Ok(Credentials::Hash {
        algorithm,
        hash: hash.to_string(),
    })
}

async fn put(
    (State(admin), Extension(caller)): Ctx,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let m = body::object(&bytes)?;
    let credentials = credentials(&m)?;
    let tags = body::tags(&m["tags"]);
    let created = admin.put_user(&name, credentials, &tags)?;
    Ok(created_or_updated(!created))
}

async fn delete(
    (State(admin), Extension(caller)): Ctx,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    admin.delete_user(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"users": [...]}`: deletes them in order; the first that is not a user stops it with
/// RabbitMQ's 400 (those before it stay deleted, as there).
async fn bulk_delete(
    (State(admin), Extension(caller)): Ctx,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let m = body::object(&bytes)?;
    let users = body::require(&m, &["users"])?[0];
    let names: Vec<String> = users
        .as_array()
        .map(|a| a.iter().map(body::text).collect())
        .unwrap_or_default();
    for name in names {
        if admin.delete_user(&name).is_err() {
            return Err(ApiError::bad_request(json!(["no_such_user", name])));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn permissions(
    (State(admin), Extension(caller)): Ctx,
    Path(name): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    admin.user(&name)?;
    let items = admin
        .permissions()
        .iter()
        .filter(|p| p.user == name)
        .map(permission_json)
        .collect();
    Ok(Json(shape(items, &params)?))
}

async fn topic_permissions(
    (State(admin), Extension(caller)): Ctx,
    Path(name): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    admin.user(&name)?;
    let items = admin
        .topic_permissions()
        .iter()
        .filter(|t| t.user == name)
        .map(topic_json)
        .collect();
    Ok(Json(shape(items, &params)?))
}
