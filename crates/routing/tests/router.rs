//! Router behaviour: default and predeclared exchanges, direct and fanout routing, binding
//! identity, dedup, exchange-to-exchange bindings (chains, diamonds, cycles), internal and
//! alternate exchanges, deletion and auto-delete reporting, listing, transactions.

use std::collections::BTreeSet;
use warren_codec::{FieldTable, FieldValue, ShortStr};
use warren_routing::{
    DestinationKind, ExchangeKind, RouteOutcome, Router, RoutingError, PREDECLARED,
};

fn none() -> FieldTable {
    FieldTable::new()
}

fn arg(k: &'static str, v: FieldValue) -> FieldTable {
    let mut t = FieldTable::new();
    t.push(ShortStr::from_static(k), v);
    t
}

fn route(r: &Router<String>, x: &str, key: &str) -> (RouteOutcome, BTreeSet<String>) {
    let mut out = Vec::new();
    let outcome = r.route(x, key.as_bytes(), None, &mut out);
    let set: BTreeSet<String> = out.iter().cloned().collect();
    assert_eq!(set.len(), out.len(), "duplicate deliveries: {out:?}");
    (outcome, set)
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn router_with_queues(queues: &[&str]) -> Router<String> {
    let r = Router::with_default_exchanges();
    for q in queues {
        r.add_queue(q, q.to_string());
    }
    r
}

#[test]
fn predeclared_exchanges() {
    let r: Router<String> = Router::with_default_exchanges();
    assert_eq!(r.exchange_kind(""), Some((ExchangeKind::Direct, false)));
    for (name, kind) in PREDECLARED {
        assert_eq!(r.exchange_kind(name), Some((*kind, false)), "{name}");
    }
    assert_eq!(
        r.exchange_kind("amq.match"),
        Some((ExchangeKind::Headers, false))
    );
    let mut names = r.exchange_names();
    names.sort();
    assert_eq!(
        names,
        [
            "",
            "amq.direct",
            "amq.fanout",
            "amq.headers",
            "amq.match",
            "amq.topic"
        ]
    );
    let bare: Router<String> = Router::new();
    assert_eq!(bare.exchange_names(), [""]);
    assert!(Router::<String>::is_default_exchange(""));
    assert!(!Router::<String>::is_default_exchange("amq.direct"));
}

#[test]
fn exchange_kind_names_round_trip() {
    for kind in [
        ExchangeKind::Direct,
        ExchangeKind::Fanout,
        ExchangeKind::Topic,
        ExchangeKind::Headers,
    ] {
        assert_eq!(kind.as_str().parse::<ExchangeKind>(), Ok(kind));
        assert_eq!(kind.to_string(), kind.as_str());
    }
    assert!("x-delayed-message".parse::<ExchangeKind>().is_err());
    assert!("Direct".parse::<ExchangeKind>().is_err());
}

#[test]
fn default_exchange_routes_by_queue_name_and_refuses_bindings() {
    let r = router_with_queues(&["orders", "a.b"]);
    assert_eq!(
        route(&r, "", "orders"),
        (RouteOutcome::Routed(1), set(&["orders"]))
    );
    assert_eq!(
        route(&r, "", "a.b"),
        (RouteOutcome::Routed(1), set(&["a.b"]))
    );
    assert_eq!(route(&r, "", "missing").0, RouteOutcome::Unroutable);
    assert_eq!(
        r.bind_queue("", "orders", "x", &none()),
        Err(RoutingError::DefaultExchange)
    );
    assert_eq!(
        r.unbind_queue("", "orders", "orders", &none()),
        Err(RoutingError::DefaultExchange)
    );
    assert_eq!(
        r.bind_exchange("", "amq.direct", "x", &none()),
        Err(RoutingError::DefaultExchange)
    );
    assert_eq!(
        r.bind_exchange("amq.direct", "", "x", &none()),
        Err(RoutingError::DefaultExchange)
    );
    assert!(!r.delete_exchange(""));
    assert!(!r.has_bindings(""));
    r.remove_queue("orders");
    assert_eq!(route(&r, "", "orders").0, RouteOutcome::Unroutable);
}

#[test]
fn no_such_exchange_and_errors() {
    let r = router_with_queues(&["q"]);
    assert_eq!(route(&r, "nope", "k").0, RouteOutcome::NoSuchExchange);
    assert_eq!(
        r.bind_queue("nope", "q", "k", &none()),
        Err(RoutingError::NoSuchExchange("nope".into()))
    );
    assert_eq!(
        r.bind_queue("amq.direct", "nope", "k", &none()),
        Err(RoutingError::NoSuchQueue("nope".into()))
    );
    assert_eq!(
        r.bind_exchange("nope", "amq.direct", "k", &none()),
        Err(RoutingError::NoSuchExchange("nope".into()))
    );
    assert_eq!(
        r.unbind_queue("amq.direct", "q", "never-bound", &none()),
        Ok(false)
    );
    assert!(!r.declare_exchange("amq.direct", ExchangeKind::Fanout, false));
    assert_eq!(
        r.exchange_kind("amq.direct"),
        Some((ExchangeKind::Direct, false))
    );
}

#[test]
fn direct_routing() {
    let r = router_with_queues(&["a", "b", "c"]);
    r.bind_queue("amq.direct", "a", "red", &none()).unwrap();
    r.bind_queue("amq.direct", "b", "red", &none()).unwrap();
    r.bind_queue("amq.direct", "c", "green", &none()).unwrap();
    r.bind_queue("amq.direct", "c", "", &none()).unwrap();
    assert_eq!(
        route(&r, "amq.direct", "red"),
        (RouteOutcome::Routed(2), set(&["a", "b"]))
    );
    assert_eq!(route(&r, "amq.direct", "green").1, set(&["c"]));
    assert_eq!(route(&r, "amq.direct", "").1, set(&["c"]));
    assert_eq!(route(&r, "amq.direct", "blue").0, RouteOutcome::Unroutable);
    assert_eq!(route(&r, "amq.direct", "re").0, RouteOutcome::Unroutable);
    // Binary routing keys are compared as bytes.
    let mut out = Vec::new();
    assert_eq!(
        r.route("amq.direct", b"\xffred", None, &mut out),
        RouteOutcome::Unroutable
    );
}

#[test]
fn fanout_ignores_the_key() {
    let r = router_with_queues(&["a", "b"]);
    r.bind_queue("amq.fanout", "a", "whatever", &none())
        .unwrap();
    r.bind_queue("amq.fanout", "b", "", &none()).unwrap();
    assert_eq!(
        route(&r, "amq.fanout", "x"),
        (RouteOutcome::Routed(2), set(&["a", "b"]))
    );
    r.unbind_queue("amq.fanout", "a", "whatever", &none())
        .unwrap();
    assert_eq!(route(&r, "amq.fanout", "x").1, set(&["b"]));
}

#[test]
fn binding_identity_is_source_destination_key_and_args() {
    let r = router_with_queues(&["q"]);
    let one_i32 = arg("n", FieldValue::I32(1));
    let one_i64 = arg("n", FieldValue::I64(1));
    assert_eq!(r.bind_queue("amq.direct", "q", "k", &none()), Ok(true));
    assert_eq!(r.bind_queue("amq.direct", "q", "k", &none()), Ok(false));
    assert_eq!(r.bind_queue("amq.direct", "q", "k", &one_i32), Ok(true));
    assert_eq!(r.bind_queue("amq.direct", "q", "k", &one_i32), Ok(false));
    // The argument type is part of the identity (as an Erlang term, {signedint,1} differs
    // from {long,1}).
    assert_eq!(r.bind_queue("amq.direct", "q", "k", &one_i64), Ok(true));
    assert_eq!(r.queue_bindings("q").len(), 3);
    // Argument order is not (RabbitMQ sorts the arguments by key).
    let mut ab = arg("a", FieldValue::I32(1));
    ab.push(ShortStr::from_static("b"), FieldValue::I32(2));
    let mut ba = arg("b", FieldValue::I32(2));
    ba.push(ShortStr::from_static("a"), FieldValue::I32(1));
    assert_eq!(r.bind_queue("amq.direct", "q", "k", &ab), Ok(true));
    assert_eq!(r.bind_queue("amq.direct", "q", "k", &ba), Ok(false));
    // Delivered once despite four bindings with the same key.
    assert_eq!(
        route(&r, "amq.direct", "k"),
        (RouteOutcome::Routed(1), set(&["q"]))
    );
    // Removing some leaves the others routing.
    assert_eq!(r.unbind_queue("amq.direct", "q", "k", &none()), Ok(true));
    assert_eq!(r.unbind_queue("amq.direct", "q", "k", &none()), Ok(false));
    assert_eq!(r.unbind_queue("amq.direct", "q", "k", &ba), Ok(true));
    assert_eq!(r.unbind_queue("amq.direct", "q", "k", &one_i32), Ok(true));
    assert_eq!(route(&r, "amq.direct", "k").1, set(&["q"]));
    assert_eq!(r.unbind_queue("amq.direct", "q", "k", &one_i64), Ok(true));
    assert_eq!(route(&r, "amq.direct", "k").0, RouteOutcome::Unroutable);
    assert!(!r.has_bindings("amq.direct"));
}

#[test]
fn topic_dedup_across_patterns() {
    let r = router_with_queues(&["q", "p"]);
    for pattern in ["a.*", "#", "a.b", "*.b", "a.#"] {
        r.bind_queue("amq.topic", "q", pattern, &none()).unwrap();
    }
    r.bind_queue("amq.topic", "p", "#.b", &none()).unwrap();
    assert_eq!(
        route(&r, "amq.topic", "a.b"),
        (RouteOutcome::Routed(2), set(&["p", "q"]))
    );
    assert_eq!(
        route(&r, "amq.topic", "z"),
        (RouteOutcome::Routed(1), set(&["q"]))
    );
}

#[test]
fn exchange_to_exchange_chain_and_diamond() {
    let r = router_with_queues(&["q1", "q2", "q3"]);
    r.declare_exchange("src", ExchangeKind::Topic, false);
    r.declare_exchange("mid1", ExchangeKind::Fanout, false);
    r.declare_exchange("mid2", ExchangeKind::Direct, false);
    r.declare_exchange("sink", ExchangeKind::Fanout, false);
    r.bind_exchange("mid1", "src", "orders.#", &none()).unwrap();
    r.bind_exchange("mid2", "src", "*.eu", &none()).unwrap();
    r.bind_exchange("sink", "mid1", "", &none()).unwrap();
    r.bind_exchange("sink", "mid2", "orders.eu", &none())
        .unwrap();
    r.bind_queue("mid1", "q1", "", &none()).unwrap();
    r.bind_queue("mid2", "q2", "orders.eu", &none()).unwrap();
    r.bind_queue("sink", "q3", "", &none()).unwrap();
    r.bind_queue("sink", "q1", "", &none()).unwrap();
    // src → mid1 → {q1, sink → {q3, q1}}, src → mid2 → {q2, sink}: each queue once.
    assert_eq!(
        route(&r, "src", "orders.eu"),
        (RouteOutcome::Routed(3), set(&["q1", "q2", "q3"]))
    );
    assert_eq!(route(&r, "src", "orders.us").1, set(&["q1", "q3"]));
    assert_eq!(route(&r, "src", "users.eu").0, RouteOutcome::Unroutable);
    // Publishing to an intermediate exchange routes from there.
    assert_eq!(route(&r, "mid2", "orders.eu").1, set(&["q1", "q2", "q3"]));
    assert_eq!(route(&r, "mid1", "x").1, set(&["q1", "q3"]));
    let listed = r.exchange_bindings("src");
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .all(|b| b.destination_kind == DestinationKind::Exchange));
}

