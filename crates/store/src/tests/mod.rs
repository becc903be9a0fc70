//! Unit tests of the store against real RocksDB in temp dirs: definitions, reference counts,
//! purge and delete, delivery counts, in-batch visibility, group commit, corruption; reading a
//! queue back is in `reads`.

mod access;
mod corruption;
mod model;
mod reads;
mod reap;
mod transient;

use crate::*;
use bytes::Bytes;
use std::collections::BTreeSet;
use std::path::Path;

pub(crate) fn open(dir: &Path) -> (Store, Recovered) {
    Store::open(dir, StoreOptions::default()).expect("open store")
}

pub(crate) fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("warren-store-test")
        .tempdir()
        .unwrap()
}

pub(crate) fn declare_queue(store: &Store, id: QueueId, name: &str) {
    store
        .submit_blocking(
            vec![Command::DeclareQueue {
                vhost: "/".into(),
                name: name.into(),
                queue: id,
                def: Bytes::from(format!("def:{name}")),
            }],
            true,
        )
        .unwrap();
}

pub(crate) fn enqueue(store: &Store, body: &str, targets: &[(QueueId, Seq)]) -> MessageId {
    let id = store.allocate_message_id();
    store
        .submit_blocking(
            vec![Command::Enqueue {
                message: id,
                body: Bytes::copy_from_slice(body.as_bytes()),
                targets: targets.to_vec(),
            }],
            true,
        )
        .unwrap();
    id
}

fn ack(store: &Store, queue: QueueId, seqs: &[Seq]) {
    store
        .submit_blocking(
            vec![Command::Ack {
                queue,
                seqs: seqs.to_vec(),
            }],
            false,
        )
        .unwrap();
}

fn bodies(store: &Store, queue: QueueId) -> Vec<(Seq, String)> {
    store
        .read_queue(queue, None, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, String::from_utf8(e.message.to_vec()).unwrap()))
        .collect()
}

pub(crate) fn message_ids(store: &Store) -> BTreeSet<MessageId> {
    store.debug_message_ids().unwrap().into_iter().collect()
}

#[test]
fn new_store_is_empty_and_definitions_survive_a_crash() {
    let dir = tempdir();
    let (store, rec) = open(dir.path());
    assert!(rec.queues.is_empty() && rec.exchanges.is_empty() && rec.bindings.is_empty());
    store
        .submit_blocking(
            vec![
                Command::DeclareExchange {
                    vhost: "/".into(),
                    name: "logs".into(),
                    def: Bytes::from_static(b"topic"),
                },
                Command::DeclareExchange {
                    vhost: "other".into(),
                    name: "gone".into(),
                    def: Bytes::from_static(b"direct"),
                },
                Command::DeleteExchange {
                    vhost: "other".into(),
                    name: "gone".into(),
                },
                Command::Bind {
                    vhost: "/".into(),
                    key: Bytes::from_static(b"logs>q1>#"),
                    def: Bytes::from_static(b"args"),
                },
                Command::Bind {
                    vhost: "/".into(),
                    key: Bytes::from_static(b"logs>q1>x"),
                    def: Bytes::new(),
                },
                Command::Unbind {
                    vhost: "/".into(),
                    key: Bytes::from_static(b"logs>q1>x"),
                },
            ],
            true,
        )
        .unwrap();
    declare_queue(&store, 7, "q1");
    drop(store);

    let (store, rec) = open(dir.path());
    assert_eq!(
        rec.exchanges,
        vec![StoredExchange {
            vhost: "/".into(),
            name: "logs".into(),
            def: Bytes::from_static(b"topic"),
        }]
    );
    assert_eq!(
        rec.bindings,
        vec![StoredBinding {
            vhost: "/".into(),
            key: Bytes::from_static(b"logs>q1>#"),
            def: Bytes::from_static(b"args"),
        }]
    );
    assert_eq!(
        rec.queues,
        vec![RecoveredQueue {
            id: 7,
            vhost: "/".into(),
            name: "q1".into(),
            def: Bytes::from_static(b"def:q1"),
            messages: 0,
            first_seq: None,
            last_seq: None,
        }]
    );
    assert_eq!(store.allocate_queue_id(), 8);
    store.close().unwrap();
}

