//! Deleted queues leave the disk a chunk at a time (`reap.rs`): what they held goes, what
//! other queues share stays, and entries a stop left behind are removed after the next open.

use super::*;
use crate::keys::{self, DefKind};
use crate::reap::REAP_CHUNK;
use std::time::{Duration, Instant};

/// More than two chunks, so the queue takes several batches to go.
const MESSAGES: u64 = REAP_CHUNK as u64 * 2 + 100;

/// Queue 1 ("a") gets `MESSAGES` messages in one request; every tenth goes to queue 2 ("b")
/// too. Returns those shared ones.
fn fill(store: &Store) -> BTreeSet<MessageId> {
    declare_queue(store, 1, "a");
    declare_queue(store, 2, "b");
    let mut shared = BTreeSet::new();
    let cmds = (0..MESSAGES)
        .map(|seq| {
            let message = store.allocate_message_id();
            let mut targets = vec![(1, seq)];
            if seq % 10 == 0 {
                targets.push((2, seq / 10));
                shared.insert(message);
            }
            Command::Enqueue {
                message,
                body: Bytes::from(format!("m{seq}")),
                targets,
            }
        })
        .collect();
    store.submit_blocking(cmds, true).unwrap();
    shared
}

/// Waits until the store holds exactly `expected` messages.
fn wait_for_messages(store: &Store, expected: &BTreeSet<MessageId>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = message_ids(store);
        if now == *expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} messages left, {} expected",
            now.len(),
            expected.len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_deleted_queue_leaves_in_chunks_while_a_new_one_of_its_name_fills_and_shared_messages_stay() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    let shared = fill(&store);
    assert_eq!(message_ids(&store).len() as u64, MESSAGES);
    store
        .submit_blocking(vec![Command::DeleteQueue { queue: 1 }], true)
        .unwrap();
    // A queue of the same name is a new queue: what it gets while the old one is being
    // removed stays.
    declare_queue(&store, 3, "a");
    let mut kept = shared.clone();
    let mut seq = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while message_ids(&store) != kept {
        assert!(Instant::now() < deadline, "queue 1 is still on disk");
        kept.insert(enqueue(&store, "new", &[(3, seq)]));
        seq += 1;
    }
    assert!(bodies(&store, 1).is_empty());
    assert_eq!(bodies(&store, 2).len() as u64, MESSAGES / 10 + 1);
    assert_eq!(bodies(&store, 3).len() as u64, seq);
    drop(store);
    let (_, rec) = open(dir.path());
    assert_eq!(rec.orphan_entries, 0);
    let names: Vec<_> = rec.queues.iter().map(|q| (q.id, q.name.as_str())).collect();
    assert_eq!(names, [(2, "b"), (3, "a")]);
}

#[test]
fn entries_of_a_deleted_queue_left_by_a_stop_are_removed_after_the_next_open() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    let shared = fill(&store);
    store.close().unwrap();
    // What a crash between two chunks leaves: the definition gone, the entries still there.
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            dir.path(),
            [keys::CF_DEFS, keys::CF_MSGS, keys::CF_QIDX],
        )
        .unwrap();
        let defs = db.cf_handle(keys::CF_DEFS).unwrap();
        db.delete_cf(defs, keys::def_key(DefKind::Queue, "/", b"a"))
            .unwrap();
        db.flush_cf(defs).unwrap();
    }
    let (store, rec) = open(dir.path());
    assert_eq!(rec.orphan_entries, MESSAGES);
    assert_eq!(rec.queues.len(), 1);
    assert!(
        store.allocate_queue_id() > 1,
        "the id stays taken while its entries are on disk"
    );
    wait_for_messages(&store, &shared);
    assert_eq!(bodies(&store, 2).len() as u64, MESSAGES / 10 + 1);
    store.close().unwrap();
    let (store, rec) = open(dir.path());
    assert_eq!(rec.orphan_entries, 0);
    assert_eq!(message_ids(&store), shared);
}

#[test]
fn an_id_declared_again_while_its_old_queue_is_being_removed_starts_empty() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    let shared = fill(&store);
    // In one request, so the old entries are still on disk when the id comes back.
    store
        .submit_blocking(
            vec![
                Command::DeleteQueue { queue: 1 },
                Command::DeclareQueue {
                    vhost: "/".into(),
                    name: "a2".into(),
                    queue: 1,
                    def: Bytes::from_static(b"def:a2"),
                },
            ],
            true,
        )
        .unwrap();
    let new = enqueue(&store, "new", &[(1, MESSAGES)]);
    assert_eq!(bodies(&store, 1), [(MESSAGES, "new".to_string())]);
    let mut expected = shared;
    expected.insert(new);
    assert_eq!(message_ids(&store), expected);
}
