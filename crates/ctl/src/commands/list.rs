//! The list commands: one GET each, rows in the API's order, columns by rabbitmqctl's info
//! keys (mapped to the API's field names where they differ, as for bindings and users).

use super::Ctx;
use crate::error::{CtlError, CtlResult, EX_DATAERR, EX_SOFTWARE, EX_UNAVAILABLE, EX_USAGE};
use serde_json::Value;

/// One list: where its rows are, which columns it prints by default and which it knows.
struct List<'a> {
    segments: Vec<&'a str>,
    defaults: &'static [&'static str],
    known: &'static [&'static str],
    /// A column's value in one row of the API's answer.
    field: fn(&Value, &str) -> Value,
    /// The vhost that must exist (rabbitmqctl's 65 otherwise), for the lists that check.
    vhost: Option<&'a str>,
}

#[rustfmt::skip]
const QUEUE_KEYS: &[&str] = &[
    "name", "durable", "auto_delete", "arguments", "policy", "pid", "owner_pid", "exclusive",
    "exclusive_consumer_pid", "exclusive_consumer_tag", "messages_ready",
    "messages_unacknowledged", "messages", "messages_ready_ram", "messages_unacknowledged_ram",
    "messages_ram", "messages_persistent", "message_bytes", "message_bytes_ready",
    "message_bytes_unacknowledged", "message_bytes_ram", "message_bytes_persistent",
    "head_message_timestamp", "disk_reads", "disk_writes", "consumers", "consumer_utilisation",
    "consumer_capacity", "memory", "slave_pids", "synchronised_slave_pids", "state", "type",
    "leader", "members", "online", "vhost", "effective_policy_definition", "operator_policy",
];
#[rustfmt::skip]
const EXCHANGE_KEYS: &[&str] = &[
    "name", "type", "durable", "auto_delete", "internal", "arguments", "policy", "vhost",
];
#[rustfmt::skip]
const BINDING_KEYS: &[&str] = &[
    "source_name", "source_kind", "destination_name", "destination_kind", "routing_key",
    "arguments", "vhost",
];
#[rustfmt::skip]
const CONNECTION_KEYS: &[&str] = &[
    "pid", "name", "port", "host", "peer_port", "peer_host", "ssl", "ssl_protocol",
    "ssl_key_exchange", "ssl_cipher", "ssl_hash", "peer_cert_subject", "peer_cert_issuer",
    "peer_cert_validity", "state", "channels", "protocol", "auth_mechanism", "user", "vhost",
    "timeout", "frame_max", "channel_max", "client_properties", "recv_oct", "recv_cnt", "send_oct",
    "send_cnt", "send_pend", "connected_at", "node", "user_provided_name", "type",
];
#[rustfmt::skip]
const CHANNEL_KEYS: &[&str] = &[
    "pid", "connection", "name", "number", "user", "vhost", "transactional", "confirm",
    "consumer_count", "messages_unacknowledged", "messages_uncommitted", "acks_uncommitted",
    "messages_unconfirmed", "prefetch_count", "global_prefetch_count",
];
#[rustfmt::skip]
const CONSUMER_KEYS: &[&str] = &[
    "queue_name", "channel_pid", "consumer_tag", "ack_required", "prefetch_count", "active",
    "activity_status", "arguments",
];
const USER_KEYS: &[&str] = &["user", "tags"];
const VHOST_KEYS: &[&str] = &["name", "description", "tags", "tracing", "cluster_state"];

fn same(row: &Value, key: &str) -> Value {
    row.get(key).cloned().unwrap_or(Value::Null)
}

fn binding(row: &Value, key: &str) -> Value {
    match key {
        "source_name" => same(row, "source"),
        "source_kind" => Value::from("exchange"),
        "destination_name" => same(row, "destination"),
        "destination_kind" => same(row, "destination_type"),
        _ => same(row, key),
    }
}

/// A channel's Erlang pid is its name in the API; its connection is the connection's name.
fn channel(row: &Value, key: &str) -> Value {
    match key {
        "pid" => same(row, "name"),
        "connection" => row["connection_details"]["name"].clone(),
        _ => same(row, key),
    }
}

