//! Dispatch to a no-ack consumer against a real store in a temp dir: the stored messages it
//! hands over leave the store, as one ack per dispatch rather than one per message (the
//! writer's `MultiGet` then shares the index and filter reads between them).

use super::consumers::Consumer;
use super::delivery::ConnEvent;
use super::{Queue, QueueOptions, StoredQueue};
use crate::credit::Credit;
use crate::message::{Message, Route};
use std::sync::Arc;
use warren_codec::{FieldTable, ShortStr};
use warren_store::{Command, Store, StoreOptions};

const QUEUE_ID: u64 = 7;

fn durable_queue(store: &Arc<Store>) -> Arc<Queue> {
    store
        .submit_blocking(
            vec![Command::DeclareQueue {
                vhost: "/".into(),
                name: "d".into(),
                queue: QUEUE_ID,
                def: bytes::Bytes::from_static(b"def"),
            }],
            true,
        )
        .unwrap();
    let options = QueueOptions {
        durable: true,
        exclusive_owner: None,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    Queue::with_store(
        "d",
        "/".into(),
        options,
        (Some(StoredQueue::new(store, QUEUE_ID)), None),
        std::sync::Weak::<super::NoSink>::new(),
        crate::tasks::Tasks::default(),
    )
}

fn publish_persistent(store: &Store, q: &Arc<Queue>, n: u32) {
    for i in 0..n {
        let message = Message::new(Route::new(b"", b"d"), &[0, 0], &i.to_be_bytes(), true);
        let (mut written, mut refused) = (Vec::new(), false);
        let reply = Queue::publish_persistent(
            std::slice::from_ref(q),
            message,
            store,
            false,
            &mut written,
            &mut refused,
        )
        .expect("the queue takes it");
        reply.blocking_recv().unwrap().unwrap();
        for (q, seq) in written {
            q.mark_persisted(seq);
        }
    }
}

fn no_ack_consumer() -> (Consumer, tokio::sync::mpsc::UnboundedReceiver<ConnEvent>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let consumer = Consumer {
        tag: ShortStr::from_static("c"),
        connection: 1,
        channel: 1,
        no_ack: true,
        exclusive: false,
        tx,
        credit: Credit::new(0),
        channel_credit: Credit::new(0),
        priority: 0,
        window: Credit::new(0),
    };
    (consumer, rx)
}

/// The writer applies requests in order: an empty one answers once everything before it is
/// written.
fn wait_for_writer(store: &Store) {
    store.submit_blocking(Vec::new(), false).unwrap();
}

#[test]
fn no_ack_deliveries_of_stored_messages_leave_the_store_as_one_ack() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let store = Arc::new(store);
    let q = durable_queue(&store);
    publish_persistent(&store, &q, 100);
    assert_eq!(store.read_queue(QUEUE_ID, None, 1_000).unwrap().len(), 100);
    let before = store.stats();

    let (consumer, mut rx) = no_ack_consumer();
    q.add_consumer(consumer).unwrap();
    let mut delivered = Vec::new();
    while let Ok(ConnEvent::Deliver(d)) = rx.try_recv() {
        delivered.push(d.seq);
    }
    assert_eq!(delivered, (0..100).collect::<Vec<u64>>(), "all, in order");

    wait_for_writer(&store);
    let after = store.stats();
    assert_eq!(
        store.read_queue(QUEUE_ID, None, 1_000).unwrap().len(),
        0,
        "every delivered message left the store"
    );
    assert_eq!(
        after.commands - before.commands,
        1,
        "one ack for the whole dispatch"
    );
    assert_eq!(
        after.ignored, before.ignored,
        "no seq acked twice or unknown"
    );
}