#[test]
fn exchange_cycles_terminate() {
    let r = router_with_queues(&["qa", "qb"]);
    for x in ["a", "b", "c"] {
        r.declare_exchange(x, ExchangeKind::Fanout, false);
    }
    r.bind_exchange("b", "a", "", &none()).unwrap();
    r.bind_exchange("c", "b", "", &none()).unwrap();
    r.bind_exchange("a", "c", "", &none()).unwrap();
    // A self-loop too.
    r.bind_exchange("b", "b", "", &none()).unwrap();
    assert_eq!(route(&r, "a", "k").0, RouteOutcome::Unroutable);
    r.bind_queue("a", "qa", "", &none()).unwrap();
    r.bind_queue("c", "qb", "", &none()).unwrap();
    for start in ["a", "b", "c"] {
        assert_eq!(
            route(&r, start, "k"),
            (RouteOutcome::Routed(2), set(&["qa", "qb"])),
            "{start}"
        );
    }
    // Deleting b removes its self-loop and both neighbouring bindings; a only lost a→b but
    // still has its queue binding, so it is not reported.
    assert_eq!(r.remove_exchange("b"), Some(vec![]));
    assert_eq!(route(&r, "a", "k").1, set(&["qa"]));
    assert_eq!(route(&r, "c", "k").1, set(&["qa", "qb"]));
}