fn consumer(row: &Value, key: &str) -> Value {
    match key {
        "queue_name" => row["queue"]["name"].clone(),
        "channel_pid" => row["channel_details"]["name"].clone(),
        _ => same(row, key),
    }
}

fn user(row: &Value, key: &str) -> Value {
    match key {
        "user" => same(row, "name"),
        // RabbitMQ before 3.9 gave tags as one comma-separated string.
        "tags" => match same(row, "tags") {
            Value::String(s) => s.split(',').filter(|t| !t.is_empty()).collect(),
            other => other,
        },
        _ => same(row, key),
    }
}

/// A policy's definition as the JSON text it was given as.
fn policy(row: &Value, key: &str) -> Value {
    match key {
        "definition" => Value::from(same(row, key).to_string()),
        _ => same(row, key),
    }
}

impl List<'_> {
    /// `banners` are printed once the columns are known good.
    fn run(&self, ctx: &mut Ctx, asked: &[String], banners: &[&str]) -> CtlResult<()> {
        let columns = columns(asked, self.defaults, self.known)?;
        for b in banners {
            ctx.out.banner(b);
        }
        if let Some(v) = self.vhost {
            if ctx.client.get(&["vhosts", v])?.status == 404 {
                let text = format!("Virtual host '{v}' does not exist");
                return Err(CtlError::new(EX_DATAERR, text));
            }
        }
        let reply = ctx.client.get(&self.segments)?;
        let rows = match (reply.status, reply.body) {
            // A vhost that does not exist lists nothing, as in rabbitmqctl.
            (404, _) => Vec::new(),
            (s, Value::Array(rows)) if (200..300).contains(&s) => rows,
            (s, body) => {
                let r = crate::http::Reply { status: s, body };
                return Err(CtlError::reason(EX_SOFTWARE, r.reason()));
            }
        };
        let table: Vec<Vec<Value>> = rows
            .iter()
            .map(|row| columns.iter().map(|c| (self.field)(row, c)).collect())
            .collect();
        ctx.out.table(&columns, &table);
        Ok(())
    }
}

/// The columns asked for (each argument may hold several, comma-separated), or the defaults;
/// an unknown one is rabbitmqctl's usage error.
fn columns(asked: &[String], defaults: &[&str], known: &[&str]) -> CtlResult<Vec<String>> {
    let asked: Vec<String> = asked
        .iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    if asked.is_empty() {
        return Ok(defaults.iter().map(|s| s.to_string()).collect());
    }
    let bad: Vec<&str> = asked
        .iter()
        .filter(|a| !known.contains(&a.as_str()))
        .map(String::as_str)
        .collect();
    if !bad.is_empty() {
        return Err(CtlError::new(
            EX_USAGE,
            format!(
                "Error (argument validation): Info key(s) {} are not supported",
                bad.join(",")
            ),
        ));
    }
    Ok(asked)
}

pub fn queues(ctx: &mut Ctx, asked: &[String]) -> CtlResult<()> {
    let vhost = ctx.vhost.clone();
    List {
        segments: vec!["queues", &vhost],
        defaults: &["name", "messages"],
        known: QUEUE_KEYS,
        field: same,
        vhost: None,
    }
    .run(
        ctx,
        asked,
        &[
            &format!("Timeout: {}.0 seconds ...", ctx.timeout),
            &format!("Listing queues for vhost {vhost} ..."),
        ],
    )
}

pub fn exchanges(ctx: &mut Ctx, asked: &[String]) -> CtlResult<()> {
    let vhost = ctx.vhost.clone();
    List {
        segments: vec!["exchanges", &vhost],
        defaults: &["name", "type"],
        known: EXCHANGE_KEYS,
        field: same,
        vhost: None,
    }
    .run(
        ctx,
        asked,
        &[&format!("Listing exchanges for vhost {vhost} ...")],
    )
}

pub fn bindings(ctx: &mut Ctx, asked: &[String]) -> CtlResult<()> {
    let vhost = ctx.vhost.clone();
    List {
        segments: vec!["bindings", &vhost],
        defaults: &[
            "source_name",
            "source_kind",
            "destination_name",
            "destination_kind",
            "routing_key",
            "arguments",
        ],
        known: BINDING_KEYS,
        field: binding,
        vhost: None,
    }
    .run(
        ctx,
        asked,
        &[&format!("Listing bindings for vhost {vhost}...")],
    )
}

