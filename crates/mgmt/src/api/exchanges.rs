//! `/api/exchanges`: list (all, per vhost), get, declare (PUT, RabbitMQ's body fields and its
//! 400 for an inequivalent redeclare), delete (`if-unused`), publish, and the bindings an
//! exchange is the source or the destination of.

use super::args::{self, exchange_name, permit, refused, Resource};
use super::bindings::binding_json;
use crate::auth::Caller;
use crate::body;
use crate::errors::{ApiError, ApiResult};
use crate::query::{shape, Params};
use crate::rates::Rates;
use crate::tables::table_json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use std::sync::Arc;
use warren_server::access::permissions::Permission;
use warren_server::admin::{DestinationType, ExchangeInfo};
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/exchanges", get(list_all))
        .route("/exchanges/{vhost}", get(list))
        .route(
            "/exchanges/{vhost}/{name}",
            get(one).put(put).delete(delete),
        )
        .route("/exchanges/{vhost}/{name}/publish", post(publish))
        .route("/exchanges/{vhost}/{name}/bindings/source", get(source))
        .route(
            "/exchanges/{vhost}/{name}/bindings/destination",
            get(destination),
        )
}

fn exchange_json(rates: &Rates, x: &ExchangeInfo) -> Value {
    let mut out = json!({
        "name": x.name,
        "vhost": x.vhost,
        "type": x.kind,
        "durable": x.durable,
        "auto_delete": x.auto_delete,
        "internal": x.internal,
        "arguments": table_json(&x.arguments),
    });
    // RabbitMQ shows the key only on an exchange that has a policy.
    if let Some(p) = &x.policy {
        out["policy"] = json!(p);
    }
    if let Some(stats) = rates.exchange(&x.vhost, &x.name) {
        out["message_stats"] = stats;
    }
    out
}

async fn list_all(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let mut items = Vec::new();
    for v in admin.vhosts() {
        if caller.sees_vhost(&admin, &v.name) {
            items.extend(
                admin
                    .exchanges(&v.name)?
                    .iter()
                    .map(|x| exchange_json(&rates, x)),
            );
        }
    }
    Ok(Json(shape(items, &params)?))
}

async fn list(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Path(vhost): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    args::vhost(&admin, &caller, &vhost)?;
    let items = admin
        .exchanges(&vhost)?
        .iter()
        .map(|x| exchange_json(&rates, x))
        .collect();
    Ok(Json(shape(items, &params)?))
}

async fn one(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    args::vhost(&admin, &caller, &vhost)?;
    let x = admin
        .exchange(&vhost, exchange_name(&name))
        .map_err(|_| ApiError::not_found())?;
    let mut out = exchange_json(&rates, &x);
    out["incoming"] = json!([]);
    out["outgoing"] = json!([]);
    Ok(Json(out))
}

/// 201 when declared, 204 when an equivalent exchange was there already.
async fn put(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, name)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    args::vhost(&admin, &caller, &vhost)?;
    let m = body::object(&bytes)?;
    let kind = m.get("type").map(body::text).unwrap_or("direct".into());
    let (durable, auto_delete) = (args::flag(&m, "durable")?, args::flag(&m, "auto_delete")?);
    let internal = args::flag(&m, "internal")?;
    let arguments = args::table(m.get("arguments"))?;
    let r = Resource {
        vhost: &vhost,
        kind: "exchange",
        name: &name,
    };
    permit(&admin, &caller, &r, Permission::Configure)?;
    let existed = admin.exchange(&vhost, &name).is_ok();
    admin
        .declare_exchange(
            &vhost,
            &name,
            &kind,
            durable,
            auto_delete,
            internal,
            &arguments,
        )
        .map_err(refused)?;
    Ok(match existed {
        true => StatusCode::NO_CONTENT,
        false => StatusCode::CREATED,
    })
}

async fn delete(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, name)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> ApiResult<StatusCode> {
    args::vhost(&admin, &caller, &vhost)?;
    let name = exchange_name(&name);
    admin
        .exchange(&vhost, name)
        .map_err(|_| ApiError::not_found())?;
    let r = Resource {
        vhost: &vhost,
        kind: "exchange",
        name,
    };
    permit(&admin, &caller, &r, Permission::Configure)?;
    let if_unused = args::query_flag(&params, "if-unused");
    admin
        .delete_exchange(&vhost, name, if_unused)
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"routed": bool}`; the body needs routing_key, payload, payload_encoding and properties.
async fn publish(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, name)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<Json<Value>> {
    args::vhost(&admin, &caller, &vhost)?;
    let m = body::object(&bytes)?;
    let got = body::require(
        &m,
        &["routing_key", "properties", "payload", "payload_encoding"],
    )?;
    let payload = body::text(got[2]);
    let payload = match body::text(got[3]).as_str() {
        "string" => payload.into_bytes(),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(payload.trim())
            .map_err(|_| ApiError::bad_request("not_base64"))?,
        _ => return Err(ApiError::bad_request("payload_encoding_not_supported")),
    };
    let properties = super::messages::properties(got[1])?;
    let r = Resource {
        vhost: &vhost,
        kind: "exchange",
        name: exchange_name(&name),
    };
    if !admin.user_allows(&caller.name, &vhost, Permission::Write, r.name) {
        return Err(ApiError::bad_request(format!("403 {}", r.refusal(&caller))));
    }
    let routed = admin
        .publish(
            &vhost,
            exchange_name(&name),
            &body::text(got[0]),
            &properties,
            &payload,
        )
        .map_err(|e| ApiError::bad_request(format!("{} {}", e.code as u16, e.reply_text())))?;
    Ok(Json(json!({ "routed": routed })))
}

/// The bindings of `vhost` that `keep` selects; none (not a 404) when the vhost or the
/// exchange is missing, as RabbitMQ answers.
fn bindings_of(
    admin: &Admin,
    caller: &Caller,
    vhost: &str,
    keep: impl Fn(&warren_server::admin::BindingInfo) -> bool,
) -> ApiResult<Vec<Value>> {
    if admin.vhost(vhost).is_err() {
        return Ok(Vec::new());
    }
    caller.require_vhost(admin, vhost)?;
    Ok(admin
        .bindings(vhost)?
        .iter()
        .filter(|b| keep(b))
        .map(binding_json)
        .collect())
}

async fn source(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, name)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let name = exchange_name(&name);
    let items = bindings_of(&admin, &caller, &vhost, |b| b.source == name)?;
    Ok(Json(shape(items, &params)?))
}

async fn destination(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, name)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let name = exchange_name(&name);
    let items = bindings_of(&admin, &caller, &vhost, |b| {
        b.destination == name && b.destination_type == DestinationType::Exchange
    })?;
    Ok(Json(shape(items, &params)?))
}