#[test]
fn internal_exchanges_are_flagged_and_reachable_through_e2e() {
    let r = router_with_queues(&["q"]);
    r.declare_exchange("public", ExchangeKind::Direct, false);
    r.declare_exchange("hidden", ExchangeKind::Fanout, true);
    assert_eq!(
        r.exchange_kind("hidden"),
        Some((ExchangeKind::Fanout, true))
    );
    r.bind_exchange("hidden", "public", "k", &none()).unwrap();
    r.bind_queue("hidden", "q", "", &none()).unwrap();
    assert_eq!(
        route(&r, "public", "k"),
        (RouteOutcome::Routed(1), set(&["q"]))
    );
}

fn route_keys(r: &Router<String>, x: &str, keys: &[&str]) -> (RouteOutcome, BTreeSet<String>) {
    let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
    let mut out = Vec::new();
    let outcome = r.route_keys(x, &keys, None, &mut out);
    let set: BTreeSet<String> = out.iter().cloned().collect();
    assert_eq!(set.len(), out.len(), "duplicate deliveries: {out:?}");
    (outcome, set)
}

#[test]
fn several_routing_keys_reach_each_queue_once() {
    let r = router_with_queues(&["a", "b", "c", "unrouted"]);
    r.bind_queue("amq.direct", "a", "red", &none()).unwrap();
    r.bind_queue("amq.direct", "a", "green", &none()).unwrap();
    r.bind_queue("amq.direct", "b", "green", &none()).unwrap();
    r.bind_queue("amq.topic", "c", "*.x", &none()).unwrap();
    r.bind_queue("amq.topic", "b", "b.#", &none()).unwrap();
    assert_eq!(
        route_keys(&r, "amq.direct", &["red", "green", "blue"]),
        (RouteOutcome::Routed(2), set(&["a", "b"]))
    );
    assert_eq!(
        route_keys(&r, "amq.topic", &["a.x", "b.x"]).1,
        set(&["b", "c"])
    );
    assert_eq!(
        route_keys(&r, "", &["a", "c", "a", "none"]),
        (RouteOutcome::Routed(2), set(&["a", "c"]))
    );
    assert_eq!(route_keys(&r, "", &["none"]).0, RouteOutcome::Unroutable);
    // The alternate gets the message only when no key matched.
    r.declare_exchange("x", ExchangeKind::Direct, false);
    r.declare_exchange("ae", ExchangeKind::Fanout, false);
    r.bind_queue("x", "a", "good", &none()).unwrap();
    r.bind_queue("ae", "unrouted", "", &none()).unwrap();
    r.set_alternate_exchange("x", Some("ae"));
    assert_eq!(route_keys(&r, "x", &["bad", "good"]).1, set(&["a"]));
    assert_eq!(route_keys(&r, "x", &["bad", "worse"]).1, set(&["unrouted"]));
}

