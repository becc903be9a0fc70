//! Routing cost as CPU time of the routing thread rather than wall-clock time: on a shared,
//! loaded machine a thread is often descheduled, which inflates wall-clock figures (what
//! criterion reports) but not the CPU time a route consumes. Each scenario runs until it
//! has used two seconds of CPU.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-routing cargo bench -p warren-routing --bench cputime`

mod common;

use common::*;
use std::hint::black_box;
use std::io::Write;
use std::time::Instant;
use warren_routing::Router;

fn measure<Q: Clone + Eq + std::hash::Hash + Send + Sync + 'static>(
    label: &str,
    r: &Router<Q>,
    exchange: &str,
    keys: &[Vec<u8>],
) {
    let mut out = Vec::new();
    let (Some(cpu0), wall0) = (thread_cpu_ns(), Instant::now()) else {
        return;
    };
    let mut routes = 0u64;
    let mut cpu = cpu0;
    while cpu - cpu0 < 2_000_000_000 {
        for k in keys.iter().cycle().take(20_000) {
            black_box(r.route(exchange, k, None, &mut out));
        }
        routes += 20_000;
        cpu = thread_cpu_ns().unwrap_or(u64::MAX);
    }
    let wall = wall0.elapsed().as_nanos() as f64 / routes as f64;
    let per = (cpu - cpu0) as f64 / routes as f64;
    let _ = writeln!(
        std::io::stdout(),
        "{label:<28} {per:>8.1} ns/route CPU ({:>6.2} M routes/s per core)   wall {wall:>8.1} ns",
        1000.0 / per
    );
}

fn main() {
    let direct = build_direct(10_000);
    measure(
        "direct 10k queues",
        &direct,
        "amq.direct",
        &direct_keys(10_000),
    );
    measure(
        "direct 10k, one hot key",
        &direct,
        "amq.direct",
        &direct_keys(10_000)[..1],
    );
    measure("default exchange 10k", &direct, "", &direct_keys(10_000));
    // The same with a plain index as the handle: what routing itself costs, without the
    // reference-count traffic of cloning and dropping `Arc` handles.
    let indexed = build_direct_with(10_000, |i, _| i as u32);
    measure(
        "direct 10k, u32 handles",
        &indexed,
        "amq.direct",
        &direct_keys(10_000),
    );
    for n in [10, 100] {
        let f = build_fanout(n);
        measure(
            &format!("fanout {n} queues"),
            &f,
            "amq.fanout",
            &[b"k".to_vec()],
        );
    }
    for n in [1, 1_000, 100_000] {
        let t = build_topic(n, 1_000.min(n));
        measure(&format!("topic {n} bindings"), &t, "t", &topic_keys(n));
    }
}
