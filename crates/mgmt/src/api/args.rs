//! What the topology endpoints share: JSON bodies' arguments as AMQP field tables (RabbitMQ
//! reads integers as signed 64-bit `long`, other numbers as doubles), RabbitMQ's boolean
//! fields, the vhost check of a request, and how facade errors read in these endpoints.

use crate::auth::Caller;
use crate::errors::{ApiError, ApiResult};
use serde_json::{Map, Value};
use warren_codec::{FieldArray, FieldTable, FieldValue, LongStr, ShortStr};
use warren_server::access::permissions::Permission;
use warren_server::{Admin, AmqpError};

/// A JSON object as a field table; anything else is RabbitMQ's 400.
pub fn table(v: Option<&Value>) -> ApiResult<FieldTable> {
    match v {
        None | Some(Value::Null) => Ok(FieldTable::new()),
        Some(Value::Object(m)) => object_table(m),
        Some(Value::Array(a)) if a.is_empty() => Ok(FieldTable::new()),
        Some(other) => Err(ApiError::bad_request(format!("not a table: {other}"))),
    }
}

fn object_table(m: &Map<String, Value>) -> ApiResult<FieldTable> {
    let mut out = FieldTable::new();
    for (k, v) in m {
        let key = ShortStr::try_from(k.as_str())
            .map_err(|_| ApiError::bad_request("argument name too long"))?;
        out.push(key, field(v)?);
    }
    Ok(out)
}

fn field(v: &Value) -> ApiResult<FieldValue> {
    Ok(match v {
        Value::Null => FieldValue::Void,
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::I64(i),
            None => FieldValue::F64(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => FieldValue::LongStr(LongStr::from(s.as_str())),
        Value::Array(a) => {
            FieldValue::Array(FieldArray(a.iter().map(field).collect::<ApiResult<_>>()?))
        }
        Value::Object(m) => FieldValue::Table(object_table(m)?),
    })
}

/// A boolean field, `false` when absent; RabbitMQ's `["not_boolean", value]` otherwise.
pub fn flag(m: &Map<String, Value>, key: &str) -> ApiResult<bool> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" => Ok(false),
        Some(other) => Err(ApiError::bad_request(Value::Array(vec![
            Value::from("not_boolean"),
            Value::from(crate::body::text(other)),
        ]))),
    }
}

/// A query flag such as `if-unused=true`.
pub fn query_flag(params: &crate::query::Params, key: &str) -> bool {
    params.get(key).is_some_and(|v| v == "true")
}

/// The vhost must exist (404) and the caller may act in it (401).
pub fn vhost(admin: &Admin, caller: &Caller, vhost: &str) -> ApiResult<()> {
    admin.vhost(vhost)?;
    caller.require_vhost(admin, vhost)
}

/// A facade error as these endpoints answer it: 404 is the plain 404, 403 RabbitMQ's
/// "Access refused.", the rest a 400 with the AMQP text.
pub fn refused(e: AmqpError) -> ApiError {
    match e.code as u16 {
        403 => ApiError::not_authorised("Access refused."),
        _ => ApiError::from(e),
    }
}

/// The default exchange is `amq.default` in paths.
pub fn exchange_name(name: &str) -> &str {
    match name {
        "amq.default" => "",
        other => other,
    }
}

/// A resource the caller acts on, for the permission check.
pub struct Resource<'a> {
    pub vhost: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
}

impl Resource<'_> {
    /// RabbitMQ's AMQP refusal text for this resource and caller.
    pub fn refusal(&self, caller: &Caller) -> String {
        format!(
            "ACCESS_REFUSED - access to {} '{}' in vhost '{}' refused for user '{}'",
            self.kind,
            if self.name.is_empty() {
                "amq.default"
            } else {
                self.name
            },
            self.vhost,
            caller.name
        )
    }
}

/// The caller must hold `permission` on the resource, or get RabbitMQ's 401 "Access refused."
/// (its management requests run as the caller, so AMQP permissions apply to them).
pub fn permit(
    admin: &Admin,
    caller: &Caller,
    r: &Resource,
    permission: Permission,
) -> ApiResult<()> {
    match admin.user_allows(&caller.name, r.vhost, permission, r.name) {
        true => Ok(()),
        false => Err(ApiError::not_authorised("Access refused.")),
    }
}
