//! Criterion benches: routing throughput per exchange kind and size, and binding add/remove
//! cost at 100k topic bindings.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-routing cargo bench -p warren-routing --bench routing
//! -- --warm-up-time 1 --measurement-time 3`

mod common;

use common::{build_topic, topic_key, topic_pattern, Handle, BASE_PATTERNS};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use warren_codec::{FieldTable, FieldValue, ShortStr};
use warren_routing::{ExchangeKind, RouteOutcome, Router};

/// Walks the keys round and round. A compare-and-reset instead of `i % len`: the division
/// cost ~20 cycles per iteration, a quarter of a direct route, and is not routing work.
struct Keys<'a> {
    keys: &'a [Vec<u8>],
    next: usize,
}

impl<'a> Keys<'a> {
    fn new(keys: &'a [Vec<u8>]) -> Self {
        Keys { keys, next: 0 }
    }

    #[inline]
    fn next_key(&mut self) -> &'a [u8] {
        if self.next == self.keys.len() {
            self.next = 0;
        }
        let k = &self.keys[self.next];
        self.next += 1;
        k
    }
}

fn bench_direct(c: &mut Criterion) {
    let mut g = c.benchmark_group("direct");
    g.throughput(Throughput::Elements(1));
    let r: Router<Handle> = Router::with_default_exchanges();
    let n = 10_000;
    r.transaction(|tx| {
        for q in 0..n {
            let name = format!("queue.{q}");
            tx.add_queue(&name, Arc::new(name.clone()));
            tx.bind_queue("amq.direct", &name, &name, &FieldTable::new())
                .unwrap();
        }
    });
    let keys: Vec<Vec<u8>> = (0..n)
        .map(|q| format!("queue.{}", (q * 7919) % n).into_bytes())
        .collect();
    let mut out = Vec::new();
    let mut cycle = Keys::new(&keys);
    g.bench_function("10k_queues", |b| {
        b.iter(|| black_box(r.route("amq.direct", cycle.next_key(), None, &mut out)))
    });
    // The default exchange over the same 10k queues.
    g.bench_function("default_exchange_10k_queues", |b| {
        b.iter(|| black_box(r.route("", cycle.next_key(), None, &mut out)))
    });
    g.finish();
}

fn bench_fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout");
    g.throughput(Throughput::Elements(1));
    for n in [10usize, 100] {
        let r: Router<Handle> = Router::with_default_exchanges();
        for q in 0..n {
            let name = format!("q{q}");
            r.add_queue(&name, Arc::new(name.clone()));
            r.bind_queue("amq.fanout", &name, "", &FieldTable::new())
                .unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(
            r.route("amq.fanout", b"", None, &mut out),
            RouteOutcome::Routed(n)
        );
        g.bench_function(format!("{n}_queues"), |b| {
            b.iter(|| black_box(r.route("amq.fanout", b"k", None, &mut out)))
        });
    }
    g.finish();
}

fn bench_topic(c: &mut Criterion) {
    let mut g = c.benchmark_group("topic");
    g.throughput(Throughput::Elements(1));
    for n in [1usize, 1_000, 100_000] {
        let r = build_topic(n, 1_000.min(n));
        let keys: Vec<Vec<u8>> = if n == 1 {
            vec![b"stock.ibm.nyse".to_vec(), b"stock.ibm.lse".to_vec()]
        } else {
            (0..1024).map(|j| topic_key(j, n).into_bytes()).collect()
        };
        let mut out = Vec::new();
        let reached: usize = keys
            .iter()
            .map(|k| {
                r.route("t", k, None, &mut out);
                out.len()
            })
            .sum();
        eprintln!(
            "topic {n} bindings: {:.2} queues reached per message on average",
            reached as f64 / keys.len() as f64
        );
        let mut cycle = Keys::new(&keys);
        g.bench_function(format!("{n}_bindings"), |b| {
            b.iter(|| black_box(r.route("t", cycle.next_key(), None, &mut out)))
        });
    }
    g.finish();
}

