//! Queue arguments as RabbitMQ 3.10.8 treats them at queue.declare: the queue type, each
//! argument's value (406 PRECONDITION_FAILED "invalid arg '<key>' for queue '<q>' in vhost
//! '<v>': <why>"), which arguments each queue type takes, and the comparison on redeclare
//! ("inequivalent arg ..."), all with its reply texts, so a client that declares a bad TTL or
//! limit learns it at once instead of getting a queue that silently ignores it.
//!
//! Warren has classic queues only: a quorum or stream queue that RabbitMQ would create is
//! refused with a 406 saying so (docs/compatibility.md C23), never silently made classic.

use crate::error::{AmqpError, AmqpResult};
use warren_codec::{FieldTable, FieldValue};

/// RabbitMQ's name for a field value's type, as its error texts print it.
pub fn type_name(v: &FieldValue) -> &'static str {
    v.rabbit_type_name()
}

/// RabbitMQ's complaint about a value that should be an integer.
pub fn expected_integer(v: &FieldValue) -> String {
    format!("\"expected integer, got {}\"", type_name(v))
}

/// The longest `x-message-ttl` or `x-expires` RabbitMQ 3.10.8 accepts: ten years, in ms.
const MAX_EXPIRY_MS: i64 = 315_360_000_000;

fn integer(v: &FieldValue) -> Result<i64, String> {
    match v {
        FieldValue::Timestamp(_) => Err(expected_integer(v)),
        _ => v.as_i64().ok_or_else(|| expected_integer(v)),
    }
}

fn non_negative(v: &FieldValue) -> Result<i64, String> {
    match integer(v)? {
        n if n < 0 => Err(format!("{{value_negative,{n}}}")),
        n => Ok(n),
    }
}

fn expiry(v: &FieldValue, zero_allowed: bool) -> Result<(), String> {
    match non_negative(v)? {
        0 if !zero_allowed => Err("{value_zero,0}".to_string()),
        n if n > MAX_EXPIRY_MS => Err(format!("{{value_too_large,{n}}}")),
        _ => Ok(()),
    }
}

fn text(v: &FieldValue) -> Result<String, String> {
    match v {
        FieldValue::LongStr(s) => Ok(s.to_string_lossy().into_owned()),
        other => Err(format!("{{unacceptable_type,{}}}", type_name(other))),
    }
}

fn one_of(
    v: &FieldValue,
    allowed: &[&str],
    why: impl FnOnce(&str) -> String,
) -> Result<(), String> {
    let s = text(v)?;
    if allowed.contains(&s.as_str()) {
        Ok(())
    } else {
        Err(why(&s))
    }
}

/// The arguments RabbitMQ 3.10.8 checks at declare and compares on redeclare, in the order it
/// takes them (the first bad or differing one is the one reported), and `x-consumer-timeout`
/// where RabbitMQ 3.12 put it (docs/compatibility.md C34).
pub const DECLARE_ARGS: &[&str] = &[
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-queue-version",
    "x-single-active-consumer",
    // Beyond 3.10.8 (RabbitMQ 3.12 took it): checked and compared where 3.12 does.
    "x-consumer-timeout",
    "x-queue-type",
    "x-quorum-initial-group-size",
    "x-max-age",
    "x-stream-max-segment-size-bytes",
    "x-initial-cluster-size",
    "x-queue-leader-locator",
];

/// Why one of DECLARE_ARGS has a value RabbitMQ refuses (the text after "...vhost '<v>': ").
fn check_value(key: &str, v: &FieldValue, args: &FieldTable) -> Result<(), String> {
    match key {
        "x-expires" => expiry(v, false),
        "x-message-ttl" => expiry(v, true),
        "x-dead-letter-exchange" => text(v).map(drop),
        "x-dead-letter-routing-key" => {
            text(v).and_then(|_| match args.get("x-dead-letter-exchange") {
                None => Err("routing_key_but_no_dlx_defined".to_string()),
                Some(_) => Ok(()),
            })
        }
        "x-max-length"
        | "x-max-length-bytes"
        | "x-max-in-memory-length"
        | "x-max-in-memory-bytes"
        | "x-stream-max-segment-size-bytes"
        | "x-consumer-timeout" => non_negative(v).map(drop),
        "x-max-priority" => match non_negative(v)? {
            n if n > 255 => Err(format!("{{max_value_exceeded,{n}}}")),
            _ => Ok(()),
        },
        "x-overflow" => one_of(
            v,
            &["drop-head", "reject-publish", "reject-publish-dlx"],
            |_| "invalid_overflow".to_string(),
        ),
        "x-queue-mode" => one_of(v, &["default", "lazy"], |m| {
            format!("\"unsupported queue mode '{m}'\"")
        }),
        "x-queue-version" => match integer(v)? {
            1 | 2 => Ok(()),
            n => Err(format!("\"unsupported queue version '{n}'\"")),
        },
        "x-single-active-consumer" => match v {
            FieldValue::Bool(_) => Ok(()),
            other => Err(format!("{{unacceptable_type,{}}}", type_name(other))),
        },
        // x-queue-type was resolved before; the quorum and stream settings matter only to
        // those types, which Warren refuses whatever their values.
        _ => Ok(()),
    }
}

