//! Sender-selected distribution on a vhost: the checks a publish's `CC`/`BCC` headers get
//! after the exchange's own, and routing with their extra keys. The header rules themselves
//! (what is valid, which keys they name) are the `sender_selected` leaf's.

use super::Vhost;
use crate::error::{AmqpError, AmqpResult};
use crate::queue::Queue;
use crate::sender_selected::{check, extend_keys};
use std::sync::Arc;
use warren_codec::FieldTable;
use warren_routing::{RouteOutcome, Router};

/// [`check`] for a publish to `exchange`, after what RabbitMQ checks before it reads the
/// headers: a missing exchange is 404 and an internal one 403 (texts as the publish path's).
pub(crate) fn check_publish(
    vhost: &Vhost,
    exchange: &str,
    headers: Option<&FieldTable>,
) -> AmqpResult<()> {
    let Err(bad) = check(headers) else {
        return Ok(());
    };
    if vhost.router.exchange_kind(exchange).is_none() {
        return Err(AmqpError::not_found(format!(
            "no exchange '{exchange}' in vhost '{}'",
            vhost.name
        ))
        .with_ids(60, 40));
    }
    if vhost.is_internal(exchange) {
        return Err(AmqpError::access_refused(format!(
            "cannot publish to internal exchange '{exchange}' in vhost '{}'",
            vhost.name
        ))
        .with_ids(60, 40));
    }
    Err(bad)
}

/// Routes with the routing key, every `CC`/`BCC` key of the headers and the `BCC` keys the
/// message carries from its publish (`carried`). A headers exchange matches on the headers
/// without `BCC`, which RabbitMQ has removed by then.
pub(crate) fn route(
    router: &Router<Arc<Queue>>,
    exchange: &str,
    routing_key: &[u8],
    carried: &[&[u8]],
    headers: Option<&FieldTable>,
    out: &mut Vec<Arc<Queue>>,
) -> RouteOutcome {
    let mut keys = vec![routing_key];
    extend_keys(headers, &mut keys);
    keys.extend_from_slice(carried);
    let visible = headers.filter(|h| h.get("BCC").is_some()).map(|h| {
        let mut h = h.clone();
        h.remove("BCC");
        h
    });
    router.route_keys(exchange, &keys, visible.as_ref().or(headers), out)
}
