//! Measures recovery: fills a store with N persistent messages (default 1,000,000 of 100
//! bytes over 10 queues), then reopens it twice: after a crash (drop without flush, so the
//! newest data is replayed from the WAL) and after a clean close. Prints the figures.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-store cargo run --release -p warren-store --example recovery [-- N [DIR]]`
#![allow(clippy::print_stdout)]

use bytes::Bytes;
use std::time::Instant;
use warren_store::{Command, Store, StoreOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map_or(1_000_000, |a| a.parse().expect("message count"));
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join(format!("warren-recovery-{}", std::process::id())),
        std::path::PathBuf::from,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let queues = 10u64;
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    store
        .submit_blocking(
            (0..queues)
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
    let body = Bytes::from_static(&[0x42; 100]);
    let started = Instant::now();
    let batch = 1000;
    let mut replies = Vec::new();
    for chunk in 0..n.div_ceil(batch) {
        let cmds = (chunk * batch..((chunk + 1) * batch).min(n))
            .map(|i| Command::Enqueue {
                message: store.allocate_message_id(),
                body: body.clone(),
                targets: vec![(i % queues, i / queues)],
            })
            .collect();
        replies.push(store.submit(cmds, true));
        if replies.len() > 64 {
            replies.remove(0).blocking_recv().unwrap().unwrap();
        }
    }
    for r in replies {
        r.blocking_recv().unwrap().unwrap();
    }
    println!(
        "filled {n} x 100 B in {:.2} s ({:.0} msg/s, batches of {batch})",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64()
    );
    drop(store); // a crash: memtables not flushed

    for label in ["after crash (WAL replay)", "after clean close"] {
        let t = Instant::now();
        let (store, rec) = Store::open(&dir, StoreOptions::default()).unwrap();
        let open = t.elapsed();
        let t = Instant::now();
        let page = store.read_queue(0, None, 256).unwrap();
        let first_page = t.elapsed();
        println!(
            "recovery {label}: open {:.3} s total (index scan {:.3} s), {} messages in {} \
             queues, first page of {} in {:.1} ms",
            open.as_secs_f64(),
            rec.scan_elapsed.as_secs_f64(),
            rec.messages,
            rec.queues.len(),
            page.len(),
            first_page.as_secs_f64() * 1e3
        );
        assert_eq!(rec.messages, n);
        store.close().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