/// The queue types RabbitMQ 3.10.8 has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    Classic = 0,
    Quorum = 1,
    Stream = 2,
}

/// Arguments some queue type knows, and whether a classic, quorum and stream queue takes each;
/// one on a type that does not take it is refused. Arguments no type knows are accepted unread.
const TYPE_ARGS: &[(&str, [bool; 3])] = &[
    ("x-expires", [true, true, false]),
    ("x-message-ttl", [true, true, false]),
    ("x-dead-letter-exchange", [true, true, false]),
    ("x-dead-letter-routing-key", [true, true, false]),
    ("x-max-length", [true, true, false]),
    ("x-max-length-bytes", [true, true, true]),
    ("x-max-in-memory-length", [false, true, false]),
    ("x-max-in-memory-bytes", [false, true, false]),
    ("x-max-priority", [true, false, false]),
    ("x-overflow", [true, true, false]),
    ("x-queue-mode", [true, false, false]),
    ("x-queue-version", [true, false, false]),
    ("x-single-active-consumer", [true, true, false]),
    ("x-queue-type", [true, true, true]),
    ("x-quorum-initial-group-size", [false, true, false]),
    ("x-max-age", [false, false, true]),
    ("x-stream-max-segment-size-bytes", [false, false, true]),
    ("x-initial-cluster-size", [false, false, true]),
    ("x-queue-leader-locator", [false, true, true]),
    ("x-queue-master-locator", [true, false, false]),
    ("x-delivery-limit", [false, true, false]),
    ("x-dead-letter-strategy", [false, true, false]),
];

impl QueueType {
    fn parse(name: &str) -> Option<QueueType> {
        match name {
            "classic" => Some(QueueType::Classic),
            "quorum" => Some(QueueType::Quorum),
            "stream" => Some(QueueType::Stream),
            _ => None,
        }
    }

    /// RabbitMQ's module for the type, as its texts name it.
    fn module(self) -> &'static str {
        match self {
            QueueType::Classic => "rabbit_classic_queue",
            QueueType::Quorum => "rabbit_quorum_queue",
            QueueType::Stream => "rabbit_stream_queue",
        }
    }

    fn takes(self, key: &str) -> bool {
        TYPE_ARGS
            .iter()
            .find(|(k, _)| *k == key)
            .is_none_or(|(_, takes)| takes[self as usize])
    }
}

/// A queue.declare that would create a queue.
pub struct NewQueue<'a> {
    pub name: &'a str,
    pub vhost: &'a str,
    pub server_named: bool,
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
    pub arguments: &'a FieldTable,
}

impl NewQueue<'_> {
    fn invalid(&self, key: &str, why: &str) -> AmqpError {
        AmqpError::precondition_failed(format!(
            "invalid arg '{key}' for queue '{}' in vhost '{}': {why}",
            self.name, self.vhost
        ))
    }

    fn queue_type(&self) -> AmqpResult<QueueType> {
        let Some(v) = self.arguments.get("x-queue-type") else {
            return Ok(QueueType::Classic);
        };
        let name = text(v).map_err(|why| self.invalid("x-queue-type", &why))?;
        QueueType::parse(&name).ok_or_else(|| {
            self.invalid(
                "x-queue-type",
                &format!("\"unsupported queue type '{name}'\""),
            )
        })
    }
}

