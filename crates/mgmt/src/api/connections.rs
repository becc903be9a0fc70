//! `/api/connections`, `/api/channels` and `/api/consumers`: the live objects. Connections are
//! named as RabbitMQ names them (`PEER -> LOCAL`), channels `NAME (N)`. Monitoring users see
//! every connection, others their own. DELETE on a connection closes it with 320
//! CONNECTION_FORCED and the `X-Reason` header's text. Channels' `message_stats` and
//! connections' `*_oct_details` rates come from the sampler (`rates`).

use crate::auth::Caller;
use crate::errors::{ApiError, ApiResult};
use crate::query::{shape, Params};
use crate::rates::Rates;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use warren_server::admin::{ChannelInfo, ConnectionInfo};
use warren_server::Admin;

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/connections", get(list))
        .route("/connections/{name}", get(one).delete(close))
        .route("/connections/{name}/channels", get(channels_of))
        .route("/vhosts/{vhost}/connections", get(list_in))
        .route("/channels", get(channels))
        .route("/vhosts/{vhost}/channels", get(channels_in))
        .route("/channels/{name}", get(channel))
        .route("/consumers", get(consumers))
        .route("/consumers/{vhost}", get(consumers_in))
}

fn name(c: &ConnectionInfo) -> String {
    match c.local {
        Some(local) => format!("{} -> {}", c.peer, local),
        None => c.peer.to_string(),
    }
}

fn connection_json(admin: &Admin, rates: &Rates, c: &ConnectionInfo) -> Value {
    let mut out = json!({
        "name": name(c),
        "node": admin.node_name(),
        "vhost": c.vhost,
        "user": c.user,
        "peer_host": c.peer.ip().to_string(),
        "peer_port": c.peer.port(),
        "host": c.local.map(|l| l.ip().to_string()),
        "port": c.local.map(|l| l.port()),
        "connected_at": c.connected_at,
        "channels": c.channels,
        "state": "running",
        "protocol": "AMQP 0-9-1",
        "type": "network",
        "recv_oct": c.octets.recv_oct,
        "recv_cnt": c.octets.recv_cnt,
        "send_oct": c.octets.send_oct,
        "send_cnt": c.octets.send_cnt,
    });
    if let Value::Object(m) = &mut out {
        m.extend(rates.connection(c.id));
    }
    out
}

fn channel_json(admin: &Admin, rates: &Rates, c: &ConnectionInfo, ch: &ChannelInfo) -> Value {
    let mut out = json!({
        "name": format!("{} ({})", name(c), ch.number),
        "number": ch.number,
        "node": admin.node_name(),
        "vhost": c.vhost,
        "user": c.user,
        "connection_details": {
            "name": name(c),
            "peer_host": c.peer.ip().to_string(),
            "peer_port": c.peer.port(),
        },
        "consumer_count": ch.consumers,
        "messages_unacknowledged": ch.unacked,
        "prefetch_count": ch.prefetch,
        "confirm": ch.confirm,
        "transactional": ch.transactional,
        "state": "running",
    });
    if let Some(stats) = rates.channel(c.id, ch.number) {
        out["message_stats"] = stats;
    }
    out
}

fn consumer_json(
    admin: &Admin,
    c: &ConnectionInfo,
    ch: &ChannelInfo,
    tag: &str,
    queue: &str,
) -> Value {
    json!({
        "consumer_tag": tag,
        "queue": {"name": queue, "vhost": c.vhost},
        "channel_details": {
            "connection_name": name(c),
            "name": format!("{} ({})", name(c), ch.number),
            "node": admin.node_name(),
            "number": ch.number,
            "peer_host": c.peer.ip().to_string(),
            "peer_port": c.peer.port(),
            "user": c.user,
        },
        "prefetch_count": ch.prefetch,
    })
}

/// The connections the caller may see, optionally only those of one vhost.
async fn visible(admin: &Admin, caller: &Caller, vhost: Option<&str>) -> Vec<ConnectionInfo> {
    let mut all = admin.connections().await;
    all.retain(|c| caller.is_monitor() || c.user == caller.name);
    all.retain(|c| vhost.is_none_or(|v| c.vhost == v));
    all.sort_by_key(name);
    all
}

async fn find(admin: &Admin, caller: &Caller, wanted: &str) -> ApiResult<ConnectionInfo> {
    visible(admin, caller, None)
        .await
        .into_iter()
        .find(|c| name(c) == wanted)
        .ok_or_else(ApiError::not_found)
}