fn bench_headers_and_e2e(c: &mut Criterion) {
    let mut g = c.benchmark_group("other");
    g.throughput(Throughput::Elements(1));
    let r: Router<Handle> = Router::with_default_exchanges();
    for q in 0..100 {
        let name = format!("q{q}");
        r.add_queue(&name, Arc::new(name.clone()));
        let mut args = FieldTable::new();
        args.push(
            ShortStr::from_static("x-match"),
            FieldValue::LongStr(if q % 2 == 0 { "all" } else { "any" }.into()),
        );
        args.push(
            ShortStr::from_static("region"),
            FieldValue::LongStr(format!("r{}", q % 10).into()),
        );
        args.push(
            ShortStr::from_static("kind"),
            FieldValue::LongStr(format!("k{}", q % 7).into()),
        );
        r.bind_queue("amq.headers", &name, "", &args).unwrap();
    }
    let mut headers = FieldTable::new();
    headers.push(
        ShortStr::from_static("kind"),
        FieldValue::LongStr("k3".into()),
    );
    headers.push(
        ShortStr::from_static("region"),
        FieldValue::LongStr("r3".into()),
    );
    headers.push(ShortStr::from_static("x-trace"), FieldValue::I32(1));
    let mut out = Vec::new();
    g.bench_function("headers_100_bindings", |b| {
        b.iter(|| black_box(r.route("amq.headers", b"", Some(&headers), &mut out)))
    });

    // amq.topic → x1 (topic) → x2 (direct) → queue, plus a back edge x2 → amq.topic.
    r.declare_exchange("x1", ExchangeKind::Topic, false);
    r.declare_exchange("x2", ExchangeKind::Direct, false);
    r.bind_exchange("x1", "amq.topic", "orders.#", &FieldTable::new())
        .unwrap();
    r.bind_exchange("x2", "x1", "orders.eu", &FieldTable::new())
        .unwrap();
    r.bind_exchange("amq.topic", "x2", "orders.eu", &FieldTable::new())
        .unwrap();
    r.bind_queue("x2", "q0", "orders.eu", &FieldTable::new())
        .unwrap();
    r.bind_queue("x1", "q1", "#", &FieldTable::new()).unwrap();
    g.bench_function("e2e_3_exchanges_with_cycle", |b| {
        b.iter(|| black_box(r.route("amq.topic", b"orders.eu", None, &mut out)))
    });
    g.finish();
}

fn bench_binding_changes(c: &mut Criterion) {
    let mut g = c.benchmark_group("bindings_at_100k");
    let r = build_topic(100_000, 1_000);
    assert_eq!(r.binding_count(), 100_000);
    let args = FieldTable::new();
    let mut i = 100_000usize;
    // Each iteration adds one new binding and removes it again, so the table stays at
    // 100k; the two operations are timed separately.
    g.bench_function("add", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let (q, p) = (format!("q{}", i % 1_000), topic_pattern(i));
                i += 1;
                let t = Instant::now();
                black_box(r.bind_queue("t", &q, &p, &args).unwrap());
                spent += t.elapsed();
                r.unbind_queue("t", &q, &p, &args).unwrap();
            }
            spent
        })
    });
    g.bench_function("remove", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let (q, p) = (format!("q{}", i % 1_000), topic_pattern(i));
                i += 1;
                r.bind_queue("t", &q, &p, &args).unwrap();
                let t = Instant::now();
                black_box(r.unbind_queue("t", &q, &p, &args).unwrap());
                spent += t.elapsed();
            }
            spent
        })
    });
    // Removing one of the base patterns shared by many messages, and putting it back.
    g.bench_function("remove_and_readd_audit_hash", |b| {
        b.iter(|| {
            r.unbind_queue("t", "q1", BASE_PATTERNS[1], &args).unwrap();
            r.bind_queue("t", "q1", BASE_PATTERNS[1], &args).unwrap()
        })
    });
    assert_eq!(r.binding_count(), 100_000);
    g.finish();
}

criterion_group!(
    benches,
    bench_direct,
    bench_fanout,
    bench_topic,
    bench_headers_and_e2e,
    bench_binding_changes
);
criterion_main!(benches);
