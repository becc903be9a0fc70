//! The topology sections of a definitions import (queues, exchanges, bindings): read and
//! checked whole before anything is applied, then declared through the facade like any
//! client's declarations (so RabbitMQ's equivalence checks apply; a declaration that fails
//! midway leaves those before it, as in RabbitMQ).

use crate::errors::{ApiError, ApiResult};
use crate::tables::json_table;
use serde::Deserialize;
use serde_json::Value;
use warren_codec::FieldTable;
use warren_server::admin::DestinationType;
use warren_server::Admin;

#[derive(Debug, Default, Deserialize)]
pub struct Topology {
    #[serde(default)]
    queues: Vec<QueueDef>,
    #[serde(default)]
    exchanges: Vec<ExchangeDef>,
    #[serde(default)]
    bindings: Vec<BindingDef>,
    #[serde(default)]
    vhosts: Vec<Named>,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

fn yes() -> bool {
    true
}

fn empty() -> Value {
    Value::Object(Default::default())
}

#[derive(Debug, Deserialize)]
pub struct QueueDef {
    name: String,
    vhost: Option<String>,
    #[serde(default = "yes")]
    durable: bool,
    #[serde(default)]
    auto_delete: bool,
    #[serde(default = "empty")]
    arguments: Value,
}

#[derive(Debug, Deserialize)]
pub struct ExchangeDef {
    name: String,
    vhost: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "yes")]
    durable: bool,
    #[serde(default)]
    auto_delete: bool,
    #[serde(default)]
    internal: bool,
    #[serde(default = "empty")]
    arguments: Value,
}

#[derive(Debug, Deserialize)]
pub struct BindingDef {
    source: String,
    vhost: Option<String>,
    destination: String,
    destination_type: String,
    #[serde(default)]
    routing_key: String,
    #[serde(default = "empty")]
    arguments: Value,
}

const EXCHANGE_TYPES: [&str; 5] = ["direct", "fanout", "topic", "headers", "x-delayed-message"];

/// One declaration, checked: its vhost and arguments resolved.
pub enum Step<'a> {
    Exchange(&'a ExchangeDef, String, FieldTable),
    Queue(&'a QueueDef, String, FieldTable),
    Binding(&'a BindingDef, String, DestinationType, FieldTable),
}

impl Topology {
    pub fn parse(json: &str) -> ApiResult<Topology> {
        serde_json::from_str(json).map_err(|e| ApiError::bad_request(e.to_string()))
    }

    /// Checks every entry (`vhost`: the one a per-vhost import names), and returns the steps
    /// to apply, exchanges first so bindings find them.
    pub fn check(&self, admin: &Admin, vhost: Option<&str>) -> ApiResult<Vec<Step<'_>>> {
        let place = |given: &Option<String>| -> ApiResult<String> {
            let v = vhost.map(String::from).or_else(|| given.clone());
            let v = v.ok_or_else(|| ApiError::bad_request("vhost_not_given"))?;
            let known = admin.vhost(&v).is_ok() || self.vhosts.iter().any(|d| d.name == v);
            known
                .then_some(v.clone())
                .ok_or_else(|| ApiError::bad_request(serde_json::json!(["no_such_vhost", v])))
        };
        let args = |a: &Value| json_table(a).ok_or_else(|| ApiError::bad_request("bad arguments"));
        let mut steps = Vec::new();
        for x in &self.exchanges {
            if !EXCHANGE_TYPES.contains(&x.kind.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "unknown exchange type '{}'",
                    x.kind
                )));
            }
            steps.push(Step::Exchange(x, place(&x.vhost)?, args(&x.arguments)?));
        }
        for q in &self.queues {
            steps.push(Step::Queue(q, place(&q.vhost)?, args(&q.arguments)?));
        }
        for b in &self.bindings {
            let kind = match b.destination_type.as_str() {
                "queue" => DestinationType::Queue,
                "exchange" => DestinationType::Exchange,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "bad destination_type '{other}'"
                    )))
                }
            };
            steps.push(Step::Binding(
                b,
                place(&b.vhost)?,
                kind,
                args(&b.arguments)?,
            ));
        }
        Ok(steps)
    }
}

/// Declares what [`Topology::check`] returned, in order.
pub fn apply(admin: &Admin, steps: Vec<Step<'_>>) -> ApiResult<()> {
    for step in steps {
        match step {
            Step::Exchange(x, v, a) => {
                admin.declare_exchange(
                    &v,
                    &x.name,
                    &x.kind,
                    x.durable,
                    x.auto_delete,
                    x.internal,
                    &a,
                )?;
            }
            Step::Queue(q, v, a) => {
                admin.declare_queue(&v, &q.name, q.durable, q.auto_delete, &a)?;
            }
            Step::Binding(b, v, kind, a) => {
                admin.bind(&v, &b.source, &b.destination, kind, &b.routing_key, &a)?;
            }
        }
    }
    Ok(())
}
