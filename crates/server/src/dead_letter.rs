//! Dead-lettering as RabbitMQ 3.10 does it: what a message looks like when it leaves a queue
//! rejected or expired, and where it may go next.
//!
//! The message gets an `x-death` header (an array of tables, one per queue and reason, the most
//! recent first, each with a `count`), `x-first-death-reason/queue/exchange` on its first
//! death, loses its per-message `expiration` (kept as `original-expiration` in its `x-death`
//! entry), and is published to the queue's dead-letter exchange with the dead-letter routing
//! key (or its own routing key, `CC` and `BCC` keys; a dead-letter routing key replaces them
//! all and drops the `CC` header, as in RabbitMQ). A message that would go round a cycle of queues with no
//! rejection in it is dropped for that queue instead of looping forever. The routing and
//! enqueueing live in `Vhost::dead_letter`; this module is the pure part.

use crate::message::{Message, Route};
use crate::sender_selected;
use warren_codec::{BasicProperties, FieldArray, FieldTable, FieldValue, LongStr, ShortStr};

/// Why a message left its queue (the `reason` RabbitMQ writes into `x-death`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// basic.reject or basic.nack with requeue=false.
    Rejected,
    /// Its per-queue or per-message TTL ran out.
    Expired,
    /// A length limit (`x-max-length(-bytes)`) pushed it out, or refused it under
    /// `x-overflow: reject-publish-dlx`.
    MaxLen,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::Expired => "expired",
            Reason::MaxLen => "maxlen",
        }
    }
}

/// A queue's `x-dead-letter-exchange` and `x-dead-letter-routing-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterTarget {
    pub exchange: String,
    pub routing_key: Option<String>,
}

impl DeadLetterTarget {
    /// From a queue's declare arguments; `None` when it has no dead-letter exchange.
    pub fn from_arguments(args: &FieldTable) -> Option<DeadLetterTarget> {
        let text = |key: &str| match args.get(key) {
            Some(FieldValue::LongStr(s)) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        };
        Some(DeadLetterTarget {
            exchange: text("x-dead-letter-exchange")?,
            routing_key: text("x-dead-letter-routing-key"),
        })
    }
}

fn long_str(s: &str) -> FieldValue {
    FieldValue::LongStr(LongStr::from(s))
}

fn text_of(table: &FieldTable, key: &str) -> Option<String> {
    match table.get(key) {
        Some(FieldValue::LongStr(s)) => Some(s.to_string_lossy().into_owned()),
        _ => None,
    }
}

/// The message as it leaves `queue` for `reason`, addressed to `target`. `None` if its
/// properties cannot be decoded (they were accepted at publish, so only a bug gets here).
pub fn dead_lettered(
    message: &Message,
    queue: &str,
    reason: Reason,
    target: &DeadLetterTarget,
    now_secs: u64,
) -> Option<DeadLetter> {
    let mut props = BasicProperties::from_raw(message.properties()).ok()?;
    let mut headers = props.headers.take().unwrap_or_default();
    let exchange = String::from_utf8_lossy(message.exchange()).into_owned();
    let deaths = match headers.get("x-death") {
        Some(FieldValue::Array(a)) => a.0.clone(),
        _ => Vec::new(),
    };
    let first_death = deaths.is_empty();
    let matches = |v: &FieldValue| match v {
        FieldValue::Table(t) => {
            text_of(t, "queue").as_deref() == Some(queue)
                && text_of(t, "reason").as_deref() == Some(reason.as_str())
        }
        _ => false,
    };
    let (mut matched, mut others): (Vec<FieldValue>, Vec<FieldValue>) =
        deaths.into_iter().partition(|v| matches(v));
    let entry = match matched.pop() {
        // Seen here for this reason before: its count goes up and it moves to the front.
        Some(FieldValue::Table(mut t)) => {
            let count = t.get("count").and_then(FieldValue::as_i64).unwrap_or(0);
            t.insert(ShortStr::from_static("count"), FieldValue::I64(count + 1));
            t
        }
        _ => {
            let mut t = FieldTable::new();
            t.push(ShortStr::from_static("count"), FieldValue::I64(1));
            t.push(ShortStr::from_static("exchange"), long_str(&exchange));
            if let Some(exp) = &props.expiration {
                t.push(
                    ShortStr::from_static("original-expiration"),
                    long_str(&exp.to_string_lossy()),
                );
            }
            t.push(ShortStr::from_static("queue"), long_str(queue));
            t.push(ShortStr::from_static("reason"), long_str(reason.as_str()));
            t.push(
                ShortStr::from_static("routing-keys"),
                routing_keys(message.routing_key(), &headers),
            );
            t.push(
                ShortStr::from_static("time"),
                FieldValue::Timestamp(now_secs),
            );
            t
        }
    };
    others.insert(0, FieldValue::Table(entry));
    headers.insert(
        ShortStr::from_static("x-death"),
        FieldValue::Array(FieldArray(others)),
    );
    if first_death {
        headers.insert(
            ShortStr::from_static("x-first-death-reason"),
            long_str(reason.as_str()),
        );
        headers.insert(
            ShortStr::from_static("x-first-death-queue"),
            long_str(queue),
        );
        headers.insert(
            ShortStr::from_static("x-first-death-exchange"),
            long_str(&exchange),
        );
    }
    props.expiration = None;
    let route = match &target.routing_key {
        Some(key) => {
            // Only the dead-letter routing key is used: the CC keys go with the header.
            headers.remove("CC");
            Route::new(target.exchange.as_bytes(), key.as_bytes())
        }
        None => {
            let bcc: Vec<&[u8]> = message.route().bcc_keys().collect();
            Route::with_bcc_keys(target.exchange.as_bytes(), message.routing_key(), &bcc)
        }
    };
    // RabbitMQ sorts the table whenever it sets a header in it (`rabbit_misc:set_table_value`).
    props.headers = Some(sorted_by_key(headers));
    Some(DeadLetter {
        message: Message::new(route, &props.to_raw(), message.body(), message.persistent()),
        headers: props.headers.unwrap_or_default(),
    })
}

