//! The queue's publish path with and without the retries-and-limits features, and expiring a
//! large TTL backlog.
//!
//! - `queue_publish/{plain,ttl,max_length}`: publishing one 16-byte message into a queue and
//!   taking it off again with basic.get (no consumer, no network), for a queue without
//!   arguments, with `x-message-ttl`, and with `x-max-length`: what TTL and length limits cost
//!   per message when used, and (plain) that the rest of the queue does not pay for them.
//! - `expire_backlog/1M`: a queue holding 1,000,000 messages whose 1 s TTL has run out; one
//!   basic.get takes them all off the head and finds the queue empty (the setup waits out the
//!   TTL, so a sample takes over a second). Expiry looks only at the
//!   head, so the cost is per expired message, never a scan of what is still live.
//!
//! Run: `cargo bench -p warren-server --bench queue -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use warren_codec::{FieldTable, FieldValue, ShortStr};
use warren_server::testing::{Message, Route};
use warren_server::testing::{Queue, QueueOptions};

fn queue_with(args: &[(&'static str, i64)]) -> Arc<Queue> {
    let mut arguments = FieldTable::new();
    for (k, v) in args {
        arguments.push(ShortStr::from_static(k), FieldValue::I64(*v));
    }
    Queue::new(
        "bench",
        "/".into(),
        QueueOptions {
            durable: false,
            exclusive_owner: None,
            auto_delete: false,
            arguments,
        },
    )
}

fn message() -> Message {
    Message::new(
        Route::new(b"", b"bench"),
        &[0, 0],
        b"0123456789abcdef",
        false,
    )
}

fn publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_publish");
    for (name, args) in [
        ("plain", &[][..]),
        ("ttl", &[("x-message-ttl", 60_000)][..]),
        ("max_length", &[("x-max-length", 1_000_000)][..]),
    ] {
        let q = queue_with(args);
        let m = message();
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(q.publish(m.clone()));
                black_box(q.get(true));
            })
        });
    }
    group.finish();
}

fn expire(c: &mut Criterion) {
    let mut group = c.benchmark_group("expire_backlog");
    group.sample_size(10);
    let m = message();
    group.bench_function("1M", |b| {
        b.iter_batched(
            || {
                // Long enough that none expires while the backlog is built (each publish also
                // takes expired messages off the head), short enough to wait out.
                let q = queue_with(&[("x-message-ttl", 1_000)]);
                for _ in 0..1_000_000 {
                    q.publish(m.clone());
                }
                std::thread::sleep(Duration::from_millis(1_050));
                q
            },
            |q| {
                assert!(q.get(true).is_none(), "every message expired");
                q
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, publish, expire);
criterion_main!(benches);