pub fn connections(ctx: &mut Ctx, asked: &[String]) -> CtlResult<()> {
    List {
        segments: vec!["connections"],
        defaults: &["user", "peer_host", "peer_port", "state"],
        known: CONNECTION_KEYS,
        field: same,
        vhost: None,
    }
    .run(ctx, asked, &["Listing connections ..."])
}

pub fn channels(ctx: &mut Ctx, asked: &[String]) -> CtlResult<()> {
    List {
        segments: vec!["channels"],
        defaults: &["pid", "user", "consumer_count", "messages_unacknowledged"],
        known: CHANNEL_KEYS,
        field: channel,
        vhost: None,
    }
    .run(ctx, asked, &["Listing channels ..."])
}

pub fn consumers(ctx: &mut Ctx, asked: &[String]) -> CtlResult<()> {
    let vhost = ctx.vhost.clone();
    List {
        segments: vec!["consumers", &vhost],
        defaults: &[
            "queue_name",
            "channel_pid",
            "consumer_tag",
            "ack_required",
            "prefetch_count",
            "active",
            "arguments",
        ],
        known: CONSUMER_KEYS,
        field: consumer,
        vhost: None,
    }
    .run(
        ctx,
        asked,
        &[&format!("Listing consumers in vhost {vhost} ...")],
    )
}

pub fn users(ctx: &mut Ctx, asked: &[String]) -> CtlResult<()> {
    List {
        segments: vec!["users"],
        defaults: &["user", "tags"],
        known: USER_KEYS,
        field: user,
        vhost: None,
    }
    .run(ctx, asked, &["Listing users ..."])
}

pub fn vhosts(ctx: &mut Ctx, asked: &[String]) -> CtlResult<()> {
    List {
        segments: vec!["vhosts"],
        defaults: &["name"],
        known: VHOST_KEYS,
        field: same,
        vhost: None,
    }
    .run(ctx, asked, &["Listing vhosts ..."])
}

pub fn permissions(ctx: &mut Ctx) -> CtlResult<()> {
    let vhost = ctx.vhost.clone();
    List {
        segments: vec!["vhosts", &vhost, "permissions"],
        defaults: &["user", "configure", "write", "read"],
        known: &[],
        field: same,
        vhost: Some(&vhost),
    }
    .run(
        ctx,
        &[],
        &[&format!("Listing permissions for vhost \"{vhost}\" ...")],
    )
}

pub fn user_permissions(ctx: &mut Ctx, name: &str) -> CtlResult<()> {
    if ctx.client.get(&["users", name])?.status == 404 {
        ctx.out
            .banner(&format!("Listing permissions for user \"{name}\" ..."));
        return Err(CtlError::reason(
            EX_UNAVAILABLE,
            format!("{{:no_such_user, \"{name}\"}}"),
        ));
    }
    List {
        segments: vec!["users", name, "permissions"],
        defaults: &["vhost", "configure", "write", "read"],
        known: &[],
        field: same,
        vhost: None,
    }
    .run(
        ctx,
        &[],
        &[&format!("Listing permissions for user \"{name}\" ...")],
    )
}

pub fn policies(ctx: &mut Ctx) -> CtlResult<()> {
    let vhost = ctx.vhost.clone();
    List {
        segments: vec!["policies", &vhost],
        defaults: &[
            "vhost",
            "name",
            "pattern",
            "apply-to",
            "definition",
            "priority",
        ],
        known: &[],
        field: policy,
        vhost: Some(&vhost),
    }
    .run(
        ctx,
        &[],
        &[&format!("Listing policies for vhost \"{vhost}\" ...")],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_split_on_commas_and_refuse_unknown_keys() {
        let got = columns(
            &["name,messages".into(), "durable".into()],
            &["x"],
            QUEUE_KEYS,
        );
        assert_eq!(got.unwrap(), ["name", "messages", "durable"]);
        assert_eq!(columns(&[], &["name"], QUEUE_KEYS).unwrap(), ["name"]);
        let err = columns(&["bogus".into()], &[], QUEUE_KEYS).unwrap_err();
        assert_eq!(err.code, EX_USAGE);
        assert!(err.message.contains("Info key(s) bogus are not supported"));
    }
}
