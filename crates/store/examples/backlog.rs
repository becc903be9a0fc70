//! The backlog check for the store alone: queues 1 GiB of persistent 1 KiB messages with no
//! consumer, reports the process RSS, then drains the queue the way the server will (pages
//! read ahead with `read_queue`, acks submitted detached) and reports the drain rate and RSS.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-store cargo run --release -p warren-store --example backlog [-- MiB [DIR]]`
#![allow(clippy::print_stdout)]

use bytes::Bytes;
use std::time::Instant;
use warren_store::{Command, Store, StoreOptions};

fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .map(|l| l[k.len()..].trim().to_owned())
            .unwrap_or_default()
    };
    format!("RSS {} (peak {})", get("VmRSS:"), get("VmHWM:"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().map_or(1024, |a| a.parse().expect("MiB"));
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join(format!("warren-backlog-{}", std::process::id())),
        std::path::PathBuf::from,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let n = mib * 1024;
    let (store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
    store
        .submit_blocking(
            vec![Command::DeclareQueue {
                vhost: "/".into(),
                name: "backlog".into(),
                queue: 1,
                def: Bytes::new(),
            }],
            true,
        )
        .unwrap();
    let started = Instant::now();
    let mut replies = std::collections::VecDeque::new();
    let batch = 64u64;
    for chunk in 0..n / batch {
        let cmds = (chunk * batch..(chunk + 1) * batch)
            .map(|seq| {
                let mut body = vec![0u8; 1024];
                body[..8].copy_from_slice(&seq.to_be_bytes());
                for (i, b) in body.iter_mut().enumerate().skip(8) {
                    *b = (seq as usize).wrapping_mul(31).wrapping_add(i * 7) as u8;
                }
                Command::Enqueue {
                    message: store.allocate_message_id(),
                    body: Bytes::from(body),
                    targets: vec![(1, seq)],
                }
            })
            .collect();
        replies.push_back(store.submit(cmds, true));
        if replies.len() > 32 {
            replies
                .pop_front()
                .unwrap()
                .blocking_recv()
                .unwrap()
                .unwrap();
        }
    }
    for r in replies {
        r.blocking_recv().unwrap().unwrap();
    }
    let fill = started.elapsed().as_secs_f64();
    println!(
        "queued {n} x 1 KiB ({mib} MiB) in {fill:.1} s ({:.0} msg/s); {}",
        n as f64 / fill,
        rss()
    );

    let started = Instant::now();
    let mut after = None;
    let mut drained = 0u64;
    loop {
        let page = store.read_queue(1, after, 512).unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.seq);
        for e in &page {
            assert_eq!(&e.message[..8], &e.seq.to_be_bytes());
        }
        drained += page.len() as u64;
        store.submit_detached(vec![Command::Ack {
            queue: 1,
            seqs: page.iter().map(|e| e.seq).collect(),
        }]);
    }
    store.submit_blocking(vec![], false).unwrap();
    let drain = started.elapsed().as_secs_f64();
    assert_eq!(drained, n);
    println!(
        "drained {drained} in {drain:.1} s ({:.0} msg/s, {:.0} MiB/s); {}",
        drained as f64 / drain,
        mib as f64 / drain,
        rss()
    );
    store.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
