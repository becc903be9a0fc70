//! Policies, queues and connections: set_policy / clear_policy (RabbitMQ's /api/policies),
//! purge_queue, delete_queue and close_connection.

use super::Ctx;
use crate::error::{CtlError, CtlResult, EX_SOFTWARE, EX_UNAVAILABLE, EX_USAGE};
use serde_json::{json, Value};

pub fn set_policy(
    ctx: &mut Ctx,
    name: &str,
    pattern: &str,
    definition: &str,
    priority: i64,
    apply_to: &str,
) -> CtlResult<()> {
    let vhost = ctx.vhost.clone();
    ctx.out.banner(&format!(
        "Setting policy \"{name}\" for pattern \"{pattern}\" to \"{definition}\" with priority \"{priority}\" for vhost \"{vhost}\" ..."
    ));
    let definition: Value = serde_json::from_str(definition)
        .map_err(|_| CtlError::reason(EX_UNAVAILABLE, "JSON decoding error. Reason: badarg"))?;
    let body = json!({"pattern": pattern, "definition": definition,
                      "priority": priority, "apply-to": apply_to});
    let reply = ctx.client.put(&["policies", &vhost, name], &body)?;
    ctx.expect(reply, EX_SOFTWARE, EX_SOFTWARE).map(drop)
}

pub fn clear_policy(ctx: &mut Ctx, name: &str) -> CtlResult<()> {
    let vhost = ctx.vhost.clone();
    ctx.out.banner(&format!(
        "Clearing policy \"{name}\" on vhost \"{vhost}\" ..."
    ));
    let url = ctx.client.url(&["policies", &vhost, name]);
    let reply = ctx.client.delete(&url, None)?;
    if reply.status == 404 {
        return Err(CtlError::reason(EX_UNAVAILABLE, "Parameter does not exist"));
    }
    ctx.expect(reply, EX_UNAVAILABLE, EX_SOFTWARE).map(drop)
}

pub fn purge_queue(ctx: &mut Ctx, queue: &str) -> CtlResult<()> {
    let vhost = ctx.vhost.clone();
    ctx.out
        .banner(&format!("Purging queue '{queue}' in vhost '{vhost}' ..."));
    let url = ctx.client.url(&["queues", &vhost, queue, "contents"]);
    let reply = ctx.client.delete(&url, None)?;
    if reply.status == 404 {
        return Err(CtlError::reason(EX_UNAVAILABLE, "not_found"));
    }
    ctx.expect(reply, EX_UNAVAILABLE, EX_SOFTWARE).map(drop)
}

pub fn delete_queue(ctx: &mut Ctx, queue: &str, if_empty: bool, if_unused: bool) -> CtlResult<()> {
    let vhost = ctx.vhost.clone();
    let condition = match (if_empty, if_unused) {
        (true, true) => " if queue is empty and if queue is unused",
        (true, false) => " if queue is empty",
        (false, true) => " if queue is unused",
        (false, false) => "",
    };
    ctx.out.banner(&format!(
        "Deleting queue '{queue}' on vhost '{vhost}'{condition} ..."
    ));
    let reply = ctx.client.get(&["queues", &vhost, queue])?;
    if reply.status == 404 {
        return Err(CtlError::reason(EX_USAGE, "Queue not found"));
    }
    let ready = ctx.expect(reply, EX_USAGE, EX_SOFTWARE)?.body["messages_ready"]
        .as_u64()
        .unwrap_or(0);
    let mut url = ctx.client.url(&["queues", &vhost, queue]);
    let query: Vec<&str> = [(if_empty, "if-empty=true"), (if_unused, "if-unused=true")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, q)| *q)
        .collect();
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    let reply = ctx.client.delete(&url, None)?;
    ctx.expect(reply, EX_USAGE, EX_SOFTWARE)?;
    ctx.out.line(&format!(
        "Queue was successfully deleted with {ready} ready messages"
    ));
    Ok(())
}

/// The connection is named as the management API names it; rabbitmqctl takes its Erlang
/// pid instead (docs/cli.md).
pub fn close_connection(ctx: &mut Ctx, name: &str, reason: &str) -> CtlResult<()> {
    ctx.out
        .banner(&format!("Closing connection {name}, reason: {reason}..."));
    let url = ctx.client.url(&["connections", name]);
    let reply = ctx.client.delete(&url, Some(reason))?;
    ctx.expect(reply, EX_UNAVAILABLE, EX_SOFTWARE).map(drop)
}