#[test]
fn alternate_exchanges() {
    let r = router_with_queues(&["main", "unrouted", "other"]);
    r.declare_exchange("x", ExchangeKind::Direct, false);
    r.declare_exchange("ae", ExchangeKind::Fanout, false);
    r.bind_queue("x", "main", "good", &none()).unwrap();
    r.bind_queue("ae", "unrouted", "", &none()).unwrap();
    assert!(r.set_alternate_exchange("x", Some("ae")));
    assert_eq!(r.alternate_exchange("x").as_deref(), Some("ae"));
    assert_eq!(route(&r, "x", "good").1, set(&["main"]));
    assert_eq!(route(&r, "x", "bad").1, set(&["unrouted"]));
    // An AE may name a missing exchange; then the message is unroutable.
    assert!(r.set_alternate_exchange("x", Some("missing")));
    assert_eq!(route(&r, "x", "bad").0, RouteOutcome::Unroutable);
    // AE of an exchange reached through e2e applies there too, and AE cycles terminate.
    r.set_alternate_exchange("x", Some("ae"));
    r.declare_exchange("front", ExchangeKind::Fanout, false);
    r.bind_exchange("x", "front", "", &none()).unwrap();
    r.bind_queue("front", "other", "", &none()).unwrap();
    assert_eq!(route(&r, "front", "bad").1, set(&["other", "unrouted"]));
    r.declare_exchange("loop", ExchangeKind::Direct, false);
    r.set_alternate_exchange("loop", Some("loop"));
    assert_eq!(route(&r, "loop", "k").0, RouteOutcome::Unroutable);
    assert!(r.set_alternate_exchange("x", None));
    assert_eq!(route(&r, "x", "bad").0, RouteOutcome::Unroutable);
    assert!(!r.set_alternate_exchange("missing", Some("ae")));
}