/// Every channel of the given connections, with its connection.
async fn channel_list(
    admin: &Admin,
    conns: &[ConnectionInfo],
) -> Vec<(ConnectionInfo, ChannelInfo)> {
    let mut out = Vec::new();
    for c in conns {
        // A connection gone meanwhile has no channels.
        for ch in admin.channels(c.id).await.unwrap_or_default() {
            out.push((c.clone(), ch));
        }
    }
    out
}

async fn list(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    connections_for(&admin, &rates, &caller, None, &params).await
}

async fn list_in(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Path(vhost): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    super::args::vhost(&admin, &caller, &vhost)?;
    connections_for(&admin, &rates, &caller, Some(&vhost), &params).await
}

/// The connections the caller sees (of one vhost or all), shaped as the query asks.
async fn connections_for(
    admin: &Admin,
    rates: &Rates,
    caller: &Caller,
    vhost: Option<&str>,
    params: &Params,
) -> ApiResult<Json<Value>> {
    let conns = visible(admin, caller, vhost).await;
    let items = conns
        .iter()
        .map(|c| connection_json(admin, rates, c))
        .collect();
    Ok(Json(shape(items, params)?))
}

async fn one(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Path(wanted): Path<String>,
) -> ApiResult<Json<Value>> {
    let c = find(&admin, &caller, &wanted).await?;
    Ok(Json(connection_json(&admin, &rates, &c)))
}

async fn close(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(wanted): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let c = find(&admin, &caller, &wanted).await?;
    let reason = headers.get("x-reason").and_then(|v| v.to_str().ok());
    admin
        .close_connection(c.id, reason)
        .map_err(|_| ApiError::not_found())?;
    Ok(StatusCode::NO_CONTENT)
}

async fn channels_of(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Path(wanted): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let c = find(&admin, &caller, &wanted).await?;
    channels_json(&admin, &rates, &[c], &params).await
}

async fn channels_for(
    admin: &Admin,
    rates: &Rates,
    caller: &Caller,
    vhost: Option<&str>,
    params: &Params,
) -> ApiResult<Json<Value>> {
    let conns = visible(admin, caller, vhost).await;
    channels_json(admin, rates, &conns, params).await
}

/// The channels of `conns`, shaped as the query asks.
async fn channels_json(
    admin: &Admin,
    rates: &Rates,
    conns: &[ConnectionInfo],
    params: &Params,
) -> ApiResult<Json<Value>> {
    let list = channel_list(admin, conns).await;
    let items = list
        .iter()
        .map(|(c, ch)| channel_json(admin, rates, c, ch))
        .collect();
    Ok(Json(shape(items, params)?))
}

async fn channels(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    channels_for(&admin, &rates, &caller, None, &params).await
}

async fn channels_in(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Path(vhost): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    super::args::vhost(&admin, &caller, &vhost)?;
    channels_for(&admin, &rates, &caller, Some(&vhost), &params).await
}

async fn channel(
    State(admin): State<Admin>,
    Extension(rates): Extension<Arc<Rates>>,
    Extension(caller): Extension<Caller>,
    Path(wanted): Path<String>,
) -> ApiResult<Json<Value>> {
    let conns = visible(&admin, &caller, None).await;
    channel_list(&admin, &conns)
        .await
        .iter()
        .map(|(c, ch)| channel_json(&admin, &rates, c, ch))
        .find(|j| j["name"] == wanted.as_str())
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

async fn consumers_for(
    admin: &Admin,
    caller: &Caller,
    vhost: Option<&str>,
    params: &Params,
) -> ApiResult<Json<Value>> {
    let conns = visible(admin, caller, vhost).await;
    let mut items = Vec::new();
    for (c, ch) in channel_list(admin, &conns).await {
        for (tag, queue) in &ch.consumer_tags {
            items.push(consumer_json(admin, &c, &ch, tag, queue));
        }
    }
    Ok(Json(shape(items, params)?))
}

async fn consumers(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    consumers_for(&admin, &caller, None, &params).await
}

async fn consumers_in(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(vhost): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    // A vhost the caller may not use lists no consumers (RabbitMQ: 200 and `[]`).
    admin.vhost(&vhost)?;
    if caller.require_vhost(&admin, &vhost).is_err() {
        return Ok(Json(shape(Vec::new(), &params)?));
    }
    consumers_for(&admin, &caller, Some(&vhost), &params).await
}