/// The table's entries in key order (bytes; stable, so repeated keys keep their order), as
/// RabbitMQ leaves a header table it has changed.
pub(crate) fn sorted_by_key(table: FieldTable) -> FieldTable {
    let mut entries = table.into_entries();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    entries.into_iter().collect()
}

/// What `x-death` records as the keys the message was published with: its routing key and
/// its `CC` keys (`BCC` was taken off at publish).
fn routing_keys(routing_key: &[u8], headers: &FieldTable) -> FieldValue {
    let mut keys = vec![routing_key];
    sender_selected::extend_cc_keys(Some(headers), &mut keys);
    FieldValue::Array(FieldArray(
        keys.into_iter()
            .map(|k| FieldValue::LongStr(LongStr::from(k.to_vec())))
            .collect(),
    ))
}

/// A dead-lettered message, with its headers decoded (routing and the cycle check need them;
/// decoding them again from the encoded properties would cost as much as building them).
#[derive(Debug)]
pub struct DeadLetter {
    pub message: Message,
    pub headers: FieldTable,
}

/// RabbitMQ's cycle rule: the dead-lettered message (its `x-death` already updated) must not
/// go to `queue` if it has been there before and every death since then, that one included,
/// was automatic (not a rejection).
pub fn is_cycle(message_headers: Option<&FieldTable>, queue: &str) -> bool {
    let Some(FieldValue::Array(deaths)) = message_headers.and_then(|h| h.get("x-death")) else {
        return false;
    };
    let Some(pos) = deaths.0.iter().position(|v| match v {
        FieldValue::Table(t) => text_of(t, "queue").as_deref() == Some(queue),
        _ => false,
    }) else {
        return false;
    };
    deaths.0[..=pos].iter().all(|v| match v {
        FieldValue::Table(t) => text_of(t, "reason").as_deref() != Some("rejected"),
        _ => true,
    })
}

