//! Validation of the queue and consume arguments RabbitMQ checks, with its reply texts (406
//! PRECONDITION_FAILED "invalid arg '<key>' for queue '<q>' in vhost '<v>': <why>"), so a
//! client that declares a bad TTL or limit learns it at once instead of getting a queue that
//! silently ignores it.

use crate::error::{AmqpError, AmqpResult};
use warren_codec::{FieldTable, FieldValue};

/// RabbitMQ's name for a field value's type, as its error texts print it.
pub fn type_name(v: &FieldValue) -> &'static str {
    match v {
        FieldValue::Bool(_) => "bool",
        FieldValue::I8(_) => "byte",
        FieldValue::U8(_) => "unsignedbyte",
        FieldValue::I16(_) => "short",
        FieldValue::U16(_) => "unsignedshort",
        FieldValue::I32(_) => "signedint",
        FieldValue::U32(_) => "unsignedint",
        FieldValue::I64(_) => "long",
        FieldValue::F32(_) => "float",
        FieldValue::F64(_) => "double",
        FieldValue::Decimal { .. } => "decimal",
        FieldValue::LongStr(_) => "longstr",
        FieldValue::Bytes(_) => "binary",
        FieldValue::Array(_) => "array",
        FieldValue::Timestamp(_) => "timestamp",
        FieldValue::Table(_) => "table",
        FieldValue::Void => "void",
    }
}

/// RabbitMQ's complaint about a value that should be an integer.
pub fn expected_integer(v: &FieldValue) -> String {
    format!("\"expected integer, got {}\"", type_name(v))
}

fn integer(v: &FieldValue) -> Result<i64, String> {
    match v {
        FieldValue::Timestamp(_) => Err(expected_integer(v)),
        _ => v.as_i64().ok_or_else(|| expected_integer(v)),
    }
}

fn non_negative(v: &FieldValue) -> Result<(), String> {
    match integer(v)? {
        n if n < 0 => Err(format!("{{value_negative,{n}}}")),
        _ => Ok(()),
    }
}

fn text(v: &FieldValue) -> Result<String, String> {
    match v {
        FieldValue::LongStr(s) => Ok(s.to_string_lossy().into_owned()),
        other => Err(format!("{{unacceptable_type,{}}}", type_name(other))),
    }
}

/// Checks a queue.declare's arguments as RabbitMQ 3.10 does; others are accepted unread.
pub fn check_queue_arguments(queue: &str, vhost: &str, args: &FieldTable) -> AmqpResult<()> {
    let invalid = |key: &str, why: String| {
        AmqpError::precondition_failed(format!(
            "invalid arg '{key}' for queue '{queue}' in vhost '{vhost}': {why}"
        ))
    };
    for (key, v) in args.iter() {
        let key = key.to_string_lossy();
        let checked = match key.as_ref() {
            "x-message-ttl" | "x-max-length" | "x-max-length-bytes" => non_negative(v),
            "x-expires" => integer(v).and_then(|n| match n {
                0 => Err("{value_zero,0}".to_string()),
                n if n < 0 => Err(format!("{{value_negative,{n}}}")),
                _ => Ok(()),
            }),
            "x-max-priority" => integer(v).and_then(|n| match n {
                n if n < 0 => Err(format!("{{value_negative,{n}}}")),
                n if n > 255 => Err(format!("{{max_value_exceeded,{n}}}")),
                _ => Ok(()),
            }),
            "x-overflow" => text(v).and_then(|s| match s.as_str() {
                "drop-head" | "reject-publish" | "reject-publish-dlx" => Ok(()),
                _ => Err("invalid_overflow".to_string()),
            }),
            "x-single-active-consumer" => match v {
                FieldValue::Bool(_) => Ok(()),
                other => Err(format!("{{unacceptable_type,{}}}", type_name(other))),
            },
            "x-dead-letter-exchange" => match v {
                FieldValue::LongStr(_) => Ok(()),
                // RabbitMQ words this one differently.
                other => {
                    return Err(AmqpError::precondition_failed(format!(
                        "invalid type '{}' for arg 'x-dead-letter-exchange' in queue '{queue}' \
                         in vhost '{vhost}'",
                        type_name(other)
                    )))
                }
            },
            "x-dead-letter-routing-key" => text(v).and_then(|_| {
                if args.get("x-dead-letter-exchange").is_none() {
                    Err("routing_key_but_no_dlx_defined".to_string())
                } else {
                    Ok(())
                }
            }),
            "x-queue-mode" => text(v).and_then(|mode| match mode.as_str() {
                "default" | "lazy" => Ok(()),
                _ => Err(format!("\"unsupported queue mode '{mode}'\"")),
            }),
            _ => Ok(()),
        };
        checked.map_err(|why| invalid(&key, why))?;
    }
    Ok(())
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
        check_queue_arguments("q", "/", &args).map_err(|e| e.to_string())
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
    }
}
