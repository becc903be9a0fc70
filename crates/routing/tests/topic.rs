//! Topic exchange: RabbitMQ's own topic test table, edge cases of the word syntax, and a
//! property test of the trie against a naive recursive matcher.

use proptest::prelude::*;
use std::collections::BTreeSet;
use warren_codec::{FieldTable, FieldValue, ShortStr};
use warren_routing::{ExchangeKind, RouteOutcome, Router};

fn routed(r: &Router<String>, x: &str, key: &str) -> BTreeSet<String> {
    let mut out = Vec::new();
    let outcome = r.route(x, key.as_bytes(), None, &mut out);
    let set: BTreeSet<String> = out.iter().cloned().collect();
    assert_eq!(set.len(), out.len(), "duplicates in {out:?}");
    match outcome {
        RouteOutcome::Routed(n) => assert_eq!(n, out.len()),
        RouteOutcome::Unroutable => assert!(out.is_empty()),
        RouteOutcome::NoSuchExchange => panic!("no exchange {x}"),
    }
    set
}

fn names(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn foo(v: &str) -> FieldTable {
    let mut t = FieldTable::new();
    t.insert(ShortStr::from_static("foo"), FieldValue::LongStr(v.into()));
    t
}

/// The bindings and expectations of RabbitMQ's topic exchange unit test (t1..t27; t27 is
/// bound twice with the same key and different arguments).
#[test]
fn rabbitmq_topic_suite() {
    let r: Router<String> = Router::new();
    r.declare_exchange("t", ExchangeKind::Topic, false);
    let bindings: &[(&str, &str)] = &[
        ("a.b.c", "t1"),
        ("a.*.c", "t2"),
        ("a.#.b", "t3"),
        ("a.b.b.c", "t4"),
        ("#", "t5"),
        ("#.#", "t6"),
        ("#.b", "t7"),
        ("*.*", "t8"),
        ("a.*", "t9"),
        ("*.b.c", "t10"),
        ("a.#", "t11"),
        ("a.#.#", "t12"),
        ("b.b.c", "t13"),
        ("a.b.b", "t14"),
        ("a.b", "t15"),
        ("b.c", "t16"),
        ("", "t17"),
        ("*.*.*", "t18"),
        ("vodka.martini", "t19"),
        ("a.b.c", "t20"),
        ("*.#", "t21"),
        ("#.*.#", "t22"),
        ("*.#.#", "t23"),
        ("#.#.#", "t24"),
        ("*", "t25"),
        ("#.b.#", "t26"),
    ];
    for (_, q) in bindings {
        r.add_queue(q, q.to_string());
    }
    r.add_queue("t27", "t27".into());
    for (k, q) in bindings {
        assert_eq!(r.bind_queue("t", q, k, &FieldTable::new()), Ok(true));
    }
    assert_eq!(r.bind_queue("t", "t27", "args-test", &foo("bar")), Ok(true));
    assert_eq!(r.bind_queue("t", "t27", "args-test", &foo("baz")), Ok(true));

    let expect = |cases: &[(&str, &[&str])]| {
        for (key, want) in cases {
            assert_eq!(routed(&r, "t", key), names(want), "key {key:?}");
        }
    };
    expect(&[
        (
            "a.b.c",
            &[
                "t1", "t2", "t5", "t6", "t10", "t11", "t12", "t18", "t20", "t21", "t22", "t23",
                "t24", "t26",
            ],
        ),
        (
            "a.b",
            &[
                "t3", "t5", "t6", "t7", "t8", "t9", "t11", "t12", "t15", "t21", "t22", "t23",
                "t24", "t26",
            ],
        ),
        (
            "a.b.b",
            &[
                "t3", "t5", "t6", "t7", "t11", "t12", "t14", "t18", "t21", "t22", "t23", "t24",
                "t26",
            ],
        ),
        ("", &["t5", "t6", "t17", "t24"]),
        (
            "b.c.c",
            &["t5", "t6", "t18", "t21", "t22", "t23", "t24", "t26"],
        ),
        (
            "a.a.a.a.a",
            &["t5", "t6", "t11", "t12", "t21", "t22", "t23", "t24"],
        ),
        ("vodka.gin", &["t5", "t6", "t8", "t21", "t22", "t23", "t24"]),
        (
            "vodka.martini",
            &["t5", "t6", "t8", "t19", "t21", "t22", "t23", "t24"],
        ),
        (
            "b.b.c",
            &[
                "t5", "t6", "t10", "t13", "t18", "t21", "t22", "t23", "t24", "t26",
            ],
        ),
        (
            "nothing.here.at.all",
            &["t5", "t6", "t21", "t22", "t23", "t24"],
        ),
        ("oneword", &["t5", "t6", "t21", "t22", "t23", "t24", "t25"]),
        (
            "args-test",
            &["t5", "t6", "t21", "t22", "t23", "t24", "t25", "t27"],
        ),
    ]);

    // Remove bindings 1, 5, 11, 19, 21 and the second t27 binding, as the suite does.
    for (k, q) in [
        ("a.b.c", "t1"),
        ("#", "t5"),
        ("a.#", "t11"),
        ("vodka.martini", "t19"),
        ("*.#", "t21"),
    ] {
        assert_eq!(r.unbind_queue("t", q, k, &FieldTable::new()), Ok(true));
    }
    assert_eq!(
        r.unbind_queue("t", "t27", "args-test", &foo("baz")),
        Ok(true)
    );
    expect(&[
        (
            "a.b.c",
            &[
                "t2", "t6", "t10", "t12", "t18", "t20", "t22", "t23", "t24", "t26",
            ],
        ),
        (
            "a.b",
            &[
                "t3", "t6", "t7", "t8", "t9", "t12", "t15", "t22", "t23", "t24", "t26",
            ],
        ),
        (
            "a.b.b",
            &[
                "t3", "t6", "t7", "t12", "t14", "t18", "t22", "t23", "t24", "t26",
            ],
        ),
        ("", &["t6", "t17", "t24"]),
        ("b.c.c", &["t6", "t18", "t22", "t23", "t24", "t26"]),
        ("a.a.a.a.a", &["t6", "t12", "t22", "t23", "t24"]),
        ("vodka.gin", &["t6", "t8", "t22", "t23", "t24"]),
        ("vodka.martini", &["t6", "t8", "t22", "t23", "t24"]),
        (
            "b.b.c",
            &["t6", "t10", "t13", "t18", "t22", "t23", "t24", "t26"],
        ),
        ("nothing.here.at.all", &["t6", "t22", "t23", "t24"]),
        ("oneword", &["t6", "t22", "t23", "t24", "t25"]),
        ("args-test", &["t6", "t22", "t23", "t24", "t25", "t27"]),
    ]);

    // Deleting the exchange removes everything; a new exchange of that name starts empty.
    assert!(r.delete_exchange("t"));
    assert!(r.queue_bindings("t6").is_empty());
    r.declare_exchange("t", ExchangeKind::Topic, false);
    for key in ["a.b.c", "b.b.c", ""] {
        assert!(routed(&r, "t", key).is_empty());
    }
}

#[test]
fn empty_words_and_hash_positions() {
    let r: Router<String> = Router::new();
    r.declare_exchange("t", ExchangeKind::Topic, false);
    let cases: &[(&str, &[&str], &[&str])] = &[
        // pattern, keys that match, keys that do not
        ("a..b", &["a..b"], &["a.b", "a...b", "a.x.b"]),
        ("a.*.b", &["a..b", "a.x.b"], &["a.b", "a...b"]),
        (".a", &[".a"], &["a", "..a"]),
        ("a.", &["a."], &["a", "a.."]),
        ("*", &["x"], &["", ".", "a.b"]),
        ("*.*", &[".", "a.b", "a."], &["a", "", "a.b.c"]),
        ("#.a", &["a", "x.a", "x.y.a", ".a"], &["a.x", "", "xa"]),
        ("a.#", &["a", "a.b", "a.", "a.b.c"], &["b.a", ""]),
        (
            "a.#.#.b",
            &["a.b", "a.x.b", "a.x.y.z.b"],
            &["a", "b", "a.b.c"],
        ),
        ("#.#", &["", "a", "a.b.c", "."], &[]),
        ("#.*.#", &["a", "a.b", "."], &[]),
        ("*.#.*", &["a.b", "a.b.c", "."], &["a"]),
        (
            "a.#.b.#.c",
            &["a.b.c", "a.x.b.y.c", "a.b.b.c.c"],
            &["a.c", "a.b", "b.c"],
        ),
    ];
    for (i, (pattern, yes, no)) in cases.iter().enumerate() {
        let q = format!("q{i}");
        r.add_queue(&q, q.clone());
        r.bind_queue("t", &q, pattern, &FieldTable::new()).unwrap();
        for key in *yes {
            assert!(
                routed(&r, "t", key).contains(&q),
                "{pattern:?} should match {key:?}"
            );
        }
        for key in *no {
            assert!(
                !routed(&r, "t", key).contains(&q),
                "{pattern:?} should not match {key:?}"
            );
        }
    }
}

#[test]
fn wildcard_characters_inside_words_are_literal() {
    let r: Router<String> = Router::new();
    r.declare_exchange("t", ExchangeKind::Topic, false);
    r.add_queue("q", "q".into());
    r.bind_queue("t", "q", "a*.#b", &FieldTable::new()).unwrap();
    assert_eq!(routed(&r, "t", "a*.#b"), names(&["q"]));
    assert!(routed(&r, "t", "ax.b").is_empty());
    assert!(routed(&r, "t", "a*.x.#b").is_empty());
}

#[test]
fn keys_of_255_bytes_and_255_dots() {
    let r: Router<String> = Router::new();
    r.declare_exchange("t", ExchangeKind::Topic, false);
    r.add_queue("long", "long".into());
    r.add_queue("dots", "dots".into());
    r.add_queue("tail", "tail".into());
    let long_word = "w".repeat(253);
    let key = format!("{long_word}.z");
    assert_eq!(key.len(), 255);
    r.bind_queue("t", "long", &format!("{long_word}.*"), &FieldTable::new())
        .unwrap();
    let dots = ".".repeat(255); // 256 empty words
    r.bind_queue("t", "dots", &dots, &FieldTable::new())
        .unwrap();
    r.bind_queue("t", "tail", "#.z", &FieldTable::new())
        .unwrap();
    assert_eq!(routed(&r, "t", &key), names(&["long", "tail"]));
    assert_eq!(routed(&r, "t", &dots), names(&["dots"]));
    assert!(routed(&r, "t", &".".repeat(254)).is_empty());
}

/// Nested `#` against a long key of repeated words would visit exponentially many paths
/// without the matcher's memo; with it this finishes quickly.
#[test]
fn nested_hashes_stay_polynomial() {
    let r: Router<String> = Router::new();
    r.declare_exchange("t", ExchangeKind::Topic, false);
    r.add_queue("q", "q".into());
    r.bind_queue("t", "q", "#.a.#.a.#.a.#.a.#.a.#.b", &FieldTable::new())
        .unwrap();
    let key = vec!["a"; 120].join(".");
    let start = std::time::Instant::now();
    assert!(routed(&r, "t", &key).is_empty());
    assert_eq!(routed(&r, "t", &format!("{key}.b")), names(&["q"]));
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

/// The reference: a direct transcription of the definition, on split words.
fn naive_match(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|i| naive_match(rest, &key[i..])),
        Some((&"*", rest)) => !key.is_empty() && naive_match(rest, &key[1..]),
        Some((w, rest)) => key.first() == Some(w) && naive_match(rest, &key[1..]),
    }
}