#[test]
fn remove_queue_reports_exchanges_left_without_bindings() {
    let r = router_with_queues(&["q", "keep"]);
    r.declare_exchange("only_q", ExchangeKind::Topic, false);
    r.declare_exchange("shared", ExchangeKind::Direct, false);
    r.declare_exchange("downstream", ExchangeKind::Fanout, false);
    r.bind_queue("only_q", "q", "a.#", &none()).unwrap();
    r.bind_queue("only_q", "q", "b.*", &none()).unwrap();
    r.bind_queue("shared", "q", "k", &none()).unwrap();
    r.bind_queue("shared", "keep", "k", &none()).unwrap();
    r.bind_exchange("downstream", "shared", "k", &none())
        .unwrap();
    r.bind_queue("downstream", "q", "", &none()).unwrap();
    let mut bindings: Vec<_> = r
        .queue_bindings("q")
        .into_iter()
        .map(|b| (b.source, b.routing_key))
        .collect();
    bindings.sort();
    assert_eq!(
        bindings,
        [
            ("downstream".into(), "".into()),
            ("only_q".into(), "a.#".into()),
            ("only_q".into(), "b.*".into()),
            ("shared".into(), "k".into())
        ]
    );
    let mut orphaned = r.remove_queue("q");
    orphaned.sort();
    assert_eq!(orphaned, ["downstream", "only_q"]);
    assert!(r.queue_bindings("q").is_empty());
    assert!(r.has_bindings("shared"));
    assert!(!r.has_bindings("only_q"));
    assert_eq!(route(&r, "shared", "k").1, set(&["keep"]));
    assert_eq!(r.remove_queue("q"), Vec::<String>::new());
    assert_eq!(
        r.bind_queue("shared", "q", "k", &none()),
        Err(RoutingError::NoSuchQueue("q".into()))
    );
}

