//! `/api/policies` and `/api/operator-policies`: list (all, or one vhost's), and one policy's
//! GET, PUT (201 when new, 204 when replaced) and DELETE. Listing is for any management user
//! in the vhosts they see; setting a policy takes `policymaker` with access to the vhost, or
//! `administrator`; operator policies are administrators' alone. Validation errors carry
//! RabbitMQ's texts (the policy endpoint escapes `<`, `>` and `&` in them as RabbitMQ's does).

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
use warren_server::admin::{PolicyInfo, PolicyKind, PolicySpec};
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/policies", get(list_all))
        .route("/policies/{vhost}", get(list))
        .route("/policies/{vhost}/{name}", get(one).put(put).delete(delete))
        .route("/operator-policies", get(op_list_all))
        .route("/operator-policies/{vhost}", get(op_list))
        .route(
            "/operator-policies/{vhost}/{name}",
            get(op_one).put(op_put).delete(op_delete),
        )
}

type Ctx = (State<Admin>, Extension<Caller>);

/// A policy as RabbitMQ's API and definitions files show it.
pub fn policy_json(p: &PolicyInfo) -> Value {
    json!({
        "vhost": p.vhost,
        "name": p.name,
        "pattern": p.pattern,
        "apply-to": p.apply_to,
        "definition": p.definition,
        "priority": p.priority,
    })
}

/// RabbitMQ lists policies by priority, lowest first.
fn listed(mut items: Vec<PolicyInfo>, params: &Params) -> ApiResult<Json<Value>> {
    items.sort_by(|a, b| {
        let p = |i: &PolicyInfo| i.priority.as_f64().unwrap_or_default();
        p(a).total_cmp(&p(b))
    });
    Ok(Json(shape(
        items.iter().map(policy_json).collect(),
        params,
    )?))
}

fn list_of(
    admin: &Admin,
    caller: &Caller,
    kind: PolicyKind,
    vhost: Option<&str>,
    params: &Params,
) -> ApiResult<Json<Value>> {
    if let Some(v) = vhost {
        caller.require_vhost(admin, v)?;
    }
    let items = admin
        .policies(kind, vhost)?
        .into_iter()
        .filter(|p| caller.sees_vhost(admin, &p.vhost))
        .collect();
    listed(items, params)
}

/// Who may read, set or clear one policy.
fn may_manage(admin: &Admin, caller: &Caller, kind: PolicyKind, vhost: &str) -> ApiResult<()> {
    if kind == PolicyKind::Operator {
        return caller.require_admin();
    }
    let allowed = caller.is_admin()
        || (caller.tags.iter().any(|t| t == "policymaker") && caller.sees_vhost(admin, vhost));
    match allowed {
        true => Ok(()),
        false => Err(ApiError::not_authorised(
            "User not authorised to access object",
        )),
    }
}

fn one_of(
    admin: &Admin,
    caller: &Caller,
    kind: PolicyKind,
    vhost: &str,
    name: &str,
) -> ApiResult<Json<Value>> {
    may_manage(admin, caller, kind, vhost)?;
    Ok(Json(policy_json(&admin.policy(kind, vhost, name)?)))
}

fn put_of(
    admin: &Admin,
    caller: &Caller,
    kind: PolicyKind,
    (vhost, name): (String, String),
    bytes: &Bytes,
) -> ApiResult<StatusCode> {
    may_manage(admin, caller, kind, &vhost)?;
    if admin.vhost(&vhost).is_err() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "vhost_not_found",
        ));
    }
    let m = body::object(bytes)?;
    let required = body::require(&m, &["pattern", "definition"])?;
    let spec = PolicySpec {
        name,
        pattern: required[0].clone(),
        definition: required[1].clone(),
        priority: m.get("priority").cloned(),
        apply_to: m.get("apply-to").cloned(),
    };
    match admin.set_policy(kind, &vhost, &spec) {
        Ok(true) => Ok(StatusCode::CREATED),
        Ok(false) => Ok(StatusCode::NO_CONTENT),
        Err(e) if e.code as u16 == 406 => {
            let reason = format!("Validation failed\n\n{}\n", e.text);
            Err(ApiError::bad_request(match kind {
                PolicyKind::Policy => escape_html_tags(&reason),
                PolicyKind::Operator => reason,
            }))
        }
        Err(e) => Err(e.into()),
    }
}

/// RabbitMQ's `escape_html_tags`: `<`, `>` and `&`.
fn escape_html_tags(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn delete_of(
    admin: &Admin,
    caller: &Caller,
    kind: PolicyKind,
    (vhost, name): (String, String),
) -> ApiResult<StatusCode> {
    may_manage(admin, caller, kind, &vhost)?;
    match admin.clear_policy(kind, &vhost, &name)? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found()),
    }
}

async fn list_all(
    (State(admin), Extension(caller)): Ctx,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    list_of(&admin, &caller, PolicyKind::Policy, None, &params)
}

async fn list(
    (State(admin), Extension(caller)): Ctx,
    Path(vhost): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    list_of(&admin, &caller, PolicyKind::Policy, Some(&vhost), &params)
}

async fn one(
    (State(admin), Extension(caller)): Ctx,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    one_of(&admin, &caller, PolicyKind::Policy, &vhost, &name)
}

async fn put(
    (State(admin), Extension(caller)): Ctx,
    Path(key): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    put_of(&admin, &caller, PolicyKind::Policy, key, &bytes)
}

async fn delete(
    (State(admin), Extension(caller)): Ctx,
    Path(key): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    delete_of(&admin, &caller, PolicyKind::Policy, key)
}

async fn op_list_all(
    (State(admin), Extension(caller)): Ctx,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    list_of(&admin, &caller, PolicyKind::Operator, None, &params)
}

async fn op_list(
    (State(admin), Extension(caller)): Ctx,
    Path(vhost): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    list_of(&admin, &caller, PolicyKind::Operator, Some(&vhost), &params)
}

async fn op_one(
    (State(admin), Extension(caller)): Ctx,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    one_of(&admin, &caller, PolicyKind::Operator, &vhost, &name)
}

async fn op_put(
    (State(admin), Extension(caller)): Ctx,
    Path(key): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    put_of(&admin, &caller, PolicyKind::Operator, key, &bytes)
}

async fn op_delete(
    (State(admin), Extension(caller)): Ctx,
    Path(key): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    delete_of(&admin, &caller, PolicyKind::Operator, key)
}
