//! Policies and operator policies as RabbitMQ 3.10.8 has them: per vhost, a name, a pattern
//! (a regular expression on queue and exchange names), what they apply to, a priority and a
//! definition (`max-length`, `message-ttl`, `dead-letter-exchange`...). This room holds the
//! pure part: validation with RabbitMQ's texts ([`validate`]), which policy an entity gets
//! (the highest priority among those that match), how a policy and an operator policy merge,
//! how the result combines with a queue's own `x-` arguments, and the stored byte format
//! ([`stored`]). Keeping them and applying them to queues and exchanges is the vhost's.
//!
//! Patterns are PCRE in RabbitMQ; `fancy-regex` takes the lookaround and backreferences the
//! plain `regex` crate refuses (`^(?!amq\.).*`, a common policy pattern).
//!
//! Everything here runs when a policy is set or cleared and when an entity is declared or
//! recovered, never per message: a queue keeps the settings that result.

pub(crate) mod stored;
mod validate;

use fancy_regex::Regex;
use serde_json::{Map, Number, Value};
use std::sync::Arc;
use warren_codec::{FieldTable, FieldValue, LongStr, ShortStr};

/// A policy or an operator policy: where it comes from, and which keys it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Policy,
    Operator,
}

/// What a policy applies to (RabbitMQ 3.10.8 knows these three only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyTo {
    All,
    Queues,
    Exchanges,
}

impl ApplyTo {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyTo::All => "all",
            ApplyTo::Queues => "queues",
            ApplyTo::Exchanges => "exchanges",
        }
    }

    fn parse(s: &str) -> Option<ApplyTo> {
        match s {
            "all" => Some(ApplyTo::All),
            "queues" => Some(ApplyTo::Queues),
            "exchanges" => Some(ApplyTo::Exchanges),
            _ => None,
        }
    }
}

/// One validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub pattern: String,
    pub apply_to: ApplyTo,
    /// Any JSON number: RabbitMQ takes 1.5 as readily as 2.
    pub priority: Number,
    pub definition: Map<String, Value>,
    regex: Regex,
}

impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.pattern == other.pattern
            && self.apply_to == other.apply_to
            && self.priority == other.priority
            && self.definition == other.definition
    }
}

/// Keys a classic queue does not take: a policy holding one of them does not apply to classic
/// queues at all (RabbitMQ's `unsupported_policies` of `rabbit_classic_queue`).
const NOT_FOR_CLASSIC: &[&str] = &[
    "max-age",
    "stream-max-segment-size-bytes",
    "queue-leader-locator",
    "initial-cluster-size",
    "delivery-limit",
    "dead-letter-strategy",
];

impl Policy {
    fn priority_value(&self) -> f64 {
        self.priority.as_f64().unwrap_or(0.0)
    }

    /// A pattern whose backtracking runs past the crate's limit matches nothing.
    fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name).unwrap_or(false)
    }

    fn applies_to_queue(&self, name: &str) -> bool {
        self.apply_to != ApplyTo::Exchanges
            && !NOT_FOR_CLASSIC
                .iter()
                .any(|k| self.definition.contains_key(*k))
            && self.matches(name)
    }

    fn applies_to_exchange(&self, name: &str) -> bool {
        self.apply_to != ApplyTo::Queues && self.matches(name)
    }
}

/// The policies and operator policies of one vhost, each list sorted by name.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    policies: Vec<Arc<Policy>>,
    operator: Vec<Arc<Policy>>,
}

impl Policies {
    fn list_mut(&mut self, kind: PolicyKind) -> &mut Vec<Arc<Policy>> {
        match kind {
            PolicyKind::Policy => &mut self.policies,
            PolicyKind::Operator => &mut self.operator,
        }
    }

    /// The policies of one kind, by name.
    pub fn list(&self, kind: PolicyKind) -> &[Arc<Policy>] {
        match kind {
            PolicyKind::Policy => &self.policies,
            PolicyKind::Operator => &self.operator,
        }
    }

