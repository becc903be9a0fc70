//! A policy's validation as RabbitMQ 3.10.8 words it: the priority, the pattern, apply-to,
//! then the definition, key by key (`rabbit_policies`, and the mirroring keys a single node
//! accepts and has nothing to do with). Values appear in the texts as Erlang prints them
//! (`<<"x">>`, `[{<<"bogus">>,1}]`), since RabbitMQ formats them with `~p`.

use super::{ApplyTo, Policy, PolicyKind, PolicySpec};
use fancy_regex::Regex;
use serde_json::{Map, Number, Value};

/// Keys a policy may set (RabbitMQ 3.10.8's `rabbit_policies`).
const POLICY_KEYS: &[&str] = &[
    "alternate-exchange",
    "dead-letter-exchange",
    "dead-letter-routing-key",
    "dead-letter-strategy",
    "message-ttl",
    "expires",
    "max-length",
    "max-length-bytes",
    "max-in-memory-length",
    "max-in-memory-bytes",
    "queue-mode",
    "queue-version",
    "overflow",
    "delivery-limit",
    "max-age",
    "stream-max-segment-size-bytes",
    "queue-leader-locator",
    "initial-cluster-size",
    // RabbitMQ 3.12's, for the `x-consumer-timeout` Warren already takes (C34).
    "consumer-timeout",
];

/// The mirroring keys: accepted and checked, without effect on one node (as on RabbitMQ's).
const HA_KEYS: &[&str] = &[
    "ha-mode",
    "ha-params",
    "ha-sync-mode",
    "ha-sync-batch-size",
    "ha-promote-on-shutdown",
    "ha-promote-on-failure",
];

/// The only keys an operator policy may set.
const OPERATOR_KEYS: &[&str] = &[
    "expires",
    "message-ttl",
    "max-length",
    "max-length-bytes",
    "max-in-memory-length",
    "max-in-memory-bytes",
    "delivery-limit",
];

/// The largest `stream-max-segment-size-bytes` (3 GB).
const MAX_SEGMENT_SIZE: i64 = 3_000_000_000;

