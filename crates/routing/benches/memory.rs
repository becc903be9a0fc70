//! Memory per binding, measured as the growth of the process's resident set size (from
//! /proc/self/status) while bindings are added. A counting global allocator would need
//! `unsafe impl GlobalAlloc`, which the workspace forbids; RSS includes allocator overhead
//! and fragmentation, i.e. what the bindings really cost the process.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-routing cargo bench -p warren-routing --bench memory`

mod common;

use common::{build_topic, rss_bytes, topic_pattern};
use std::io::Write;
use std::sync::Arc;
use warren_codec::FieldTable;
use warren_routing::{ExchangeKind, Router};

fn report(label: &str, bindings: usize, before: u64, after: u64) {
    let grown = after.saturating_sub(before);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{label}: {bindings} bindings, RSS +{:.1} MiB, {:.0} bytes per binding",
        grown as f64 / (1024.0 * 1024.0),
        grown as f64 / bindings as f64
    );
}

fn main() {
    let n = 100_000;
    let queues = 1_000;
    let Some(start) = rss_bytes() else {
        let _ = writeln!(std::io::stderr(), "no /proc/self/status: cannot measure");
        return;
    };

    // 1. All bindings in one transaction (nodes are updated in place: no garbage). The
    //    1000 queue records are included (a few hundred KiB).
    let bulk = build_topic(n, queues);
    let after_bulk = rss_bytes().unwrap_or(start);
    assert_eq!(bulk.binding_count(), n);
    report("topic, one transaction", n, start, after_bulk);

    // 2. One binding per transaction, as clients do it: each publishes a version; the
    //    superseded nodes are freed and their memory reused by the allocator.
    let r: Router<common::Handle> = Router::with_default_exchanges();
    r.declare_exchange("t", ExchangeKind::Topic, false);
    for q in 0..queues {
        let name = format!("q{q}");
        r.add_queue(&name, Arc::new(name.clone()));
    }
    let before = rss_bytes().unwrap_or(start);
    let args = FieldTable::new();
    for i in 0..n {
        r.bind_queue("t", &format!("q{}", i % queues), &topic_pattern(i), &args)
            .unwrap();
    }
    let after = rss_bytes().unwrap_or(start);
    report("topic, one binding per transaction", n, before, after);

    // 3. Direct exchange for comparison.
    let d: Router<common::Handle> = Router::with_default_exchanges();
    for q in 0..queues {
        let name = format!("q{q}");
        d.add_queue(&name, Arc::new(name.clone()));
    }
    let before = rss_bytes().unwrap_or(start);
    d.transaction(|tx| {
        for i in 0..n {
            tx.bind_queue(
                "amq.direct",
                &format!("q{}", i % queues),
                &format!("key.{i}"),
                &args,
            )
            .unwrap();
        }
    });
    let after = rss_bytes().unwrap_or(start);
    report("direct, one transaction", n, before, after);
    drop((bulk, r, d));
}