    pub fn get(&self, kind: PolicyKind, name: &str) -> Option<&Arc<Policy>> {
        self.list(kind).iter().find(|p| p.name == name)
    }

    /// Adds or replaces a policy; `true` if it is new.
    pub fn put(&mut self, kind: PolicyKind, policy: Policy) -> bool {
        let list = self.list_mut(kind);
        match list.binary_search_by(|p| p.name.as_str().cmp(&policy.name)) {
            Ok(i) => {
                list[i] = Arc::new(policy);
                false
            }
            Err(i) => {
                list.insert(i, Arc::new(policy));
                true
            }
        }
    }

    /// Removes a policy; `false` if there was none of that name.
    pub fn remove(&mut self, kind: PolicyKind, name: &str) -> bool {
        let list = self.list_mut(kind);
        let before = list.len();
        list.retain(|p| p.name != name);
        list.len() != before
    }

    /// Whether there are none at all (declares then skip the lookup).
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.operator.is_empty()
    }

    /// The policy and operator policy a queue named `name` gets.
    pub fn for_queue(&self, name: &str) -> Applied {
        Applied {
            policy: pick(&self.policies, |p| p.applies_to_queue(name)),
            operator: pick(&self.operator, |p| p.applies_to_queue(name)),
        }
    }

    /// The policy and operator policy an exchange named `name` gets.
    pub fn for_exchange(&self, name: &str) -> Applied {
        Applied {
            policy: pick(&self.policies, |p| p.applies_to_exchange(name)),
            operator: pick(&self.operator, |p| p.applies_to_exchange(name)),
        }
    }
}

/// The highest priority among those that match. RabbitMQ leaves a tie to its table's order;
/// here the first by name wins (docs/policies.md).
fn pick(list: &[Arc<Policy>], matches: impl Fn(&Policy) -> bool) -> Option<Arc<Policy>> {
    let mut best: Option<&Arc<Policy>> = None;
    for p in list.iter().filter(|p| matches(p)) {
        if best.is_none_or(|b| p.priority_value() > b.priority_value()) {
            best = Some(p);
        }
    }
    best.cloned()
}

/// The policy and operator policy in force on one queue or exchange.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub policy: Option<Arc<Policy>>,
    pub operator: Option<Arc<Policy>>,
}

impl PartialEq for Applied {
    fn eq(&self, other: &Self) -> bool {
        fn same(a: &Option<Arc<Policy>>, b: &Option<Arc<Policy>>) -> bool {
            match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                _ => false,
            }
        }
        same(&self.policy, &other.policy) && same(&self.operator, &other.operator)
    }
}

/// Keys both kinds may set, where the smaller value wins when both do.
const MERGED_BY_MIN: &[&str] = &[
    "message-ttl",
    "max-length",
    "max-length-bytes",
    "max-in-memory-length",
    "max-in-memory-bytes",
    "expires",
    "delivery-limit",
];

fn merge_value(key: &str, policy: &Value, operator: &Value) -> Value {
    match (policy.as_i64(), operator.as_i64()) {
        (Some(a), Some(b)) if MERGED_BY_MIN.contains(&key) => Value::from(a.min(b)),
        _ => operator.clone(),
    }
}

/// A queue argument a policy key can set, and how a queue's own `x-` argument combines with
/// it: the smaller number, or the argument. RabbitMQ 3.10.8's classic queue, plus
/// `consumer-timeout` as RabbitMQ 3.12 reads it (docs/compatibility.md C34).
const QUEUE_KEYS: &[(&str, Resolve)] = &[
    ("expires", Resolve::Min),
    ("dead-letter-exchange", Resolve::Argument),
    ("dead-letter-routing-key", Resolve::Argument),
    ("message-ttl", Resolve::Min),
    ("max-length", Resolve::Min),
    ("max-length-bytes", Resolve::Min),
    ("overflow", Resolve::Argument),
    ("queue-mode", Resolve::Argument),
    ("queue-version", Resolve::Argument),
    ("consumer-timeout", Resolve::Min),
];