/// Checks a queue.declare that would create a queue, in RabbitMQ 3.10.8's order: a server
/// name for a replicated type, the type, each argument's value, arguments the type does not
/// take, then the properties a replicated type requires. A quorum or stream queue that passes
/// all of that is refused: Warren does not have those types yet.
pub fn check_new_queue(q: &NewQueue<'_>) -> AmqpResult<()> {
    let requested = q.arguments.get("x-queue-type").and_then(FieldValue::as_str);
    if let Some(t) = requested.and_then(QueueType::parse) {
        if q.server_named && t != QueueType::Classic {
            return Err(AmqpError::precondition_failed(format!(
                "Cannot declare a server-named queue for type {}",
                t.module()
            )));
        }
    }
    let kind = q.queue_type()?;
    for key in DECLARE_ARGS {
        if let Some(v) = q.arguments.get(key) {
            check_value(key, v, q.arguments).map_err(|why| {
                if *key == "x-dead-letter-exchange" {
                    dead_letter_exchange_type(q, v)
                } else {
                    q.invalid(key, &why)
                }
            })?;
        }
    }
    for (key, _) in q.arguments.iter() {
        let key = key.to_string_lossy();
        if !kind.takes(&key) {
            return Err(AmqpError::precondition_failed(format!(
                "invalid arg '{key}' for queue '{}' in vhost '{}' of queue type {}",
                q.name,
                q.vhost,
                kind.module()
            )));
        }
    }
    if kind == QueueType::Classic {
        return Ok(());
    }
    for (bad, property) in [
        (q.auto_delete, "auto-delete"),
        (q.exclusive, "exclusive-owner"),
        (!q.durable, "non-durable"),
    ] {
        if bad {
            return Err(AmqpError::precondition_failed(format!(
                "invalid property '{property}' for queue '{}' in vhost '{}'",
                q.name, q.vhost
            )));
        }
    }
    let requested = requested.unwrap_or_default();
    Err(q.invalid(
        "x-queue-type",
        &format!(
            "\"queue type '{requested}' is not supported by this broker (Warren) yet; only \
             classic queues are\""
        ),
    ))
}

/// RabbitMQ words a non-string dead-letter exchange differently from other bad arguments.
fn dead_letter_exchange_type(q: &NewQueue<'_>, v: &FieldValue) -> AmqpError {
    AmqpError::precondition_failed(format!(
        "invalid type '{}' for arg 'x-dead-letter-exchange' in queue '{}' in vhost '{}'",
        type_name(v),
        q.name,
        q.vhost
    ))
}

/// Whether a redeclare's value for `key` matches the current one, as RabbitMQ compares:
/// integers by value whatever their width, and a missing x-queue-type is classic.
fn equivalent(key: &str, a: Option<&FieldValue>, b: Option<&FieldValue>) -> bool {
    let classic = |v: Option<&FieldValue>| v.is_none_or(|v| v.as_str() == Some("classic"));
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x == y,
        },
        _ => key == "x-queue-type" && classic(a) && classic(b),
    }
}

/// A value as RabbitMQ's texts print it: strings as their text, other values as Erlang would.
fn plain(v: &FieldValue) -> String {
    match v {
        FieldValue::LongStr(s) => s.to_string_lossy().into_owned(),
        FieldValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::F32(f) => f.to_string(),
        FieldValue::F64(f) => f.to_string(),
        FieldValue::Void => "undefined".to_string(),
        other => match other.as_i64() {
            Some(i) => i.to_string(),
            None => format!("{other:?}"),
        },
    }
}

/// One side of an inequivalence where the other side has no value.
fn described(v: Option<&FieldValue>) -> String {
    match v {
        None => "none".to_string(),
        Some(v) => format!("the value '{}' of type '{}'", plain(v), type_name(v)),
    }
}

/// RabbitMQ 3.10.8's "received X but current is Y" for an argument that differs between a
/// redeclare (`got`) and the entity (`have`); `None` when they are equivalent. Both present:
/// `'2000'` and `'1000'`; one missing: `none` and `the value '1000' of type 'signedint'`.
pub fn difference(
    key: &str,
    got: Option<&FieldValue>,
    have: Option<&FieldValue>,
) -> Option<String> {
    if equivalent(key, got, have) {
        return None;
    }
    Some(match (got, have) {
        (Some(g), Some(h)) => format!("received '{}' but current is '{}'", plain(g), plain(h)),
        _ => format!(
            "received {} but current is {}",
            described(got),
            described(have)
        ),
    })
}

