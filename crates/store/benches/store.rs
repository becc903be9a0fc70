//! Criterion benches of the store: durable enqueue throughput of 100-byte messages with 1, 8
//! and 64 concurrent submitters (each submitter waits for its reply before the next message,
//! as a publisher awaiting confirms would; each uses its own queue). The writer's sync count
//! per configuration is printed to stderr, since criterion reports only time.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-store cargo bench -p warren-store --bench store`

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warren_store::{Command, Store, StoreOptions};

fn durable_enqueue(c: &mut Criterion) {
    let base = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tempfile::tempdir_in(base).unwrap();
    let (store, _) = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let store = Arc::new(store);
    let max_submitters = 64;
    store
        .submit_blocking(
            (1..=max_submitters)
                .map(|q| Command::DeclareQueue {
                    vhost: "/".into(),
                    name: format!("q{q}"),
                    queue: q,
                    def: Bytes::new(),
                })
                .collect(),
            true,
        )
        .unwrap();
    let next_seq: Arc<Vec<std::sync::atomic::AtomicU64>> =
        Arc::new((0..=max_submitters).map(|_| Default::default()).collect());
    let body = Bytes::from_static(&[0x42; 100]);

    let mut group = c.benchmark_group("durable_enqueue_100B");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.warm_up_time(Duration::from_secs(1));
    for submitters in [1u64, 8, 64] {
        group.throughput(Throughput::Elements(1));
        let (mut messages, mut syncs, mut elapsed) = (0u64, 0u64, Duration::ZERO);
        group.bench_function(BenchmarkId::from_parameter(submitters), |b| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(submitters);
                let before = store.stats();
                let started = Instant::now();
                std::thread::scope(|s| {
                    for q in 1..=submitters {
                        let (store, next_seq, body) = (&store, &next_seq, &body);
                        s.spawn(move || {
                            for _ in 0..per {
                                let seq = next_seq[q as usize]
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                store
                                    .submit(
                                        vec![Command::Enqueue {
                                            message: store.allocate_message_id(),
                                            body: body.clone(),
                                            targets: vec![(q, seq)],
                                        }],
                                        true,
                                    )
                                    .blocking_recv()
                                    .unwrap()
                                    .unwrap();
                            }
                        });
                    }
                });
                let took = started.elapsed();
                let after = store.stats();
                messages += per * submitters;
                syncs += after.syncs - before.syncs;
                elapsed += took;
                // Per-message time, as if the iters had been spread over the submitters.
                took.mul_f64(iters as f64 / (per * submitters) as f64)
            })
        });
        let secs = elapsed.as_secs_f64();
        eprintln!(
            "durable_enqueue_100B/{submitters}: {:.0} msg/s, {:.0} syncs/s, {:.1} msgs per sync",
            messages as f64 / secs,
            syncs as f64 / secs,
            messages as f64 / syncs.max(1) as f64
        );
        // Keep the queues from growing without bound between configurations.
        for q in 1..=submitters {
            store
                .submit_blocking(
                    vec![Command::Purge {
                        queue: q,
                        keep: vec![],
                    }],
                    false,
                )
                .unwrap();
        }
    }
    group.finish();
}

criterion_group!(benches, durable_enqueue);
criterion_main!(benches);