#[test]
fn message_in_two_queues_is_stored_once_and_deleted_after_both_acks() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    declare_queue(&store, 1, "a");
    declare_queue(&store, 2, "b");
    let m = enqueue(&store, "fan-out", &[(1, 0), (2, 0)]);
    let solo = enqueue(&store, "solo", &[(1, 1)]);
    assert_eq!(message_ids(&store), [m, solo].into());
    ack(&store, 1, &[0]);
    assert_eq!(message_ids(&store), [m, solo].into());
    // The reference count is rebuilt from the index after a crash.
    drop(store);
    let (store, rec) = open(dir.path());
    assert_eq!(rec.messages, 2);
    assert_eq!(bodies(&store, 2), vec![(0, "fan-out".to_owned())]);
    ack(&store, 2, &[0]);
    assert_eq!(message_ids(&store), [solo].into());
    ack(&store, 2, &[0]); // a second ack of the same entry changes nothing
    assert_eq!(store.stats().ignored, 1);
    assert_eq!(message_ids(&store), [solo].into());
}

#[test]
fn one_ack_of_many_seqs_reads_them_together_and_counts_a_repeat_once() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    declare_queue(&store, 1, "a");
    declare_queue(&store, 2, "b");
    let shared = enqueue(&store, "both", &[(1, 0), (2, 0)]);
    let solo: Vec<MessageId> = (1..=3)
        .map(|s| enqueue(&store, "solo", &[(1, s)]))
        .collect();
    // Out of order, with a repeat and a seq that was never enqueued: the repeat and the
    // unknown seq are ignored, and the shared message loses one reference only.
    ack(&store, 1, &[2, 0, 3, 2, 9]);
    assert_eq!(store.stats().ignored, 2);
    assert_eq!(message_ids(&store), [shared, solo[0]].into());
    assert_eq!(bodies(&store, 1), vec![(1, "solo".to_owned())]);
    ack(&store, 2, &[0]);
    assert_eq!(message_ids(&store), [solo[0]].into());
}

#[test]
fn delete_queue_releases_its_messages_and_keeps_shared_ones() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    declare_queue(&store, 1, "a");
    declare_queue(&store, 2, "b");
    let shared = enqueue(&store, "both", &[(1, 0), (2, 0)]);
    let only_a = enqueue(&store, "a", &[(1, 1)]);
    let only_b = enqueue(&store, "b", &[(2, 1)]);
    assert_eq!(message_ids(&store), [shared, only_a, only_b].into());
    store
        .submit_blocking(vec![Command::DeleteQueue { queue: 1 }], true)
        .unwrap();
    assert_eq!(message_ids(&store), [shared, only_b].into());
    assert!(bodies(&store, 1).is_empty());
    // Enqueue and ack for the deleted queue are ignored.
    enqueue(&store, "late", &[(1, 5)]);
    ack(&store, 1, &[1]);
    assert_eq!(message_ids(&store), [shared, only_b].into());
    drop(store);
    let (store, rec) = open(dir.path());
    assert_eq!(rec.queues.len(), 1);
    assert_eq!(rec.queues[0].name, "b");
    ack(&store, 2, &[0, 1]);
    assert!(message_ids(&store).is_empty());
}

#[test]
fn purge_keeps_the_listed_entries() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    declare_queue(&store, 1, "a");
    declare_queue(&store, 2, "b");
    for seq in 0..10 {
        let targets: &[(QueueId, Seq)] = if seq == 4 {
            &[(1, 4), (2, 0)]
        } else {
            &[(1, seq)]
        };
        enqueue(&store, &format!("m{seq}"), targets);
    }
    store
        .submit_blocking(
            vec![Command::Purge {
                queue: 1,
                keep: vec![2, 7, 99],
            }],
            true,
        )
        .unwrap();
    assert_eq!(
        bodies(&store, 1),
        vec![(2, "m2".to_owned()), (7, "m7".to_owned())]
    );
    assert_eq!(message_ids(&store).len(), 3); // m2, m7, and m4 still in queue 2
    drop(store);
    let (store, rec) = open(dir.path());
    assert_eq!(rec.queues[0].messages, 2);
    // New entries continue above the recovered last seq.
    enqueue(&store, "m10", &[(1, 10)]);
    store
        .submit_blocking(
            vec![Command::Purge {
                queue: 1,
                keep: vec![],
            }],
            true,
        )
        .unwrap();
    assert!(bodies(&store, 1).is_empty());
    assert_eq!(bodies(&store, 2), vec![(0, "m4".to_owned())]);
    assert_eq!(message_ids(&store).len(), 1);
}