/// The first of DECLARE_ARGS whose value differs between a queue redeclare and the queue, with
/// the "received ... but current is ..." text.
pub fn queue_difference(got: &FieldTable, have: &FieldTable) -> Option<(&'static str, String)> {
    DECLARE_ARGS
        .iter()
        .find_map(|key| difference(key, got.get(key), have.get(key)).map(|d| (*key, d)))
}

/// The `x-priority` consume argument: any integer type, default 0. Another type is refused
/// with RabbitMQ's 406 and its wording.
pub fn consumer_priority(args: &FieldTable, queue: &str, vhost: &str) -> AmqpResult<i64> {
    match args.get("x-priority") {
        None => Ok(0),
        Some(v) => v.as_i64().ok_or_else(|| {
            AmqpError::precondition_failed(format!(
                "invalid arg 'x-priority' for queue '{queue}' in vhost '{vhost}': {}",
                expected_integer(v)
            ))
            .with_ids(60, 20)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_codec::ShortStr;

    fn check(key: &'static str, v: FieldValue) -> Result<(), String> {
        let mut args = FieldTable::new();
        args.push(ShortStr::from_static(key), v);
        check_new_queue(&NewQueue {
            name: "q",
            vhost: "/",
            server_named: false,
            durable: false,
            exclusive: false,
            auto_delete: false,
            arguments: &args,
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn rabbitmqs_texts_for_bad_arguments() {
        let why = |r: Result<(), String>| r.unwrap_err();
        assert!(why(check("x-message-ttl", FieldValue::I32(-1))).ends_with(
            "invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_negative,-1}"
        ));
        assert!(why(check("x-expires", FieldValue::I32(0))).ends_with("{value_zero,0}"));
        assert!(why(check("x-max-priority", FieldValue::I32(256)))
            .ends_with("{max_value_exceeded,256}"));
        assert!(
            why(check("x-overflow", FieldValue::LongStr("bogus".into())))
                .ends_with("invalid_overflow")
        );
        assert!(why(check("x-max-length", FieldValue::LongStr("x".into())))
            .ends_with("\"expected integer, got longstr\""));
        assert!(check("x-message-ttl", FieldValue::I64(0)).is_ok());
        assert!(check(
            "x-overflow",
            FieldValue::LongStr("reject-publish-dlx".into())
        )
        .is_ok());
        assert!(check("x-something-else", FieldValue::Void).is_ok());
        assert!(
            why(check("x-message-ttl", FieldValue::I64(315_360_000_001)))
                .ends_with("{value_too_large,315360000001}")
        );
        assert!(
            why(check("x-queue-type", FieldValue::LongStr("bogus".into())))
                .ends_with("\"unsupported queue type 'bogus'\"")
        );
        assert!(why(check("x-queue-type", FieldValue::I32(1)))
            .ends_with("{unacceptable_type,signedint}"));
        assert!(why(check("x-max-age", FieldValue::LongStr("1D".into())))
            .ends_with("in vhost '/' of queue type rabbit_classic_queue"));
        assert!(
            why(check("x-consumer-timeout", FieldValue::I32(-5))).ends_with(
                "invalid arg 'x-consumer-timeout' for queue 'q' in vhost '/': {value_negative,-5}"
            )
        );
        assert!(why(check(
            "x-consumer-timeout",
            FieldValue::LongStr("1s".into())
        ))
        .ends_with("\"expected integer, got longstr\""));
        assert!(check("x-consumer-timeout", FieldValue::I64(60_000)).is_ok());
        assert!(why(check("x-queue-version", FieldValue::I32(3)))
            .ends_with("\"unsupported queue version '3'\""));
    }

    #[test]
    fn redeclare_differences_in_rabbitmq_3_10_8_words() {
        let (a, b) = (FieldValue::I32(2000), FieldValue::I64(1000));
        assert_eq!(
            difference("x-message-ttl", Some(&a), Some(&b)).unwrap(),
            "received '2000' but current is '1000'"
        );
        assert_eq!(
            difference(
                "x-single-active-consumer",
                None,
                Some(&FieldValue::Bool(true))
            )
            .unwrap(),
            "received none but current is the value 'true' of type 'bool'"
        );
        assert!(difference("x-message-ttl", Some(&b), Some(&FieldValue::I32(1000))).is_none());
        let classic = FieldValue::LongStr("classic".into());
        assert!(difference("x-queue-type", Some(&classic), None).is_none());
    }
}