#[test]
fn delete_exchange_drops_bindings_both_ways() {
    let r = router_with_queues(&["q"]);
    r.declare_exchange("up", ExchangeKind::Fanout, false);
    r.declare_exchange("x", ExchangeKind::Fanout, false);
    r.bind_exchange("x", "up", "", &none()).unwrap();
    r.bind_queue("x", "q", "", &none()).unwrap();
    assert_eq!(r.remove_exchange("x"), Some(vec!["up".to_string()]));
    assert!(!r.has_bindings("up"));
    assert!(r.queue_bindings("q").is_empty());
    assert_eq!(r.remove_exchange("x"), None);
    assert!(!r.delete_exchange("x"));
    // Re-declared under the same name it starts empty; old bindings do not come back.
    r.declare_exchange("x", ExchangeKind::Fanout, false);
    assert_eq!(route(&r, "x", "").0, RouteOutcome::Unroutable);
    assert_eq!(route(&r, "up", "").0, RouteOutcome::Unroutable);
}

#[test]
fn re_adding_a_queue_replaces_its_handle_and_keeps_bindings() {
    let r: Router<String> = Router::with_default_exchanges();
    r.add_queue("q", "old".into());
    r.bind_queue("amq.topic", "q", "a.*", &none()).unwrap();
    r.bind_queue("amq.direct", "q", "k", &arg("n", FieldValue::I8(1)))
        .unwrap();
    r.add_queue("q", "new".into());
    assert_eq!(r.queue("q").as_deref(), Some("new"));
    assert_eq!(route(&r, "amq.topic", "a.b").1, set(&["new"]));
    assert_eq!(route(&r, "amq.direct", "k").1, set(&["new"]));
    assert_eq!(route(&r, "", "q").1, set(&["new"]));
    assert_eq!(r.queue_bindings("q").len(), 2);
}

#[test]
fn output_vector_is_cleared_and_reused() {
    let r = router_with_queues(&["a", "b"]);
    r.bind_queue("amq.fanout", "a", "", &none()).unwrap();
    let mut out = vec!["stale".to_string(); 10];
    assert_eq!(
        r.route("amq.fanout", b"", None, &mut out),
        RouteOutcome::Routed(1)
    );
    assert_eq!(out, ["a"]);
    assert_eq!(
        r.route("amq.direct", b"x", None, &mut out),
        RouteOutcome::Unroutable
    );
    assert!(out.is_empty());
    assert_eq!(
        r.route("missing", b"x", None, &mut out),
        RouteOutcome::NoSuchExchange
    );
    assert!(out.is_empty());
}

#[test]
fn transaction_applies_all_changes_at_once() {
    let r = router_with_queues(&["a", "b"]);
    r.declare_exchange("x", ExchangeKind::Direct, false);
    let created = r.transaction(|tx| {
        tx.bind_queue("x", "a", "k", &none()).unwrap();
        tx.bind_queue("x", "b", "k", &none()).unwrap();
        tx.declare_exchange("y", ExchangeKind::Topic, false)
    });
    assert!(created);
    assert_eq!(route(&r, "x", "k").1, set(&["a", "b"]));
    assert_eq!(r.binding_count(), 2);
    // A transaction that panics publishes nothing.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        r.transaction(|tx| {
            tx.remove_queue("a");
            panic!("abandoned");
        })
    }));
    assert!(result.is_err());
    assert_eq!(route(&r, "x", "k").1, set(&["a", "b"]));
    // And the router still works afterwards.
    r.remove_queue("a");
    assert_eq!(route(&r, "x", "k").1, set(&["b"]));
}