#[derive(Debug, Clone, Copy)]
enum Resolve {
    Min,
    Argument,
}

impl Applied {
    pub fn is_empty(&self) -> bool {
        self.policy.is_none() && self.operator.is_none()
    }

    pub fn policy_name(&self) -> Option<String> {
        self.policy.as_ref().map(|p| p.name.clone())
    }

    pub fn operator_name(&self) -> Option<String> {
        self.operator.as_ref().map(|p| p.name.clone())
    }

    /// The merged definition (RabbitMQ's `effective_policy_definition`): every key of both,
    /// the operator policy's value where both set one, the smaller for numeric limits.
    pub fn effective_definition(&self) -> Map<String, Value> {
        let mut out = self
            .policy
            .as_ref()
            .map(|p| p.definition.clone())
            .unwrap_or_default();
        if let Some(op) = &self.operator {
            for (k, v) in &op.definition {
                let merged = match out.get(k) {
                    Some(mine) => merge_value(k, mine, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
        }
        out
    }

    /// One key of the merged definition.
    pub fn get(&self, key: &str) -> Option<Value> {
        let mine = self.policy.as_ref().and_then(|p| p.definition.get(key));
        let op = self.operator.as_ref().and_then(|p| p.definition.get(key));
        match (mine, op) {
            (Some(a), Some(b)) => Some(merge_value(key, a, b)),
            (a, b) => a.or(b).cloned(),
        }
    }

    /// A queue's declared arguments with what the policies set folded in: what the queue runs
    /// with. The declared arguments themselves are kept apart (they are what a redeclare is
    /// compared with and what the management API shows).
    pub fn queue_arguments(&self, declared: &FieldTable) -> FieldTable {
        let mut out = declared.clone();
        if self.is_empty() {
            return out;
        }
        for (key, resolve) in QUEUE_KEYS {
            let Some(value) = self.get(key) else {
                continue;
            };
            let arg = format!("x-{key}");
            let declared = declared.get(&arg);
            let resolved = match (declared, resolve) {
                (None, _) => field_value(&value),
                (Some(_), Resolve::Argument) => None,
                (Some(d), Resolve::Min) => match (d.as_i64(), value.as_i64()) {
                    (Some(a), Some(p)) => Some(FieldValue::I64(a.min(p))),
                    _ => None,
                },
            };
            if let (Some(v), Ok(k)) = (resolved, ShortStr::try_from(arg.as_str())) {
                out.insert(k, v);
            }
        }
        out
    }

    /// An exchange's alternate exchange: its own `alternate-exchange` argument wins, else the
    /// policy's.
    pub fn alternate_exchange(&self, arguments: &FieldTable) -> Option<String> {
        match arguments.get("alternate-exchange") {
            Some(FieldValue::LongStr(s)) => Some(s.to_string_lossy().into_owned()),
            Some(_) => None,
            None => self
                .get("alternate-exchange")
                .and_then(|v| v.as_str().map(str::to_string)),
        }
    }
}

/// A validated policy value as an AMQP field value (integers and strings only reach here).
fn field_value(v: &Value) -> Option<FieldValue> {
    match v {
        Value::Number(n) => n.as_i64().map(FieldValue::I64),
        Value::String(s) => Some(FieldValue::LongStr(LongStr::from(s.as_str()))),
        _ => None,
    }
}

/// A policy as the management API and definitions files write it, before validation.
#[derive(Debug, Clone)]
pub struct PolicySpec {
    pub name: String,
    pub pattern: Value,
    pub apply_to: Option<Value>,
    pub priority: Option<Value>,
    pub definition: Value,
}

impl PolicySpec {
    /// Validates it as RabbitMQ does; the error is the text after "Validation failed\n\n".
    pub fn validate(&self, kind: PolicyKind) -> Result<Policy, String> {
        validate::policy(self, kind)
    }
}

#[cfg(test)]
mod tests;
