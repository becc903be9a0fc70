//! Reading a queue back: a page of a seq range (paging), exact seqs (a priority queue's next
//! page), and what recovery counts without reading bodies.

use super::{ack, bodies, declare_queue, enqueue, open, tempdir};
use crate::*;

#[test]
fn paging_reads_in_order_and_recovery_counts_without_bodies() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    declare_queue(&store, 1, "a");
    declare_queue(&store, 2, "b");
    for seq in 0..10 {
        enqueue(&store, &format!("a{seq}"), &[(1, seq)]);
    }
    enqueue(&store, "b5", &[(2, 5)]);
    ack(&store, 1, &[0, 3]);
    let page = store.read_queue(1, None, 3).unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 4]
    );
    let page = store.read_queue(1, Some(4), 3).unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![5, 6, 7]
    );
    assert_eq!(&page[0].message[..], b"a5");
    assert_eq!(store.read_queue(1, Some(9), 3).unwrap(), vec![]);
    assert_eq!(store.read_queue(1, Some(u64::MAX), 3).unwrap(), vec![]);
    assert_eq!(store.read_index(1, Some(7), 10).unwrap().len(), 2);
    let last_id = store.allocate_message_id();
    drop(store);

    let (store, rec) = open(dir.path());
    let q1 = &rec.queues[0];
    assert_eq!(
        (q1.messages, q1.first_seq, q1.last_seq),
        (8, Some(1), Some(9))
    );
    let q2 = &rec.queues[1];
    assert_eq!(
        (q2.messages, q2.first_seq, q2.last_seq),
        (1, Some(5), Some(5))
    );
    assert_eq!((rec.index_entries, rec.messages), (9, 9));
    // Ids never go back, even after a restart (the last allocated one was never stored).
    assert!(store.allocate_message_id() >= last_id);
    assert_eq!(bodies(&store, 2), vec![(5, "b5".to_owned())]);
}

#[test]
fn reading_by_seqs_keeps_the_asked_order_and_leaves_out_what_the_queue_lacks() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    declare_queue(&store, 1, "a");
    declare_queue(&store, 2, "b");
    for seq in 0..6 {
        enqueue(&store, &format!("a{seq}"), &[(1, seq)]);
    }
    enqueue(&store, "b2", &[(2, 2)]);
    ack(&store, 1, &[3]);
    // Acked (3), never enqueued (9) and another queue's seq: left out; order as asked.
    let page = store.read_queue_seqs(1, &[5, 3, 0, 9, 2]).unwrap();
    let got: Vec<(Seq, &[u8])> = page.iter().map(|e| (e.seq, &e.message[..])).collect();
    assert_eq!(got, vec![(5, &b"a5"[..]), (0, b"a0"), (2, b"a2")]);
    assert_eq!(
        store.read_queue_seqs(2, &[2]).unwrap()[0].message,
        &b"b2"[..]
    );
    assert_eq!(store.read_queue_seqs(1, &[]).unwrap(), vec![]);
}