pub(super) fn policy(spec: &PolicySpec, kind: PolicyKind) -> Result<Policy, String> {
    // RabbitMQ lists every failing part, the last checked first.
    let definition = definition(&spec.definition, kind);
    let apply_to = apply_to(spec.apply_to.as_ref());
    let regex = pattern(&spec.pattern);
    let priority = priority(spec.priority.as_ref());
    match (definition, apply_to, regex, priority) {
        (Ok(definition), Ok(apply_to), Ok(regex), Ok(priority)) => Ok(Policy {
            name: spec.name.clone(),
            pattern: spec.pattern.as_str().unwrap_or_default().to_string(),
            apply_to,
            priority,
            definition,
            regex,
        }),
        (d, a, r, p) => Err([d.err(), a.err(), r.err(), p.err()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

fn priority(v: Option<&Value>) -> Result<Number, String> {
    match v {
        None => Ok(Number::from(0)),
        Some(Value::Number(n)) => Ok(n.clone()),
        Some(other) => Err(format!(
            "priority should be a number, actually was {}",
            erlang_term(other)
        )),
    }
}

fn pattern(v: &Value) -> Result<Regex, String> {
    match v {
        Value::String(s) => Regex::new(s).map_err(|e| {
            format!("pattern should be regular expression but is invalid: {{\"{e}\",0}}")
        }),
        other => Err(format!(
            "pattern should be a binary but was {}",
            erlang_term(other)
        )),
    }
}

fn apply_to(v: Option<&Value>) -> Result<ApplyTo, String> {
    let Some(v) = v else {
        return Ok(ApplyTo::All);
    };
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    ApplyTo::parse(&text).ok_or_else(|| {
        format!("apply-to '{text}' unrecognised; should be 'queues', 'exchanges' or 'all'")
    })
}

fn definition(v: &Value, kind: PolicyKind) -> Result<Map<String, Value>, String> {
    let Value::Object(map) = v else {
        return Err(format!(
            "definition must be a dictionary: {}",
            erlang_term(v)
        ));
    };
    if map.is_empty() {
        return Err("no policy provided".to_string());
    }
    // Erlang's small maps iterate in key order: the first bad key is the first by name.
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let allowed = match kind {
        PolicyKind::Policy => POLICY_KEYS,
        PolicyKind::Operator => OPERATOR_KEYS,
    };
    for k in &keys {
        if allowed.contains(&k.as_str()) {
            value(k, &map[k.as_str()])?;
        }
    }
    if kind == PolicyKind::Policy {
        mirroring(map)?;
    }
    let unknown: Vec<String> = keys
        .iter()
        .filter(|k| {
            let mirroring = kind == PolicyKind::Policy && HA_KEYS.contains(&k.as_str());
            !(allowed.contains(&k.as_str()) || mirroring)
        })
        .map(|k| format!("{{{},{}}}", binary(k), erlang_term(&map[k.as_str()])))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "[{}] are not recognised policy settings",
            unknown.join(",")
        ));
    }
    Ok(map.clone())
}

fn non_negative(v: &Value) -> bool {
    v.as_i64().is_some_and(|n| n >= 0) || v.as_u64().is_some()
}

fn one_of(v: &Value, allowed: &[&str]) -> bool {
    v.as_str().is_some_and(|s| allowed.contains(&s))
}

/// One core key's value; the error names the value as RabbitMQ's `~p` does.
fn value(key: &str, v: &Value) -> Result<(), String> {
    let (ok, what) = match key {
        "alternate-exchange" => (v.is_string(), "a valid alternate exchange name"),
        "dead-letter-exchange" => (v.is_string(), "a valid dead letter exchange name"),
        "dead-letter-routing-key" => (v.is_string(), "a valid dead letter routing key"),
        "dead-letter-strategy" => (
            one_of(v, &["at-most-once", "at-least-once"]),
            "a valid dead letter strategy",
        ),
        "message-ttl" => (non_negative(v), "a valid message TTL"),
        "expires" => (v.as_i64().is_some_and(|n| n >= 1), "a valid queue expiry"),
        "max-length" => (non_negative(v), "a valid maximum length"),
        "max-length-bytes" => (non_negative(v), "a valid maximum length in bytes"),
        "max-in-memory-length" | "max-in-memory-bytes" => {
            (non_negative(v), "a valid maximum memory in bytes")
        }
        "queue-mode" => (one_of(v, &["default", "lazy"]), "a valid queue-mode value"),
        "queue-version" => (
            matches!(v.as_i64(), Some(1 | 2)),
            "a valid queue-version value",
        ),
        "overflow" => (
            one_of(v, &["drop-head", "reject-publish", "reject-publish-dlx"]),
            "a valid overflow value",
        ),
        "delivery-limit" => (non_negative(v), "a valid delivery limit"),
        "max-age" => (max_age(v), "a valid max age"),
        "queue-leader-locator" => (
            one_of(v, &["client-local", "balanced", "random", "least-leaders"]),
            "a valid queue leader locator value",
        ),
        "initial-cluster-size" => (non_negative(v), "a valid cluster size"),
        "stream-max-segment-size-bytes" => (
            v.as_i64()
                .is_some_and(|n| (0..=MAX_SEGMENT_SIZE).contains(&n)),
            "a valid segment size",
        ),
        "consumer-timeout" => (non_negative(v), "a valid consumer timeout"),
        _ => (true, ""),
    };
    match ok {
        true => Ok(()),
        false => Err(format!("{} is not {what}", erlang_term(v))),
    }
}

/// `max-age`: a number and a unit (Y, M, D, h, m, s), as RabbitMQ's `check_max_age`.
fn max_age(v: &Value) -> bool {
    let Some(s) = v.as_str() else {
        return false;
    };
    let digits = s.trim_end_matches(['Y', 'M', 'D', 'h', 'm', 's']);
    digits.len() + 1 == s.len() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The mirroring keys, as `rabbit_mirror_queue_misc` checks them.
fn mirroring(map: &Map<String, Value>) -> Result<(), String> {
    let get = |k: &str| map.get(k);
    if HA_KEYS.iter().all(|k| get(k).is_none()) {
        return Ok(());
    }
    let Some(mode) = get("ha-mode") else {
        return Err(
            "ha-mode must be specified to specify ha-params, ha-sync-mode or \
                    ha-promote-on-shutdown"
                .to_string(),
        );
    };
    let params = get("ha-params");
    let shown = |v: Option<&Value>| v.map_or("none".to_string(), erlang_term);
    match mode.as_str() {
        Some("all") if params.is_some() => {
            return Err("ha-mode=\"all\" does not take parameters".to_string())
        }
        Some("all") => {}
        Some("exactly") if params.and_then(Value::as_i64).is_some_and(|n| n > 0) => {}
        Some("exactly") => {
            return Err(format!(
                "ha-mode=\"exactly\" takes an integer, {} given",
                shown(params)
            ))
        }
        Some("nodes") => nodes(params)?,
        _ => {
            return Err(format!(
                "{} is not a valid ha-mode value",
                erlang_term(mode)
            ))
        }
    }
    if let Some(m) = get("ha-sync-mode").filter(|m| !one_of(m, &["manual", "automatic"])) {
        return Err(format!(
            "ha-sync-mode must be \"manual\" or \"automatic\", got {}",
            erlang_term(m)
        ));
    }
    if let Some(n) = get("ha-sync-batch-size").filter(|n| n.as_i64().is_none_or(|n| n <= 0)) {
        return Err(format!(
            "ha-sync-batch-size takes an integer greater than 0, {} given",
            erlang_term(n)
        ));
    }
    for key in ["ha-promote-on-shutdown", "ha-promote-on-failure"] {
        if let Some(m) = get(key).filter(|m| !one_of(m, &["always", "when-synced"])) {
            return Err(format!(
                "{key} must be \"always\" or \"when-synced\", got {}",
                erlang_term(m)
            ));
        }
    }
    Ok(())
}

fn nodes(params: Option<&Value>) -> Result<(), String> {
    match params {
        Some(Value::Array(a)) if a.is_empty() => {
            Err("ha-mode=\"nodes\" list must be non-empty".to_string())
        }
        Some(Value::Array(a)) => {
            let bad: Vec<&Value> = a.iter().filter(|v| !v.is_string()).collect();
            match bad.is_empty() {
                true => Ok(()),
                false => Err(format!(
                    "ha-mode=\"nodes\" takes a list of strings, {} was not a string",
                    erlang_term(&Value::Array(bad.into_iter().cloned().collect()))
                )),
            }
        }
        other => Err(format!(
            "ha-mode=\"nodes\" takes a list, {} given",
            other.map_or("none".to_string(), erlang_term)
        )),
    }
}

fn binary(s: &str) -> String {
    let printable = s.bytes().all(|b| (0x20..0x7f).contains(&b));
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
    match printable {
        true => format!("<<\"{escaped}\">>"),
        false => format!("<<\"{escaped}\"/utf8>>"),
    }
}

/// A JSON value as Erlang's `~p` prints what RabbitMQ decoded it to: strings as binaries,
/// objects as maps, `null` as the atom.
fn erlang_term(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or_default();
            match f.fract() == 0.0 && f.abs() < 1e15 {
                true => format!("{f:.1}"),
                false => f.to_string(),
            }
        }
        Value::Number(n) => n.to_string(),
        Value::String(s) => binary(s),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(erlang_term).collect::<Vec<_>>().join(",")
        ),
        Value::Object(m) => format!(
            "#{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{} => {}", binary(k), erlang_term(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}
