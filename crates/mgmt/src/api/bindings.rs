//! `/api/bindings` in all its forms: every binding, a vhost's, those between one exchange and
//! one queue (`e/{s}/q/{d}`) or exchange (`e/{s}/e/{d}`), created by POST (201 and a
//! `Location` carrying the properties key), and one binding by its `properties_key` (GET,
//! DELETE). The key is RabbitMQ 3.10.8's: the quoted routing key, and when there are
//! arguments `~` and the base64url of `phash2` of their sorted `[{Name, Type, Value}]`.

use super::args::{self, exchange_name, permit, refused, Resource};
use super::phash::{phash2, Term};
use crate::auth::Caller;
use crate::body;
use crate::errors::{ApiError, ApiResult};
use crate::query::{shape, Params};
use crate::tables::table_json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use warren_codec::{FieldTable, FieldValue};
use warren_server::access::permissions::Permission;
use warren_server::admin::{BindingInfo, DestinationType};
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/bindings", get(list_all))
        .route("/bindings/{vhost}", get(list))
        .route(
            "/bindings/{vhost}/e/{source}/{kind}/{dest}",
            get(between).post(create),
        )
        .route(
            "/bindings/{vhost}/e/{source}/{kind}/{dest}/{props}",
            get(one).delete(remove),
        )
}

/// mochiweb's `quote_plus` (`~` stays as it is).
fn quote_plus(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn value_term(v: &FieldValue) -> Term {
    match v {
        FieldValue::Bool(b) => Term::Atom(if *b { "true" } else { "false" }),
        FieldValue::LongStr(s) => Term::Bin(s.as_bytes().to_vec()),
        FieldValue::Bytes(b) => Term::Bin(b.to_vec()),
        FieldValue::F32(f) => Term::Float(f64::from(*f)),
        FieldValue::F64(f) => Term::Float(*f),
        FieldValue::Table(t) => table_term(t),
        FieldValue::Array(a) => Term::List(
            a.0.iter()
                .map(|v| Term::Tuple(vec![Term::Atom(v.rabbit_type_name()), value_term(v)]))
                .collect(),
        ),
        FieldValue::Decimal { scale, value } => {
            Term::Tuple(vec![Term::Int((*scale).into()), Term::Int((*value).into())])
        }
        FieldValue::Timestamp(t) => Term::Int(*t as i64),
        FieldValue::Void => Term::Atom("undefined"),
        other => Term::Int(other.as_i64().unwrap_or_default()),
    }
}

/// A table as RabbitMQ keeps binding arguments: `[{Name, Type, Value}]` sorted by name.
fn table_term(t: &FieldTable) -> Term {
    let mut entries: Vec<_> = t.iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Term::List(
        entries
            .into_iter()
            .map(|(k, v)| {
                let name = Term::Bin(k.as_bytes().to_vec());
                Term::Tuple(vec![name, Term::Atom(v.rabbit_type_name()), value_term(v)])
            })
            .collect(),
    )
}

/// A key part as RabbitMQ quotes it inside a properties key: `~` is the separator there.
fn quote_part(s: &str) -> String {
    quote_plus(s).replace('~', "%7E")
}

pub fn properties_key(routing_key: &str, arguments: &FieldTable) -> String {
    if arguments.is_empty() {
        return match routing_key {
            "" => "~".into(),
            key => quote_part(key),
        };
    }
    let hash = phash2(&table_term(arguments)).to_be_bytes();
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash);
    format!("{}~{}", quote_part(routing_key), quote_part(&hash))
}

pub fn binding_json(b: &BindingInfo) -> Value {
    json!({
        "source": b.source,
        "vhost": b.vhost,
        "destination": b.destination,
        "destination_type": match b.destination_type {
            DestinationType::Queue => "queue",
            DestinationType::Exchange => "exchange",
        },
        "routing_key": b.routing_key,
        "arguments": table_json(&b.arguments),
        "properties_key": properties_key(&b.routing_key, &b.arguments),
    })
}

