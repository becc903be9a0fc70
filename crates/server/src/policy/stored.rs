//! A policy's stored record: a version byte, then the JSON RabbitMQ's definitions files use
//! for it (`pattern`, `apply-to`, `priority`, `definition`; the name and vhost are the
//! store's key). Read back through the same validation as a new policy.

use super::{Policy, PolicyKind, PolicySpec};
use bytes::Bytes;
use serde_json::{json, Value};

const VERSION: u8 = 1;

pub(crate) fn encode(p: &Policy) -> Bytes {
    let body = json!({
        "pattern": p.pattern,
        "apply-to": p.apply_to.as_str(),
        "priority": p.priority,
        "definition": p.definition,
    });
    let mut out = vec![VERSION];
    out.extend_from_slice(body.to_string().as_bytes());
    Bytes::from(out)
}

pub(crate) fn decode(name: &str, kind: PolicyKind, def: &[u8]) -> Result<Policy, String> {
    let (&version, body) = def.split_first().ok_or("an empty policy record")?;
    if version != VERSION {
        return Err(format!("policy record version {version}"));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    PolicySpec {
        name: name.to_string(),
        pattern: v["pattern"].clone(),
        apply_to: v.get("apply-to").cloned(),
        priority: v.get("priority").cloned(),
        definition: v["definition"].clone(),
    }
    .validate(kind)
}