#[test]
fn delivery_count_survives_a_crash() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    declare_queue(&store, 1, "a");
    enqueue(&store, "x", &[(1, 0)]);
    enqueue(&store, "y", &[(1, 1)]);
    store.submit_detached(vec![Command::SetDeliveryCount {
        queue: 1,
        seq: 1,
        count: 3,
    }]);
    // Detached writes are ordered before later requests; this one is awaited.
    store.submit_blocking(vec![], false).unwrap();
    drop(store);
    let (store, _) = open(dir.path());
    let counts: Vec<_> = store
        .read_queue(1, None, 10)
        .unwrap()
        .iter()
        .map(|e| e.delivery_count)
        .collect();
    assert_eq!(counts, vec![0, 3]);
    // Setting the count of an acked entry must not bring it back.
    ack(&store, 1, &[1]);
    store
        .submit_blocking(
            vec![Command::SetDeliveryCount {
                queue: 1,
                seq: 1,
                count: 4,
            }],
            false,
        )
        .unwrap();
    assert_eq!(store.read_queue(1, None, 10).unwrap().len(), 1);
}

#[test]
fn later_commands_in_one_batch_see_earlier_ones() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    let e = |message, targets: Vec<(QueueId, Seq)>| Command::Enqueue {
        message,
        body: Bytes::from(format!("m{message}")),
        targets,
    };
    store
        .submit_blocking(
            vec![
                Command::DeclareQueue {
                    vhost: "/".into(),
                    name: "a".into(),
                    queue: 1,
                    def: Bytes::new(),
                },
                Command::DeclareQueue {
                    vhost: "/".into(),
                    name: "b".into(),
                    queue: 2,
                    def: Bytes::new(),
                },
                e(1, vec![(1, 0), (2, 0)]),
                e(2, vec![(1, 1)]),
                e(3, vec![(1, 2)]),
                Command::SetDeliveryCount {
                    queue: 1,
                    seq: 1,
                    count: 2,
                },
                Command::Ack {
                    queue: 1,
                    seqs: vec![0, 2],
                },
                Command::Purge {
                    queue: 2,
                    keep: vec![],
                },
                e(4, vec![(2, 1)]),
            ],
            true,
        )
        .unwrap();
    let q1 = store.read_queue(1, None, 10).unwrap();
    assert_eq!(
        q1.iter()
            .map(|e| (e.seq, e.message_id, e.delivery_count))
            .collect::<Vec<_>>(),
        vec![(1, 2, 2)]
    );
    assert_eq!(bodies(&store, 2), vec![(1, "m4".to_owned())]);
    assert_eq!(message_ids(&store), [2, 4].into());

    // Delete and redeclare (same name, new id) in one batch, with an enqueue after it.
    store
        .submit_blocking(
            vec![
                Command::DeleteQueue { queue: 2 },
                Command::DeclareQueue {
                    vhost: "/".into(),
                    name: "b".into(),
                    queue: 3,
                    def: Bytes::new(),
                },
                e(5, vec![(3, 0), (2, 9)]),
            ],
            true,
        )
        .unwrap();
    assert!(bodies(&store, 2).is_empty());
    assert_eq!(bodies(&store, 3), vec![(0, "m5".to_owned())]);
    assert_eq!(message_ids(&store), [2, 5].into());
    drop(store);
    let (_, rec) = open(dir.path());
    let names: Vec<_> = rec.queues.iter().map(|q| (q.id, q.name.as_str())).collect();
    assert_eq!(names, vec![(1, "a"), (3, "b")]);
}

