//! Sender-selected distribution, as RabbitMQ does it: a message published with a `CC` and/or
//! `BCC` header (each an array of routing keys) is routed with those keys as well as the
//! publish's own, reaching each queue once. `BCC` is taken off the message before it is
//! routed, so no consumer (nor a mandatory return) ever sees it; `CC` stays. Either header
//! holding anything but an array closes the channel (406); array elements that are not
//! strings are ignored. The message's [`Route`] remembers the `BCC` keys: dead-lettered
//! without a dead-letter routing key, or released by a delayed exchange, it is routed with
//! them again, as in RabbitMQ (not after a restart: the store keeps only the routing key).

use crate::arguments::type_name;
use crate::error::{AmqpError, AmqpResult};
use crate::message::Route;
use bytes::Bytes;
use warren_codec::{BasicProperties, FieldTable, FieldValue};

const HEADERS: [&str; 2] = ["CC", "BCC"];

/// Refuses a publish whose `CC` or `BCC` header is not an array, in RabbitMQ's words.
pub fn check(headers: Option<&FieldTable>) -> AmqpResult<()> {
    let Some(headers) = headers else {
        return Ok(());
    };
    for name in HEADERS {
        match headers.get(name) {
            None | Some(FieldValue::Array(_)) => {}
            Some(other) => {
                return Err(AmqpError::precondition_failed(format!(
                    "invalid message: {{unacceptable_type_in_header,\"{name}\",{}}}",
                    type_name(other)
                ))
                .with_ids(60, 40));
            }
        }
    }
    Ok(())
}

/// Whether the headers name any extra routing key (cheap: two lookups).
pub fn has_keys(headers: Option<&FieldTable>) -> bool {
    headers.is_some_and(|h| HEADERS.iter().any(|n| h.get(n).is_some()))
}

/// Appends the string elements of the `CC` and `BCC` arrays to `keys`.
pub fn extend_keys<'a>(headers: Option<&'a FieldTable>, keys: &mut Vec<&'a [u8]>) {
    for name in HEADERS {
        cc_like(headers, name, keys);
    }
}

/// Appends the string elements of the `CC` array only (what a dead-lettered message's
/// `x-death` lists after its own routing key: `BCC` is gone by then).
pub fn extend_cc_keys<'a>(headers: Option<&'a FieldTable>, keys: &mut Vec<&'a [u8]>) {
    cc_like(headers, "CC", keys);
}

fn cc_like<'a>(headers: Option<&'a FieldTable>, name: &str, keys: &mut Vec<&'a [u8]>) {
    if let Some(FieldValue::Array(a)) = headers.and_then(|h| h.get(name)) {
        keys.extend(a.0.iter().filter_map(|v| match v {
            FieldValue::LongStr(s) => Some(s.as_bytes()),
            _ => None,
        }));
    }
}

/// The publish's route, remembering the `BCC` keys (if any) for where the message goes next.
pub fn with_bcc_keys(route: Route, headers: Option<&FieldTable>) -> Route {
    let mut bcc = Vec::new();
    cc_like(headers, "BCC", &mut bcc);
    if bcc.is_empty() {
        return route;
    }
    Route::with_bcc_keys(route.exchange(), route.routing_key(), &bcc)
}

/// If the properties carry `BCC`: the raw properties to keep with the message instead,
/// without it. An emptied header table stays present (empty), as in RabbitMQ.
pub fn without_bcc(props: &BasicProperties) -> Option<Bytes> {
    props.headers.as_ref()?.get("BCC")?;
    let mut props = props.clone();
    props.headers.as_mut()?.remove("BCC");
    Some(props.to_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_codec::{FieldArray, LongStr, ShortStr};

    fn headers(entries: &[(&'static str, FieldValue)]) -> FieldTable {
        let mut t = FieldTable::new();
        for (k, v) in entries {
            t.push(ShortStr::from_static(k), v.clone());
        }
        t
    }

    fn keys(names: &[&str]) -> FieldValue {
        FieldValue::Array(FieldArray(
            names
                .iter()
                .map(|n| FieldValue::LongStr(LongStr::from(*n)))
                .chain([FieldValue::I32(5)])
                .collect(),
        ))
    }

    #[test]
    fn cc_and_bcc_string_elements_are_extra_keys() {
        let h = headers(&[("CC", keys(&["a", "b"])), ("BCC", keys(&["c"]))]);
        let mut all = Vec::new();
        extend_keys(Some(&h), &mut all);
        assert_eq!(all, [&b"a"[..], b"b", b"c"]);
        let mut cc = Vec::new();
        extend_cc_keys(Some(&h), &mut cc);
        assert_eq!(cc, [&b"a"[..], b"b"]);
        assert!(has_keys(Some(&h)));
        assert!(!has_keys(Some(&headers(&[("cc", keys(&["a"]))]))));
        assert!(check(Some(&h)).is_ok());
    }

    #[test]
    fn a_cc_or_bcc_that_is_not_an_array_is_refused() {
        let e = check(Some(&headers(&[("BCC", FieldValue::I32(5))]))).unwrap_err();
        assert_eq!(
            e.text,
            "invalid message: {unacceptable_type_in_header,\"BCC\",signedint}"
        );
    }

    #[test]
    fn bcc_is_stripped_and_an_emptied_table_stays() {
        let props = BasicProperties {
            headers: Some(headers(&[("BCC", keys(&["c"]))])),
            ..Default::default()
        };
        let raw = without_bcc(&props).unwrap();
        let back = BasicProperties::from_raw(&raw).unwrap();
        assert_eq!(back.headers, Some(FieldTable::new()));
        assert!(without_bcc(&back).is_none());
    }
}