fn words(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split('.').collect()
    }
}

fn pattern_strategy() -> impl Strategy<Value = String> {
    let words: &[&str] = &["a", "b", "", "*", "#", "#"];
    proptest::collection::vec(proptest::sample::select(words), 0..6).prop_map(|w| w.join("."))
}

fn key_strategy() -> impl Strategy<Value = String> {
    let words: &[&str] = &["a", "b", ""];
    proptest::collection::vec(proptest::sample::select(words), 0..6).prop_map(|w| w.join("."))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// One binding: the trie matches exactly when the naive matcher does.
    #[test]
    fn single_pattern_agrees_with_naive(pattern in pattern_strategy(), key in key_strategy()) {
        let r: Router<String> = Router::new();
        r.declare_exchange("t", ExchangeKind::Topic, false);
        r.add_queue("q", "q".into());
        r.bind_queue("t", "q", &pattern, &FieldTable::new()).unwrap();
        let mut out = Vec::new();
        let outcome = r.route("t", key.as_bytes(), None, &mut out);
        let want = naive_match(&words(&pattern), &words(&key));
        prop_assert_eq!(!out.is_empty(), want, "pattern {:?} key {:?}", pattern, key);
        prop_assert_eq!(outcome, if want { RouteOutcome::Routed(1) } else { RouteOutcome::Unroutable });
    }

    /// Many bindings (several per queue) with removals: the routed set equals the set of
    /// queues with at least one naively matching remaining pattern, for every key tried.
    #[test]
    fn many_patterns_agree_with_naive(
        bindings in proptest::collection::vec((pattern_strategy(), 0usize..6), 1..40),
        removed in proptest::collection::vec(any::<proptest::sample::Index>(), 0..10),
        keys in proptest::collection::vec(key_strategy(), 1..20),
    ) {
        let r: Router<String> = Router::new();
        r.declare_exchange("t", ExchangeKind::Topic, false);
        for q in 0..6 {
            r.add_queue(&format!("q{q}"), format!("q{q}"));
        }
        let mut live: Vec<(String, usize)> = Vec::new();
        for (p, q) in &bindings {
            let created = r.bind_queue("t", &format!("q{q}"), p, &FieldTable::new()).unwrap();
            prop_assert_eq!(created, !live.contains(&(p.clone(), *q)));
            if created {
                live.push((p.clone(), *q));
            }
        }
        for idx in removed {
            if live.is_empty() {
                break;
            }
            let (p, q) = live.remove(idx.index(live.len()));
            prop_assert_eq!(r.unbind_queue("t", &format!("q{q}"), &p, &FieldTable::new()), Ok(true));
        }
        for key in keys {
            let want: BTreeSet<String> = live
                .iter()
                .filter(|(p, _)| naive_match(&words(p), &words(&key)))
                .map(|(_, q)| format!("q{q}"))
                .collect();
            prop_assert_eq!(routed(&r, "t", &key), want, "key {:?}", key);
        }
    }
}

/// Guards the property tests against being vacuous: with this alphabet both outcomes are
/// common.
#[test]
fn generated_cases_hit_both_outcomes() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut hits, mut misses) = (0, 0);
    for _ in 0..500 {
        let p = pattern_strategy().new_tree(&mut runner).unwrap().current();
        let k = key_strategy().new_tree(&mut runner).unwrap().current();
        if naive_match(&words(&p), &words(&k)) {
            hits += 1;
        } else {
            misses += 1;
        }
    }
    assert!(hits > 50 && misses > 50, "hits {hits} misses {misses}");
}