/// When a message published now with per-message `expiration` (milliseconds, RabbitMQ's
/// decimal text) expires, or the reason it is refused, in RabbitMQ's words.
pub fn parse_expiration(text: &[u8]) -> Result<u64, String> {
    let s = String::from_utf8_lossy(text);
    let digits_end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map_or(s.len(), |(i, _)| i);
    let (number, rest) = s.split_at(digits_end);
    let value: i128 = match number.parse() {
        Ok(v) => v,
        Err(_) => return Err("no_integer".to_string()),
    };
    if !rest.is_empty() {
        return Err(format!("{{leftover_string,\"{rest}\"}}"));
    }
    if value < 0 {
        return Err(format!("{{value_negative,{value}}}"));
    }
    Ok(u64::try_from(value).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(props: BasicProperties) -> Message {
        Message::new(
            Route::new(b"work-x", b"job"),
            &props.to_raw(),
            b"payload",
            false,
        )
    }

    fn deaths(m: &Message) -> Vec<FieldTable> {
        let props = BasicProperties::from_raw(m.properties()).unwrap();
        match props.headers.unwrap().get("x-death") {
            Some(FieldValue::Array(a)) => {
                a.0.iter()
                    .map(|v| match v {
                        FieldValue::Table(t) => t.clone(),
                        other => panic!("{other:?}"),
                    })
                    .collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn first_death_sets_x_death_and_first_death_headers_and_drops_expiration() {
        let target = DeadLetterTarget {
            exchange: "retry-x".into(),
            routing_key: None,
        };
        let m = message(BasicProperties {
            expiration: Some(ShortStr::from_static("5000")),
            ..Default::default()
        });
        let d = dead_lettered(&m, "work", Reason::Rejected, &target, 1_700_000_000)
            .unwrap()
            .message;
        assert_eq!(d.exchange(), b"retry-x");
        assert_eq!(d.routing_key(), b"job");
        assert_eq!(d.body(), m.body());
        let props = BasicProperties::from_raw(d.properties()).unwrap();
        assert_eq!(props.expiration, None);
        let h = props.headers.unwrap();
        let keys: Vec<&[u8]> = h.iter().map(|(k, _)| k.as_bytes()).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "sorted: {keys:?}");
        assert_eq!(text_of(&h, "x-first-death-reason").unwrap(), "rejected");
        assert_eq!(text_of(&h, "x-first-death-queue").unwrap(), "work");
        assert_eq!(text_of(&h, "x-first-death-exchange").unwrap(), "work-x");
        let [x] = &deaths(&d)[..] else { panic!() };
        assert_eq!(x.get("count").and_then(FieldValue::as_i64), Some(1));
        assert_eq!(text_of(x, "original-expiration").unwrap(), "5000");
        assert!(matches!(
            x.get("time"),
            Some(FieldValue::Timestamp(1_700_000_000))
        ));
    }

    #[test]
    fn repeated_deaths_count_up_and_move_to_the_front() {
        let to_retry = DeadLetterTarget {
            exchange: "".into(),
            routing_key: Some("retry".into()),
        };
        let to_work = DeadLetterTarget {
            exchange: "".into(),
            routing_key: Some("work".into()),
        };
        let m = message(BasicProperties::default());
        let m = dead_lettered(&m, "work", Reason::Rejected, &to_retry, 1)
            .unwrap()
            .message;
        let m = dead_lettered(&m, "retry", Reason::Expired, &to_work, 2)
            .unwrap()
            .message;
        let m = dead_lettered(&m, "work", Reason::Rejected, &to_retry, 3)
            .unwrap()
            .message;
        let d = deaths(&m);
        assert_eq!(d.len(), 2);
        assert_eq!(text_of(&d[0], "queue").unwrap(), "work");
        assert_eq!(d[0].get("count").and_then(FieldValue::as_i64), Some(2));
        assert_eq!(text_of(&d[1], "queue").unwrap(), "retry");
        assert_eq!(d[1].get("count").and_then(FieldValue::as_i64), Some(1));
        // x-first-death-* stay those of the first death.
        let props = BasicProperties::from_raw(m.properties()).unwrap();
        let h = props.headers.unwrap();
        assert_eq!(text_of(&h, "x-first-death-queue").unwrap(), "work");
        assert_eq!(m.routing_key(), b"retry");
    }

    #[test]
    fn cc_and_bcc_keys_go_on_only_without_a_dead_letter_routing_key() {
        let mut headers = FieldTable::new();
        headers.push(
            ShortStr::from_static("CC"),
            FieldValue::Array(FieldArray(vec![long_str("c1"), FieldValue::I32(5)])),
        );
        let m = Message::new(
            Route::with_bcc_keys(b"work-x", b"job", &[b"b1"]),
            &BasicProperties {
                headers: Some(headers),
                ..Default::default()
            }
            .to_raw(),
            b"payload",
            false,
        );
        for (key, cc_kept) in [(None, true), (Some("dk".to_string()), false)] {
            let target = DeadLetterTarget {
                exchange: "dlx".into(),
                routing_key: key,
            };
            let d = dead_lettered(&m, "work", Reason::Rejected, &target, 1).unwrap();
            assert_eq!(d.headers.get("CC").is_some(), cc_kept);
            // The BCC keys go on with the message's own key, not with a dead-letter key.
            let bcc: Vec<&[u8]> = d.message.route().bcc_keys().collect();
            assert_eq!(bcc.is_empty(), !cc_kept);
            let [x] = &deaths(&d.message)[..] else {
                panic!()
            };
            assert_eq!(
                x.get("routing-keys"),
                Some(&FieldValue::Array(FieldArray(vec![
                    long_str("job"),
                    long_str("c1")
                ])))
            );
        }
    }

    #[test]
    fn cycles_without_a_rejection_are_detected() {
        let back = DeadLetterTarget {
            exchange: "".into(),
            routing_key: Some("a".into()),
        };
        let m = message(BasicProperties::default());
        // a expires into b, b expires back into a: a cycle with no rejection.
        let m1 = dead_lettered(&m, "a", Reason::Expired, &back, 1)
            .unwrap()
            .message;
        let m2 = dead_lettered(&m1, "b", Reason::Expired, &back, 2).unwrap();
        assert!(is_cycle(Some(&m2.headers), "a"));
        assert!(!is_cycle(Some(&m2.headers), "c"));
        // With a rejection in the loop it is a retry, not a cycle.
        let r1 = dead_lettered(&m, "a", Reason::Rejected, &back, 1)
            .unwrap()
            .message;
        let r2 = dead_lettered(&r1, "b", Reason::Expired, &back, 2).unwrap();
        assert!(!is_cycle(Some(&r2.headers), "a"));
    }

    #[test]
    fn expiration_is_parsed_as_rabbitmq_does() {
        assert_eq!(parse_expiration(b"60000"), Ok(60000));
        assert_eq!(parse_expiration(b"0"), Ok(0));
        assert_eq!(parse_expiration(b"abc"), Err("no_integer".into()));
        assert_eq!(parse_expiration(b"-5"), Err("{value_negative,-5}".into()));
        assert_eq!(
            parse_expiration(b"5x"),
            Err("{leftover_string,\"x\"}".into())
        );
    }
}
