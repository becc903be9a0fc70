//! Workload generators shared by the routing benches: realistic topic patterns and keys.

#![allow(dead_code)]

use std::sync::Arc;
use warren_codec::FieldTable;
use warren_routing::{ExchangeKind, Router};

/// What a server would store: a cheap-to-clone handle.
pub type Handle = Arc<String>;

pub const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];

/// The `i`-th generated pattern: a mix of exact keys, `*` and `#` in leading, middle and
/// trailing positions, over a vocabulary that grows with `i`.
pub fn topic_pattern(i: usize) -> String {
    match i % 8 {
        0 => format!("stock.sym{i}.nyse"),
        1 => format!("stock.*.x{i}"),
        2 => format!("audit.svc{i}.#"),
        3 => format!("svc{i}.critical"),
        4 => format!("logs.svc{i}.{}", LEVELS[i % 4]),
        5 => format!("*.svc{i}.error"),
        6 => format!("region{i}.#.alert"),
        _ => format!("#.tenant{i}"),
    }
}

/// The `j`-th routing key; over `0..n` about half of them hit a generated pattern besides
/// the three common ones.
pub fn topic_key(j: usize, n: usize) -> String {
    let i = (j * 7919) % n.max(1);
    match j % 7 {
        0 => format!("stock.sym{i}.nyse"),
        1 => format!("audit.svc{i}.login"),
        2 => format!("svc{i}.critical"),
        3 => format!("logs.svc{i}.{}", LEVELS[i % 4]),
        4 => format!("eu.svc{i}.error"),
        5 => format!("region{i}.dc1.alert"),
        _ => format!("orders.eu.tenant{i}"),
    }
}

/// The common patterns every workload has.
pub const BASE_PATTERNS: [&str; 3] = ["stock.*.nyse", "audit.#", "*.critical"];

/// A router with a topic exchange `t` holding `n` bindings (the three base patterns and
/// generated ones) to `queues` queues, all added in one transaction.
pub fn build_topic(n: usize, queues: usize) -> Router<Handle> {
    let r = Router::with_default_exchanges();
    r.transaction(|tx| {
        tx.declare_exchange("t", ExchangeKind::Topic, false);
        for q in 0..queues {
            let name = format!("q{q}");
            tx.add_queue(&name, Arc::new(name.clone()));
        }
        let args = FieldTable::new();
        for (i, p) in BASE_PATTERNS.iter().take(n).enumerate() {
            tx.bind_queue("t", &format!("q{}", i % queues), p, &args)
                .unwrap();
        }
        for i in BASE_PATTERNS.len()..n {
            tx.bind_queue("t", &format!("q{}", i % queues), &topic_pattern(i), &args)
                .unwrap();
        }
    });
    r
}

/// Reads the resident set size from /proc (bytes).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `n` queues `queue.{i}`, each bound to `amq.direct` with its own name as key.
pub fn build_direct(n: usize) -> Router<Handle> {
    build_direct_with(n, |_, name| Arc::new(name.to_string()))
}

/// [`build_direct`] with another handle type (e.g. a slab index).
pub fn build_direct_with<Q: Clone + Eq + std::hash::Hash + Send + Sync + 'static>(
    n: usize,
    handle: impl Fn(usize, &str) -> Q,
) -> Router<Q> {
    let r = Router::with_default_exchanges();
    r.transaction(|tx| {
        for q in 0..n {
            let name = format!("queue.{q}");
            tx.add_queue(&name, handle(q, &name));
            tx.bind_queue("amq.direct", &name, &name, &FieldTable::new())
                .unwrap();
        }
    });
    r
}

/// `n` queues bound to `amq.fanout`.
pub fn build_fanout(n: usize) -> Router<Handle> {
    let r = Router::with_default_exchanges();
    for q in 0..n {
        let name = format!("q{q}");
        r.add_queue(&name, Arc::new(name.clone()));
        r.bind_queue("amq.fanout", &name, "", &FieldTable::new())
            .unwrap();
    }
    r
}

/// Keys for [`build_direct`], in a scattered order.
pub fn direct_keys(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|q| format!("queue.{}", (q * 7919) % n).into_bytes())
        .collect()
}

/// Keys for [`build_topic`]: two for the single-binding case, otherwise 1024 generated.
pub fn topic_keys(n: usize) -> Vec<Vec<u8>> {
    if n == 1 {
        vec![b"stock.ibm.nyse".to_vec(), b"stock.ibm.lse".to_vec()]
    } else {
        (0..1024).map(|j| topic_key(j, n).into_bytes()).collect()
    }
}

/// CPU time (user + system) consumed by the calling thread, from /proc, in nanoseconds.
/// Clock-tick resolution (10 ms), so measure over seconds.
pub fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}
