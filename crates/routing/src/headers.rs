//! The headers exchange: binding-argument parsing and RabbitMQ's matching rules.
//!
//! RabbitMQ (rabbit_exchange_type_headers) sorts both the binding arguments and the message
//! headers by key and walks them like a merge. The rules reproduced here:
//! - `x-match` is `all` (the default when absent), `any`, `all-with-x` or `any-with-x`; any
//!   other value, or a non-string value, makes the binding invalid.
//! - `x-match` itself never takes part in matching; other keys starting with `x-` are ignored
//!   unless the mode is one of the `-with-x` ones.
//! - A binding argument whose value is void matches when the header is present, whatever its
//!   value. Otherwise the header must be present with an equal value.
//! - Equality is Erlang's `==` on the decoded values, which ignores the AMQP type tag at the
//!   top level: every integer width and timestamps are plain integers (so `I8(1)` equals
//!   `I64(1)`), integers equal floats of the same value, long strings equal byte arrays with
//!   the same bytes. Inside nested tables and arrays the type tags are part of the term, so
//!   they must agree there.
//! - `all` with no remaining keys matches every message; `any` with none matches nothing.
//! - Duplicate keys behave as RabbitMQ's merge does (each binding key consumes the first
//!   unconsumed header with that key).

use std::cmp::Ordering;
use warren_codec::{FieldArray, FieldTable, FieldValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XMatch {
    All,
    Any,
    AllWithX,
    AnyWithX,
}

impl XMatch {
    fn is_all(self) -> bool {
        matches!(self, XMatch::All | XMatch::AllWithX)
    }
}

/// A parsed headers binding: the mode and the arguments that take part, sorted by key.
#[derive(Debug, Clone)]
pub(crate) struct HeadersSpec {
    mode: XMatch,
    /// `None` is a void value: presence test.
    entries: Vec<(Box<[u8]>, Option<FieldValue>)>,
}

impl HeadersSpec {
    /// Validates and parses binding arguments, as RabbitMQ's `validate_binding` does.
    pub(crate) fn parse(args: &FieldTable) -> Result<Self, String> {
        let mode = match args.get("x-match") {
            None => XMatch::All,
            Some(FieldValue::LongStr(s)) => match s.as_bytes() {
                b"all" => XMatch::All,
                b"any" => XMatch::Any,
                b"all-with-x" => XMatch::AllWithX,
                b"any-with-x" => XMatch::AnyWithX,
                other => {
                    return Err(format!(
                        "Invalid x-match field value <<\"{}\">>; expected all, any, all-with-x, or \
                         any-with-x",
                        String::from_utf8_lossy(other)
                    ))
                }
            },
            Some(other) => {
                return Err(format!(
                    "Invalid x-match field type {} (value {}); expected longstr",
                    other.rabbit_type_name(),
                    erlang_term(other)
                ))
            }
        };
        let with_x = matches!(mode, XMatch::AllWithX | XMatch::AnyWithX);
        let mut entries: Vec<(Box<[u8]>, Option<FieldValue>)> = args
            .iter()
            .filter(|(k, _)| {
                let k = k.as_bytes();
                k != b"x-match" && (with_x || !k.starts_with(b"x-"))
            })
            .map(|(k, v)| {
                let v = match v {
                    FieldValue::Void => None,
                    v => Some(v.clone()),
                };
                (Box::from(k.as_bytes()), v)
            })
            .collect();
        // Stable, like Erlang's lists:keysort: equal keys keep their wire order.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(HeadersSpec { mode, entries })
    }

    /// Matches against message headers already sorted by key (see [`sort_headers`]).
    pub(crate) fn matches(&self, data: &[(&[u8], &FieldValue)]) -> bool {
        let all_mode = self.mode.is_all();
        let (mut all, mut any) = (true, false);
        let (mut p, mut d) = (0, 0);
        loop {
            if all_mode && !all {
                return false;
            }
            if !all_mode && any {
                return true;
            }
            let Some((pk, pv)) = self.entries.get(p) else {
                return if all_mode { all } else { any };
            };
            let Some(&(dk, dv)) = data.get(d) else {
                // Binding keys left but no headers: fails `all`, cannot help `any`.
                return if all_mode { false } else { any };
            };
            match (**pk).cmp(dk) {
                Ordering::Greater => d += 1,
                Ordering::Less => {
                    all = false;
                    p += 1;
                }
                Ordering::Equal => {
                    let hit = match pv {
                        None => true,
                        Some(pv) => erlang_eq(pv, dv),
                    };
                    if hit {
                        any = true;
                    } else {
                        all = false;
                    }
                    p += 1;
                    d += 1;
                }
            }
        }
    }
}

/// A value as Erlang's `~p` prints it, for RabbitMQ's x-match texts: binaries as `<<"...">>`.
fn erlang_term(v: &FieldValue) -> String {
    match v {
        FieldValue::LongStr(s) => format!("<<\"{}\">>", s.to_string_lossy()),
        FieldValue::Bytes(b) => format!("<<\"{}\">>", String::from_utf8_lossy(b)),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::F32(f) => f.to_string(),
        FieldValue::F64(f) => f.to_string(),
        FieldValue::Void => "undefined".to_string(),
        other => other
            .as_i64()
            .map_or_else(|| format!("{other:?}"), |i| i.to_string()),
    }
}

/// Message headers as (key, value) sorted by key, equal keys in wire order.
pub(crate) fn sort_headers(headers: Option<&FieldTable>) -> Vec<(&[u8], &FieldValue)> {
    let mut data: Vec<(&[u8], &FieldValue)> = headers
        .map(|h| h.iter().map(|(k, v)| (k.as_bytes(), v)).collect())
        .unwrap_or_default();
    data.sort_by(|a, b| a.0.cmp(b.0));
    data
}

/// A value as Erlang sees it after RabbitMQ decodes it.
enum Term<'a> {
    Int(i128),
    Float(f64),
    Bin(&'a [u8]),
    Bool(bool),
    Decimal(u8, u32),
    Undefined,
    Table(&'a FieldTable),
    Array(&'a FieldArray),
}

fn term(v: &FieldValue) -> Term<'_> {
    use FieldValue as V;
    match v {
        V::Bool(b) => Term::Bool(*b),
        V::I8(x) => Term::Int((*x).into()),
        V::U8(x) => Term::Int((*x).into()),
        V::I16(x) => Term::Int((*x).into()),
        V::U16(x) => Term::Int((*x).into()),
        V::I32(x) => Term::Int((*x).into()),
        V::U32(x) => Term::Int((*x).into()),
        V::I64(x) => Term::Int((*x).into()),
        V::Timestamp(x) => Term::Int((*x).into()),
        V::F32(x) => Term::Float((*x).into()),
        V::F64(x) => Term::Float(*x),
        V::Decimal { scale, value } => Term::Decimal(*scale, *value),
        V::LongStr(s) => Term::Bin(s.as_bytes()),
        V::Bytes(b) => Term::Bin(b),
        V::Array(a) => Term::Array(a),
        V::Table(t) => Term::Table(t),
        V::Void => Term::Undefined,
    }
}

fn int_eq_float(i: i128, f: f64) -> bool {
    // Exact comparison: the float must be integral and within range to equal an integer.
    f.is_finite() && f.fract() == 0.0 && f.abs() < 1.7e38 && f as i128 == i
}

/// Erlang `==` on two decoded values (top level: the type tag is not part of the value).
pub(crate) fn erlang_eq(a: &FieldValue, b: &FieldValue) -> bool {
    match (term(a), term(b)) {
        (Term::Int(x), Term::Int(y)) => x == y,
        (Term::Float(x), Term::Float(y)) => x == y,
        (Term::Int(i), Term::Float(f)) | (Term::Float(f), Term::Int(i)) => int_eq_float(i, f),
        (Term::Bin(x), Term::Bin(y)) => x == y,
        (Term::Bool(x), Term::Bool(y)) => x == y,
        (Term::Decimal(s1, v1), Term::Decimal(s2, v2)) => s1 == s2 && v1 == v2,
        (Term::Undefined, Term::Undefined) => true,
        (Term::Table(x), Term::Table(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && tagged_eq(v1, v2))
        }
        (Term::Array(x), Term::Array(y)) => {
            x.0.len() == y.0.len() && x.0.iter().zip(&y.0).all(|(v1, v2)| tagged_eq(v1, v2))
        }
        _ => false,
    }
}

/// Equality inside a table or array, where RabbitMQ keeps `{Type, Value}` pairs: the types
/// must be the same and the values `==`.
fn tagged_eq(a: &FieldValue, b: &FieldValue) -> bool {
    a.type_letter() == b.type_letter() && erlang_eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_codec::ShortStr;

    fn table(entries: &[(&'static str, FieldValue)]) -> FieldTable {
        entries
            .iter()
            .map(|(k, v)| (ShortStr::from_static(k), v.clone()))
            .collect()
    }

    #[test]
    fn top_level_ignores_the_type_tag_nested_does_not() {
        use FieldValue as V;
        assert!(erlang_eq(&V::I8(1), &V::I64(1)));
        assert!(erlang_eq(&V::U32(7), &V::Timestamp(7)));
        assert!(erlang_eq(&V::I32(2), &V::F64(2.0)));
        assert!(!erlang_eq(&V::I32(2), &V::F64(2.5)));
        assert!(erlang_eq(&V::LongStr("ab".into()), &V::Bytes("ab".into())));
        assert!(!erlang_eq(&V::LongStr("1".into()), &V::I32(1)));
        assert!(!erlang_eq(&V::Bool(true), &V::I8(1)));
        let t1 = table(&[("k", V::I32(1))]);
        let t2 = table(&[("k", V::I64(1))]);
        assert!(!erlang_eq(&V::Table(t1.clone()), &V::Table(t2)));
        assert!(erlang_eq(&V::Table(t1.clone()), &V::Table(t1)));
        let a1 = V::Array(FieldArray(vec![V::U8(1)]));
        let a2 = V::Array(FieldArray(vec![V::I8(1)]));
        assert!(!erlang_eq(&a1, &a2));
    }

    #[test]
    fn invalid_x_match_is_rejected() {
        use FieldValue as V;
        assert!(HeadersSpec::parse(&table(&[("x-match", V::LongStr("some".into()))])).is_err());
        assert!(HeadersSpec::parse(&table(&[("x-match", V::I32(1))])).is_err());
        assert!(HeadersSpec::parse(&table(&[])).is_ok());
    }

    #[test]
    fn duplicate_keys_follow_the_merge() {
        use FieldValue as V;
        let spec = HeadersSpec::parse(&table(&[("k", V::I32(1)), ("k", V::I32(2))])).unwrap();
        let both = table(&[("k", V::I32(1)), ("k", V::I32(2))]);
        let one = table(&[("k", V::I32(1))]);
        assert!(spec.matches(&sort_headers(Some(&both))));
        assert!(!spec.matches(&sort_headers(Some(&one))));
    }
}
