//! Headers exchange: the four x-match modes, `x-` keys, void (presence) arguments, typed
//! value comparison as RabbitMQ does it, and binding validation.

use bytes::Bytes;
use warren_codec::{FieldArray, FieldTable, FieldValue as V, ShortStr};
use warren_routing::{RouteOutcome, Router, RoutingError};

fn table(entries: &[(&str, V)]) -> FieldTable {
    entries
        .iter()
        .map(|(k, v)| (ShortStr::try_from(*k).unwrap(), v.clone()))
        .collect()
}

fn s(v: &str) -> V {
    V::LongStr(v.into())
}

/// Does a message with `headers` reach a queue bound with `args`?
fn reaches(args: &FieldTable, headers: Option<&FieldTable>) -> bool {
    let r: Router<String> = Router::with_default_exchanges();
    r.add_queue("q", "q".into());
    r.bind_queue("amq.match", "q", "", args).unwrap();
    let mut out = Vec::new();
    let outcome = r.route("amq.match", b"ignored", headers, &mut out);
    assert_eq!(outcome == RouteOutcome::Routed(1), out == ["q"]);
    !out.is_empty()
}

#[test]
fn x_match_modes() {
    let fmt_pdf = |mode: &str| {
        table(&[
            ("x-match", s(mode)),
            ("format", s("pdf")),
            ("type", s("report")),
        ])
    };
    let both = table(&[
        ("format", s("pdf")),
        ("type", s("report")),
        ("extra", V::I32(1)),
    ]);
    let one = table(&[("format", s("pdf")), ("type", s("log"))]);
    let none = table(&[("format", s("zip"))]);
    // (binding mode, headers, expected)
    let cases: &[(&str, &FieldTable, bool)] = &[
        ("all", &both, true),
        ("all", &one, false),
        ("all", &none, false),
        ("any", &both, true),
        ("any", &one, true),
        ("any", &none, false),
        ("all-with-x", &both, true),
        ("all-with-x", &one, false),
        ("any-with-x", &one, true),
        ("any-with-x", &none, false),
    ];
    for (mode, headers, want) in cases {
        assert_eq!(
            reaches(&fmt_pdf(mode), Some(headers)),
            *want,
            "{mode} {headers:?}"
        );
    }
    // x-match absent means all.
    let no_mode = table(&[("format", s("pdf")), ("type", s("report"))]);
    assert!(reaches(&no_mode, Some(&both)));
    assert!(!reaches(&no_mode, Some(&one)));
}

#[test]
fn empty_binding_all_matches_everything_any_nothing() {
    assert!(reaches(&FieldTable::new(), None));
    assert!(reaches(
        &table(&[("x-match", s("all"))]),
        Some(&table(&[("a", V::I8(1))]))
    ));
    assert!(!reaches(
        &table(&[("x-match", s("any"))]),
        Some(&table(&[("a", V::I8(1))]))
    ));
    assert!(!reaches(&table(&[("x-match", s("any"))]), None));
    // Arguments present but no headers: all fails, any fails.
    assert!(!reaches(&table(&[("a", V::I8(1))]), None));
    assert!(!reaches(
        &table(&[("x-match", s("any")), ("a", V::I8(1))]),
        None
    ));
}

#[test]
fn x_keys_are_ignored_unless_with_x() {
    let headers = table(&[("x-origin", s("eu")), ("kind", s("order"))]);
    let wrong_origin = table(&[("x-origin", s("us")), ("kind", s("order"))]);
    // Plain all: x-origin in the binding is ignored entirely.
    let plain = table(&[
        ("x-match", s("all")),
        ("x-origin", s("eu")),
        ("kind", s("order")),
    ]);
    assert!(reaches(&plain, Some(&headers)));
    assert!(reaches(&plain, Some(&wrong_origin)));
    // With x: it must match.
    let with_x = table(&[
        ("x-match", s("all-with-x")),
        ("x-origin", s("eu")),
        ("kind", s("order")),
    ]);
    assert!(reaches(&with_x, Some(&headers)));
    assert!(!reaches(&with_x, Some(&wrong_origin)));
    // any with only x- keys: nothing left to match, so never.
    let any_only_x = table(&[("x-match", s("any")), ("x-origin", s("eu"))]);
    assert!(!reaches(&any_only_x, Some(&headers)));
    let any_with_x = table(&[("x-match", s("any-with-x")), ("x-origin", s("eu"))]);
    assert!(reaches(&any_with_x, Some(&headers)));
    assert!(!reaches(&any_with_x, Some(&wrong_origin)));
    // all with only x- keys: matches everything.
    let all_only_x = table(&[("x-origin", s("eu"))]);
    assert!(reaches(&all_only_x, None));
    // The message's own x- headers are data like any other for -with-x.
    let want_x_header = table(&[("x-match", s("any-with-x")), ("x-retry", V::Void)]);
    assert!(reaches(
        &want_x_header,
        Some(&table(&[("x-retry", V::I32(3))]))
    ));
}

