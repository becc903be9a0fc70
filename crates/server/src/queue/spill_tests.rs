//! Spilling against a real store in a temp dir, with memory pressure forced: transient
//! bodies leave memory only once written, come back in order before delivery, and leave
//! the transient area as they are read back, purged, dropped or deleted.

use super::{Queue, QueueOptions, Spill};
use crate::alarms::MemoryPressure;
use crate::message::{Message, Route};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warren_codec::{FieldTable, FieldValue, ShortStr};
use warren_store::{Store, StoreOptions};

struct Setup {
    store: Arc<Store>,
    pressure: MemoryPressure,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), StoreOptions::default()).unwrap();
    Setup {
        store: Arc::new(store),
        pressure: MemoryPressure::default(),
        _dir: dir,
    }
}

impl Setup {
    fn queue(&self, arguments: FieldTable) -> Arc<Queue> {
        let options = QueueOptions {
            durable: false,
            exclusive_owner: None,
            auto_delete: false,
            arguments,
        };
        let spill = Spill::new(&self.store, self.pressure.clone());
        Queue::with_store(
            "spill",
            "/".into(),
            options,
            (None, Some(spill)),
            std::sync::Weak::<super::NoSink>::new(),
            crate::tasks::Tasks::default(),
        )
    }

    fn settle(&self) {
        wait_for_transient_writes(&self.store);
    }

    fn area_len(&self) -> usize {
        self.store.debug_transient_len().unwrap()
    }
}

fn message(i: u32) -> Message {
    let body = format!("{i:08}").repeat(128); // 1 KiB
    Message::new(Route::new(b"", b"spill"), &[0, 0], body.as_bytes(), false)
}

fn id_of(m: &Message) -> u32 {
    std::str::from_utf8(&m.body()[..8])
        .unwrap()
        .parse()
        .unwrap()
}

/// Publishes `n` messages from `from` on; waits until the queue has paged all it can.
fn publish(s: &Setup, q: &Arc<Queue>, from: u32, n: u32) {
    for i in from..from + n {
        assert!(q.publish(message(i)));
    }
    wait_until(|| q.memory_counts().1 <= 256 + 1 || !s.pressure.is_on());
    s.settle();
}