async fn list_all(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let mut items = Vec::new();
    for v in admin.vhosts() {
        if caller.sees_vhost(&admin, &v.name) {
            items.extend(admin.bindings(&v.name)?.iter().map(binding_json));
        }
    }
    Ok(Json(shape(items, &params)?))
}

async fn list(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(vhost): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    args::vhost(&admin, &caller, &vhost)?;
    let items = admin.bindings(&vhost)?.iter().map(binding_json).collect();
    Ok(Json(shape(items, &params)?))
}

/// Binding and unbinding need write on the destination and read on the source.
fn permit_binding(
    admin: &Admin,
    caller: &Caller,
    vhost: &str,
    (source, dest, kind): (&str, &str, DestinationType),
) -> ApiResult<()> {
    let kind = match kind {
        DestinationType::Queue => "queue",
        DestinationType::Exchange => "exchange",
    };
    let dest = Resource {
        vhost,
        kind,
        name: dest,
    };
    permit(admin, caller, &dest, Permission::Write)?;
    let source = Resource {
        vhost,
        kind: "exchange",
        name: source,
    };
    permit(admin, caller, &source, Permission::Read)
}

fn kind(k: &str) -> ApiResult<DestinationType> {
    match k {
        "q" => Ok(DestinationType::Queue),
        "e" => Ok(DestinationType::Exchange),
        _ => Err(ApiError::not_found()),
    }
}

/// The bindings from `source` to `dest`; none (not a 404) when the vhost or either end is
/// missing, as RabbitMQ answers.
fn matching(
    admin: &Admin,
    caller: &Caller,
    (vhost, source, k, dest): &(String, String, String, String),
) -> ApiResult<Vec<BindingInfo>> {
    let kind = kind(k)?;
    if admin.vhost(vhost).is_err() {
        return Ok(Vec::new());
    }
    caller.require_vhost(admin, vhost)?;
    let source = exchange_name(source);
    Ok(admin
        .bindings(vhost)?
        .into_iter()
        .filter(|b| b.source == source && b.destination == *dest && b.destination_type == kind)
        .collect())
}

async fn between(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<(String, String, String, String)>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let items = matching(&admin, &caller, &path)?;
    Ok(Json(shape(
        items.iter().map(binding_json).collect(),
        &params,
    )?))
}

async fn create(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, source, k, dest)): Path<(String, String, String, String)>,
    bytes: Bytes,
) -> ApiResult<Response> {
    let kind = kind(&k)?;
    args::vhost(&admin, &caller, &vhost)?;
    let m = body::object(&bytes)?;
    let key = m.get("routing_key").map(body::text).unwrap_or_default();
    let arguments = args::table(m.get("arguments"))?;
    let source = exchange_name(&source);
    permit_binding(&admin, &caller, &vhost, (source, &dest, kind))?;
    admin
        .bind(&vhost, source, &dest, kind, &key, &arguments)
        .map_err(|e| match e.code as u16 {
            404 => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.text),
            _ => refused(e),
        })?;
    let location = format!(
        "{}/{}",
        quote_plus(&dest),
        quote_plus(&properties_key(&key, &arguments))
    );
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

fn find(
    admin: &Admin,
    caller: &Caller,
    path: &(String, String, String, String),
    props: &str,
) -> ApiResult<BindingInfo> {
    matching(admin, caller, path)?
        .into_iter()
        .find(|b| properties_key(&b.routing_key, &b.arguments) == props)
        .ok_or_else(ApiError::not_found)
}

async fn one(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, source, k, dest, props)): Path<(String, String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    let b = find(&admin, &caller, &(vhost, source, k, dest), &props)?;
    Ok(Json(binding_json(&b)))
}

async fn remove(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path((vhost, source, k, dest, props)): Path<(String, String, String, String, String)>,
) -> ApiResult<StatusCode> {
    let b = find(&admin, &caller, &(vhost, source, k, dest), &props)?;
    let ends = (
        b.source.as_str(),
        b.destination.as_str(),
        b.destination_type,
    );
    permit_binding(&admin, &caller, &b.vhost, ends)?;
    admin
        .unbind(
            &b.vhost,
            &b.source,
            &b.destination,
            b.destination_type,
            &b.routing_key,
            &b.arguments,
        )
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}