#[test]
fn void_argument_tests_presence_only() {
    let args = table(&[("trace", V::Void)]);
    assert!(reaches(&args, Some(&table(&[("trace", s("anything"))]))));
    assert!(reaches(&args, Some(&table(&[("trace", V::Void)]))));
    assert!(reaches(&args, Some(&table(&[("trace", V::Bool(false))]))));
    assert!(!reaches(&args, Some(&table(&[("other", V::Void)]))));
    assert!(!reaches(&args, None));
    // A void header does not equal a non-void argument.
    assert!(!reaches(
        &table(&[("k", s("v"))]),
        Some(&table(&[("k", V::Void)]))
    ));
}

#[test]
fn typed_comparison_as_rabbitmq() {
    // (binding value, header value, match?) — RabbitMQ compares decoded values with Erlang
    // `==`: integer widths and timestamps are all integers, ints equal integral floats,
    // longstr equals a byte array with the same bytes; nested tables/arrays keep their tags.
    let nested_i32 = V::Table(table(&[("n", V::I32(1))]));
    let nested_i64 = V::Table(table(&[("n", V::I64(1))]));
    let cases: Vec<(V, V, bool)> = vec![
        (V::I32(42), V::I32(42), true),
        (V::I32(42), V::I32(43), false),
        (V::I8(5), V::I64(5), true),
        (V::U16(65535), V::U32(65535), true),
        (V::I64(-1), V::U32(u32::MAX), false),
        (V::Timestamp(1_700_000_000), V::I64(1_700_000_000), true),
        (V::I32(2), V::F64(2.0), true),
        (V::I32(2), V::F32(2.5), false),
        (V::F32(0.5), V::F64(0.5), true),
        (V::F32(0.1), V::F64(0.1), false),
        (s("abc"), V::Bytes(Bytes::from_static(b"abc")), true),
        (s("abc"), s("abd"), false),
        (s("1"), V::I32(1), false),
        (V::Bool(true), V::Bool(true), true),
        (V::Bool(true), V::I8(1), false),
        (
            V::Decimal {
                scale: 2,
                value: 150,
            },
            V::Decimal {
                scale: 2,
                value: 150,
            },
            true,
        ),
        (
            V::Decimal {
                scale: 1,
                value: 15,
            },
            V::Decimal {
                scale: 2,
                value: 150,
            },
            false,
        ),
        (nested_i32.clone(), nested_i32.clone(), true),
        (nested_i32, nested_i64, false),
        (
            V::Array(FieldArray(vec![V::I32(1), s("x")])),
            V::Array(FieldArray(vec![V::I32(1), s("x")])),
            true,
        ),
        (
            V::Array(FieldArray(vec![V::I32(1)])),
            V::Array(FieldArray(vec![V::I64(1)])),
            false,
        ),
    ];
    for (arg, header, want) in cases {
        let got = reaches(
            &table(&[("k", arg.clone())]),
            Some(&table(&[("k", header.clone())])),
        );
        assert_eq!(got, want, "binding {arg:?} vs header {header:?}");
    }
}

#[test]
fn invalid_x_match_is_refused_and_nothing_is_bound() {
    let r: Router<String> = Router::with_default_exchanges();
    r.add_queue("q", "q".into());
    for bad in [s("most"), V::I32(1), V::Bool(true)] {
        let args = table(&[("x-match", bad)]);
        assert!(matches!(
            r.bind_queue("amq.headers", "q", "", &args),
            Err(RoutingError::InvalidBinding(_))
        ));
    }
    assert!(!r.has_bindings("amq.headers"));
    // Other exchange kinds ignore the argument.
    let args = table(&[("x-match", s("most"))]);
    assert_eq!(r.bind_queue("amq.direct", "q", "k", &args), Ok(true));
}

#[test]
fn several_bindings_one_queue_and_unbinding() {
    let r: Router<String> = Router::with_default_exchanges();
    r.add_queue("q", "q".into());
    r.add_queue("p", "p".into());
    let a = table(&[("x-match", s("any")), ("a", V::I32(1))]);
    let b = table(&[("x-match", s("any")), ("b", V::I32(1))]);
    r.bind_queue("amq.headers", "q", "", &a).unwrap();
    r.bind_queue("amq.headers", "q", "", &b).unwrap();
    r.bind_queue("amq.headers", "p", "", &b).unwrap();
    let both = table(&[("a", V::I32(1)), ("b", V::I32(1))]);
    let mut out = Vec::new();
    assert_eq!(
        r.route("amq.headers", b"", Some(&both), &mut out),
        RouteOutcome::Routed(2)
    );
    out.sort();
    assert_eq!(out, ["p", "q"]);
    // Argument order does not make a different binding.
    let b_reordered = table(&[("b", V::I32(1)), ("x-match", s("any"))]);
    assert_eq!(
        r.unbind_queue("amq.headers", "q", "", &b_reordered),
        Ok(true)
    );
    let only_b = table(&[("b", V::I32(1))]);
    r.route("amq.headers", b"", Some(&only_b), &mut out);
    assert_eq!(out, ["p"]);
}