#[test]
fn many_routers_on_one_thread() {
    // More routers than the per-thread cache holds, interleaved: each must see its own data.
    let routers: Vec<Router<String>> = (0..40)
        .map(|i| {
            let r = Router::with_default_exchanges();
            r.add_queue("q", format!("q{i}"));
            r.bind_queue("amq.fanout", "q", "", &none()).unwrap();
            r
        })
        .collect();
    for round in 0..3 {
        for (i, r) in routers.iter().enumerate() {
            assert_eq!(
                route(r, "amq.fanout", "").1,
                set(&[&format!("q{i}")]),
                "round {round}"
            );
        }
    }
    drop(routers);
    let r = router_with_queues(&["fresh"]);
    assert_eq!(route(&r, "", "fresh").1, set(&["fresh"]));
}

mod graphs {
    //! Random exchange graphs (direct and fanout exchanges, e2e bindings with cycles,
    //! alternate exchanges) against a naive breadth-first reference of RabbitMQ's walk.

    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, VecDeque};

    #[derive(Debug, Clone)]
    struct Graph {
        fanout: Vec<bool>,
        alternate: Vec<Option<usize>>,
        /// (source exchange, destination, key); destinations < 100 are exchanges, else queue d-100.
        bindings: Vec<(usize, usize, &'static str)>,
    }

    const X: usize = 5;
    const QUEUES: usize = 4;

    fn graph() -> impl Strategy<Value = Graph> {
        let keys: &[&'static str] = &["a", "b"];
        let dest = prop_oneof![0..X, (100..100 + QUEUES)];
        (
            proptest::collection::vec(any::<bool>(), X),
            proptest::collection::vec(proptest::option::weighted(0.3, 0..X), X),
            proptest::collection::vec((0..X, dest, proptest::sample::select(keys)), 0..14),
        )
            .prop_map(|(fanout, alternate, bindings)| Graph {
                fanout,
                alternate,
                bindings,
            })
    }

    fn reference(g: &Graph, start: usize, key: &str) -> BTreeSet<String> {
        let mut seen = [false; X];
        let mut queues = BTreeSet::new();
        let mut work = VecDeque::from([start]);
        seen[start] = true;
        while let Some(x) = work.pop_front() {
            let matching: BTreeMap<_, _> = g
                .bindings
                .iter()
                .filter(|(s, _, k)| *s == x && (g.fanout[x] || *k == key))
                .map(|(_, d, _)| (*d, ()))
                .collect();
            for d in matching.keys() {
                if *d >= 100 {
                    queues.insert(format!("q{}", d - 100));
                } else if !seen[*d] {
                    seen[*d] = true;
                    work.push_back(*d);
                }
            }
            if matching.is_empty() {
                if let Some(ae) = g.alternate[x] {
                    if !seen[ae] {
                        seen[ae] = true;
                        work.push_back(ae);
                    }
                }
            }
        }
        queues
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn routing_matches_reference_walk(g in graph()) {
            let r: Router<String> = Router::new();
            for q in 0..QUEUES {
                r.add_queue(&format!("q{q}"), format!("q{q}"));
            }
            for x in 0..X {
                let kind = if g.fanout[x] { ExchangeKind::Fanout } else { ExchangeKind::Direct };
                r.declare_exchange(&format!("x{x}"), kind, false);
            }
            for x in 0..X {
                if let Some(ae) = g.alternate[x] {
                    r.set_alternate_exchange(&format!("x{x}"), Some(&format!("x{ae}")));
                }
            }
            for (s, d, k) in &g.bindings {
                let src = format!("x{s}");
                if *d >= 100 {
                    r.bind_queue(&src, &format!("q{}", d - 100), k, &none()).unwrap();
                } else {
                    r.bind_exchange(&format!("x{d}"), &src, k, &none()).unwrap();
                }
            }
            for start in 0..X {
                for key in ["a", "b", "c"] {
                    let (outcome, got) = route(&r, &format!("x{start}"), key);
                    let want = reference(&g, start, key);
                    prop_assert_eq!(&got, &want, "start x{} key {}", start, key);
                    prop_assert_eq!(
                        outcome,
                        if want.is_empty() { RouteOutcome::Unroutable } else { RouteOutcome::Routed(want.len()) }
                    );
                }
            }
        }
    }
}
