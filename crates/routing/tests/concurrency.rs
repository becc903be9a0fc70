//! Routing threads running while other threads change bindings: every route must see one
//! consistent version of the topology.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use warren_codec::FieldTable;
use warren_routing::{ExchangeKind, RouteOutcome, Router};

fn none() -> FieldTable {
    FieldTable::new()
}

/// A writer moves a group of bindings back and forth between two queues in transactions,
/// through an exchange-to-exchange hop. Readers must always see exactly one of the queues:
/// seeing both or neither would mean a half-applied transaction.
#[test]
fn transactions_are_atomic_for_concurrent_routes() {
    let r: Arc<Router<String>> = Arc::new(Router::with_default_exchanges());
    r.add_queue("left", "left".into());
    r.add_queue("right", "right".into());
    r.declare_exchange("hop", ExchangeKind::Topic, false);
    r.bind_exchange("hop", "amq.topic", "#", &none()).unwrap();
    let patterns = ["a.b", "a.*", "#.b", "a.#"];
    for p in patterns {
        r.bind_queue("hop", "left", p, &none()).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let routes = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(3));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (r, stop, routes, start) = (r.clone(), stop.clone(), routes.clone(), start.clone());
            thread::spawn(move || {
                let mut out = Vec::new();
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    let outcome = r.route("amq.topic", b"a.b", None, &mut out);
                    assert_eq!(outcome, RouteOutcome::Routed(1), "saw {out:?}");
                    assert!(out == ["left"] || out == ["right"], "saw {out:?}");
                    routes.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    start.wait();
    let moves = 2000;
    for i in 0..moves {
        let (from, to) = if i % 2 == 0 {
            ("left", "right")
        } else {
            ("right", "left")
        };
        r.transaction(|tx| {
            for p in patterns {
                assert_eq!(tx.unbind_queue("hop", from, p, &none()), Ok(true));
                assert_eq!(tx.bind_queue("hop", to, p, &none()), Ok(true));
            }
        });
    }
    stop.store(true, Ordering::Relaxed);
    for h in readers {
        h.join().unwrap();
    }
    assert!(routes.load(Ordering::Relaxed) > 0);
    let mut out = Vec::new();
    r.route("amq.topic", b"a.b", None, &mut out);
    assert_eq!(out, ["left"]);
}

/// Writers add and remove bindings one at a time (each a transaction) while readers route.
/// Readers check what must hold in every version: no duplicates, the count matches, and only
/// queues whose patterns can match are returned; a queue that is never unbound is always
/// returned. At the end the routing result is exactly what the final bindings give.
#[test]
fn concurrent_binding_churn() {
    let r: Arc<Router<usize>> = Arc::new(Router::with_default_exchanges());
    let queues = 64;
    for q in 0..queues {
        r.add_queue(&format!("q{q}"), q);
    }
    // Queue 0 is bound once and never touched.
    r.bind_queue("amq.topic", "q0", "stock.#", &none()).unwrap();
    // Patterns that match "stock.ibm.nyse" and ones that do not.
    let matching = ["stock.*.nyse", "stock.#", "#.nyse", "*.ibm.*", "#"];
    let non_matching = ["stock.*.lse", "bond.#", "*.msft.*", "stock.ibm"];
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(5));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (r, stop, start) = (r.clone(), stop.clone(), start.clone());
            thread::spawn(move || {
                let mut out = Vec::new();
                let mut n = 0u64;
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    let outcome = r.route("amq.topic", b"stock.ibm.nyse", None, &mut out);
                    let set: BTreeSet<usize> = out.iter().copied().collect();
                    assert_eq!(set.len(), out.len(), "duplicates: {out:?}");
                    assert_eq!(outcome, RouteOutcome::Routed(out.len()));
                    assert!(set.contains(&0));
                    // Odd queues only ever get non-matching patterns.
                    assert!(set.iter().all(|q| q % 2 == 0), "{set:?}");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (r, start) = (r.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut state: u64 = 0x9e37_79b9 + w;
                for _ in 0..3000 {
                    // xorshift: a cheap deterministic sequence per writer.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let q = 1 + (state as usize % (queues - 1));
                    let pats: &[&str] = if q.is_multiple_of(2) {
                        &matching
                    } else {
                        &non_matching
                    };
                    let p = pats[(state >> 20) as usize % pats.len()];
                    let name = format!("q{q}");
                    if (state >> 40).is_multiple_of(3) {
                        r.unbind_queue("amq.topic", &name, p, &none()).unwrap();
                    } else {
                        r.bind_queue("amq.topic", &name, p, &none()).unwrap();
                    }
                }
            })
        })
        .collect();
    start.wait();
    for h in writers {
        h.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let total: u64 = readers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(total > 0);
    // Final state: exactly the even queues that still have a binding.
    let want: BTreeSet<usize> = (0..queues)
        .filter(|q| q % 2 == 0 && !r.queue_bindings(&format!("q{q}")).is_empty())
        .collect();
    let mut out = Vec::new();
    r.route("amq.topic", b"stock.ibm.nyse", None, &mut out);
    assert_eq!(out.iter().copied().collect::<BTreeSet<_>>(), want);
    assert!(want.len() > 1);
}

/// Queues and exchanges deleted and re-created under routing load (ids are reused), and
/// readers routing through e2e while the middle exchange comes and goes.
#[test]
fn deletes_and_redeclares_under_load() {
    let r: Arc<Router<String>> = Arc::new(Router::with_default_exchanges());
    r.add_queue("stable", "stable".into());
    r.bind_queue("amq.fanout", "stable", "", &none()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (r, stop) = (r.clone(), stop.clone());
        thread::spawn(move || {
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                r.route("amq.fanout", b"", None, &mut out);
                let set: BTreeSet<&String> = out.iter().collect();
                assert_eq!(set.len(), out.len());
                assert!(out.contains(&"stable".to_string()));
                // The transient queue only ever appears together with its exchange hop.
                for q in &out {
                    assert!(q == "stable" || q == "transient", "{q}");
                }
            }
        })
    };
    for _ in 0..1000 {
        r.transaction(|tx| {
            tx.add_queue("transient", "transient".into());
            tx.declare_exchange("mid", ExchangeKind::Fanout, false);
            tx.bind_exchange("mid", "amq.fanout", "", &none()).unwrap();
            tx.bind_queue("mid", "transient", "", &none()).unwrap();
        });
        assert_eq!(r.remove_queue("transient"), vec!["mid".to_string()]);
        assert_eq!(r.remove_exchange("mid"), Some(vec![]));
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert_eq!(r.exchange_bindings("amq.fanout").len(), 1);
}