#[test]
fn invalid_commands_are_ignored_and_counted() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    declare_queue(&store, 1, "a");
    enqueue(&store, "x", &[(1, 5)]);
    let before = message_ids(&store);
    enqueue(&store, "stale", &[(1, 5)]); // seq not above the last
    enqueue(&store, "nowhere", &[(9, 0)]); // unknown queue
    ack(&store, 1, &[4]); // unknown entry
    store
        .submit_blocking(vec![Command::DeleteQueue { queue: 42 }], false)
        .unwrap();
    // Same id, different name: refused.
    store
        .submit_blocking(
            vec![Command::DeclareQueue {
                vhost: "/".into(),
                name: "other".into(),
                queue: 1,
                def: Bytes::new(),
            }],
            true,
        )
        .unwrap();
    assert_eq!(message_ids(&store), before);
    assert_eq!(store.stats().ignored, 5);
    // Redeclaring with the same id keeps the messages.
    declare_queue(&store, 1, "a");
    assert_eq!(bodies(&store, 1).len(), 1);
}

#[test]
fn group_commit_shares_syncs_between_concurrent_submitters() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    declare_queue(&store, 1, "a");
    let store = std::sync::Arc::new(store);
    let seq = std::sync::Arc::new(std::sync::Mutex::new(0u64));
    let threads = 8;
    let per_thread = 100;
    let before = store.stats();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (store, seq) = (store.clone(), seq.clone());
            s.spawn(move || {
                for _ in 0..per_thread {
                    // Seqs must reach the writer in order: take one and submit under the lock,
                    // as the server's queue will.
                    let reply = {
                        let mut next = seq.lock().unwrap();
                        let r = store.submit(
                            vec![Command::Enqueue {
                                message: store.allocate_message_id(),
                                body: Bytes::from_static(&[7; 100]),
                                targets: vec![(1, *next)],
                            }],
                            true,
                        );
                        *next += 1;
                        r
                    };
                    reply.blocking_recv().unwrap().unwrap();
                }
            });
        }
    });
    let after = store.stats();
    let requests = after.requests - before.requests;
    let syncs = after.syncs - before.syncs;
    assert_eq!(requests, threads * per_thread);
    assert!(
        syncs * 2 < requests,
        "{syncs} syncs for {requests} durable requests"
    );
    assert_eq!(after.pending_requests, 0);
    assert_eq!(store.read_index(1, None, usize::MAX).unwrap().len(), 800);
}

#[test]
fn durable_empty_request_syncs_and_nondurable_writes_do_not() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    declare_queue(&store, 1, "a");
    let s0 = store.stats().syncs;
    ack(&store, 1, &[0]);
    assert_eq!(store.stats().syncs, s0);
    store.submit_blocking(vec![], true).unwrap();
    assert_eq!(store.stats().syncs, s0 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn submit_is_awaitable_from_async_code() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    let reply = store.submit(
        vec![Command::DeclareQueue {
            vhost: "/".into(),
            name: "a".into(),
            queue: 1,
            def: Bytes::new(),
        }],
        true,
    );
    reply.await.unwrap().unwrap();
    let page = tokio::task::block_in_place(|| store.read_index(1, None, 10)).unwrap();
    assert!(page.is_empty());
}

#[test]
fn pending_watch_hears_the_backlog_cross_its_limit_both_ways() {
    let dir = tempdir();
    let options = StoreOptions {
        simulated_sync_delay: std::time::Duration::from_millis(200),
        ..StoreOptions::default()
    };
    let (store, _) = Store::open(dir.path(), options).expect("open store");
    declare_queue(&store, 1, "a");
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = heard.clone();
    store.watch_pending(1000, move |over| log.lock().unwrap().push(over));
    assert_eq!(*heard.lock().unwrap(), [false], "told where it is at once");
    // Two durable requests: the first holds the writer in its slow sync, so the second one's
    // bytes wait, above the limit, until both are written.
    let replies: Vec<Reply> = (0..2)
        .map(|seq| {
            store.submit(
                vec![Command::Enqueue {
                    message: store.allocate_message_id(),
                    body: Bytes::from(vec![7; 2000]),
                    targets: vec![(1, seq)],
                }],
                true,
            )
        })
        .collect();
    assert!(store.pending_bytes() > 1000);
    assert_eq!(*heard.lock().unwrap(), [false, true]);
    for reply in replies {
        reply.blocking_recv().unwrap().unwrap();
    }
    // The writer lowers the counter before it answers.
    assert_eq!(store.pending_bytes(), 0);
    assert_eq!(*heard.lock().unwrap(), [false, true, false]);
}