fn wait_until(mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn under_pressure_transient_bodies_leave_memory_and_come_back_in_order() {
    let s = setup();
    let q = s.queue(FieldTable::new());
    publish(&s, &q, 0, 1000);
    assert_eq!(q.memory_counts(), (1000, 1000), "no pressure, no paging");
    assert_eq!(s.area_len(), 0);

    s.pressure.set(true);
    publish(&s, &q, 1000, 4000);
    let (ready, in_memory) = q.memory_counts();
    assert_eq!(ready, 5000);
    assert!(in_memory <= 257, "{in_memory} bodies in memory");
    assert_eq!(s.area_len(), 5000 - in_memory);
    let mem = q.memory_stats();
    assert_eq!(mem.paged_out as usize, 5000 - in_memory);
    assert_eq!(mem.bytes_paged_out, mem.paged_out * 1024);
    assert_eq!(mem.ready_bytes, 5000 * 1024);
    {
        // The entries of paged-out messages left memory too, as one cold run.
        let st = q.lock();
        let cold = st.cold.expect("a cold run");
        assert!(
            st.ready.len() < 256 + 256,
            "{} entries in memory",
            st.ready.len()
        );
        assert_eq!(st.ready.len() + cold.count, 5000);
        assert_eq!(cold.bytes, cold.count as u64 * 1024);
    }

    // Pressure gone: nothing is read back early; delivery reads pages back near the head.
    s.pressure.set(false);
    let mut requeued = Vec::new();
    for i in 0..5000 {
        let (seq, m, redelivered, _) = q.get(false).expect("a message");
        assert_eq!((id_of(&m), redelivered), (i, false));
        if i % 1000 == 999 {
            requeued.push(seq);
        } else {
            q.ack(&[seq]);
        }
        if i == 2500 {
            s.settle();
            assert!(s.area_len() < 2500, "read back pages leave the area");
        }
    }
    q.requeue(&requeued);
    for i in [999, 1999, 2999, 3999, 4999] {
        let (seq, m, redelivered, _) = q.get(false).unwrap();
        assert_eq!((id_of(&m), redelivered), (i, true));
        q.ack(&[seq]);
    }
    assert!(q.get(true).is_none());
    s.settle();
    assert_eq!(s.area_len(), 0, "everything read back was removed");
    assert_eq!(q.memory_stats(), Default::default());
}

#[test]
fn purge_delete_drop_head_and_expiry_remove_spilled_bodies() {
    let s = setup();
    s.pressure.set(true);
    let q = s.queue(FieldTable::new());
    publish(&s, &q, 0, 2000);
    assert!(s.area_len() > 1500);
    assert_eq!(q.purge(), 2000);
    s.settle();
    assert_eq!(s.area_len(), 0, "purge");

    let q = s.queue(FieldTable::new());
    publish(&s, &q, 0, 2000);
    assert!(s.area_len() > 1500);
    q.delete(false, false).unwrap();
    s.settle();
    assert_eq!(s.area_len(), 0, "queue deletion");

    // x-max-length drops spilled entries from the head (those of the cold run are read back
    // as the head reaches it, which removes them from the area).
    let mut args = FieldTable::new();
    args.push(ShortStr::from_static("x-max-length"), FieldValue::I64(1500));
    let q = s.queue(args);
    publish(&s, &q, 0, 3000);
    assert_eq!(q.counts().0, 1500);
    s.settle();
    let (_, in_memory) = q.memory_counts();
    assert_eq!(
        s.area_len(),
        1500 - in_memory,
        "dropped heads left the area"
    );
    let (_, first, _, _) = q.get(true).unwrap();
    assert_eq!(id_of(&first), 1500);
    q.purge();

    // A TTL expires spilled entries at the head; with no dead-letter exchange they are not
    // read back, just removed.
    let mut args = FieldTable::new();
    args.push(ShortStr::from_static("x-message-ttl"), FieldValue::I64(50));
    let q = s.queue(args);
    publish(&s, &q, 0, 2000);
    std::thread::sleep(Duration::from_millis(100));
    assert!(q.get(true).is_none(), "all expired");
    s.settle();
    assert_eq!(s.area_len(), 0, "expired entries left the area");
}

#[test]
fn a_consumer_gets_everything_once_in_order_while_the_queue_spills() {
    let s = setup();
    s.pressure.set(true);
    let q = s.queue(FieldTable::new());
    // Publishing and taking turns: spill writes complete while gets read pages back.
    let mut next = 0;
    for round in 0..20u32 {
        for i in 0..500 {
            assert!(q.publish(message(round * 500 + i)));
        }
        for _ in 0..300 {
            let (_, m, _, _) = q.get(true).unwrap();
            assert_eq!(id_of(&m), next);
            next += 1;
        }
    }
    s.pressure.set(false);
    while let Some((_, m, _, _)) = q.get(true) {
        assert_eq!(id_of(&m), next);
        next += 1;
    }
    assert_eq!(next, 10_000);
    s.settle();
    assert_eq!(s.area_len(), 0);
}

#[test]
fn publishers_wait_while_more_than_the_backlog_limit_waits_for_a_spill_write() {
    let flow = crate::flow::Flow::new();
    let mut s = setup();
    s.pressure = MemoryPressure::with_flow(flow.clone());
    let q = s.queue(FieldTable::new());
    let body = vec![7u8; 64 << 10];
    let publish_mib = |mib: usize| {
        for _ in 0..mib * 16 {
            let m = Message::new(Route::new(b"", b"spill"), &[0, 0], &body, false);
            assert!(q.publish(m));
        }
    };
    let paged_out = || {
        wait_until(|| q.memory_counts().1 <= 256);
        s.settle();
    };
    // The head window (256 × 64 KiB) plus 32 MiB, in memory before the pressure: the first
    // write takes 16 MiB of it and leaves 16 MiB waiting, within the limit.
    publish_mib(16 + 32);
    s.pressure.set(true);
    q.relieve_memory();
    paged_out();
    assert_eq!(s.pressure.queues_behind(), (0, 0));

    // 64 MiB more (80 in memory with the window): the first write leaves 64 MiB waiting and
    // the second 48, so publishers wait for each; the third leaves 32, within the limit.
    s.pressure.set(false);
    publish_mib(64);
    s.pressure.set(true);
    q.relieve_memory();
    paged_out();
    assert_eq!(
        s.pressure.queues_behind(),
        (0, 2),
        "held for two writes, and let go"
    );
    assert!(!flow.is_set(crate::flow::Reasons::PAGING_BACKLOG));
    assert_eq!(q.memory_counts().0, (16 + 32 + 64) * 16);
}

/// Waits until every transient write sent so far, and what its completion sent, is done (the
/// writer runs in order: a write sent now completes after them; twice for the completions'
/// own writes). Shared with the model test.
pub(super) fn wait_for_transient_writes(store: &Store) {
    for _ in 0..2 {
        let (tx, rx) = std::sync::mpsc::channel();
        store.transient_put(
            u64::MAX,
            Box::new(Vec::new),
            Box::new(move |_| tx.send(()).unwrap()),
        );
        rx.recv().unwrap();
    }
}
