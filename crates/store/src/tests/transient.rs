//! The transient area: puts are readable once their `done` is called, deletes and clears
//! land in submission order, and nothing in it survives a reopen (clean or crash), nor does
//! a store that kept the area in its main database refuse to open.

use super::{open, tempdir};
use crate::*;
use bytes::Bytes;
use std::sync::mpsc;

/// Puts `seqs` (bodies "owner:seq") under `owner` and waits for the write.
fn put(store: &Store, owner: u64, seqs: &[u64]) {
    let items: Vec<(Seq, Bytes)> = seqs
        .iter()
        .map(|&s| (s, Bytes::from(format!("{owner}:{s}"))))
        .collect();
    let (tx, rx) = mpsc::channel();
    store.transient_put(
        owner,
        Box::new(move || items),
        Box::new(move |r| tx.send(r).unwrap()),
    );
    rx.recv().unwrap().unwrap();
}

fn seqs(store: &Store, owner: u64, from: Seq, limit: usize) -> Vec<Seq> {
    let page = store.transient_read(owner, from, limit).unwrap();
    for (seq, body) in &page {
        assert_eq!(body, &Bytes::from(format!("{owner}:{seq}")));
    }
    page.into_iter().map(|(s, _)| s).collect()
}

/// Waits until everything sent to the transient writer is written (a put is answered
/// after every op sent before it).
fn sync(store: &Store) {
    put(store, u64::MAX, &[]);
}

#[test]
fn puts_read_back_in_order_per_owner_and_deletes_and_clears_remove_them() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    put(&store, 1, &[5, 6, 7, 9]);
    put(&store, 2, &[1, 2]);
    put(&store, 1, &[12]);
    assert_eq!(seqs(&store, 1, 0, 100), vec![5, 6, 7, 9, 12]);
    assert_eq!(seqs(&store, 1, 7, 2), vec![7, 9]);
    assert_eq!(seqs(&store, 2, 0, 100), vec![1, 2]);
    assert_eq!(seqs(&store, 3, 0, 100), Vec::<Seq>::new());

    // By seqs: in the order asked, another owner's and missing seqs left out.
    let page = store.transient_read_seqs(1, &[12, 2, 5, 8]).unwrap();
    let got: Vec<(Seq, &[u8])> = page.iter().map(|(s, b)| (*s, &b[..])).collect();
    assert_eq!(got, vec![(12, &b"1:12"[..]), (5, b"1:5")]);

    store.transient_delete(1, vec![5, 9]);
    sync(&store);
    assert_eq!(seqs(&store, 1, 0, 100), vec![6, 7, 12]);
    store.transient_clear(1);
    // A put sent after the clear survives it: one thread, submission order.
    put(&store, 1, &[20]);
    assert_eq!(seqs(&store, 1, 0, 100), vec![20]);
    assert_eq!(
        seqs(&store, 2, 0, 100),
        vec![1, 2],
        "other owners untouched"
    );
    assert_eq!(store.debug_transient_len().unwrap(), 3);
    let (puts, bytes, deletes) = store.transient_counts();
    assert_eq!((puts, deletes), (8, 2));
    assert!(bytes > 8 * 3);
}

#[test]
fn the_transient_area_is_empty_after_a_clean_close_or_a_crash() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    put(&store, 1, &(0..1000).collect::<Vec<_>>());
    store.close().unwrap();
    let (store, _) = open(dir.path());
    assert_eq!(store.debug_transient_len().unwrap(), 0);
    put(&store, 1, &[1, 2, 3]);
    // A flushed file as well as the memtable: both must go.
    let db = &store.shared.transient_db;
    db.flush_cf(db.cf_handle(keys::CF_TRANSIENT).unwrap())
        .unwrap();
    put(&store, 4, &[1]);
    drop(store);
    let (store, _) = open(dir.path());
    assert_eq!(store.debug_transient_len().unwrap(), 0);
    assert!(store.transient_read(1, 0, 10).unwrap().is_empty());
}

#[test]
fn a_store_that_kept_the_area_in_its_main_database_opens_without_it() {
    let dir = tempdir();
    {
        let (store, _) = open(dir.path());
        super::declare_queue(&store, 3, "q");
        store.close().unwrap();
    }
    {
        // As the builds before the area had a database of its own left it: a column family
        // of the main one, with something in it.
        let o = rocksdb::Options::default();
        let mut db = rocksdb::DB::open_cf(&o, dir.path(), ["defs", "msgs", "qidx"]).unwrap();
        db.create_cf(keys::CF_TRANSIENT, &o).unwrap();
        let cf = db.cf_handle(keys::CF_TRANSIENT).unwrap();
        db.put_cf(cf, keys::idx_key(1, 7), b"old").unwrap();
    }
    let (store, rec) = open(dir.path());
    assert_eq!(rec.queues.len(), 1);
    assert!(store.transient_read(1, 0, 10).unwrap().is_empty());
    put(&store, 1, &[1]);
    assert_eq!(seqs(&store, 1, 0, 10), vec![1]);
    store.close().unwrap();
    let found = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
    assert!(!found.iter().any(|n| n == keys::CF_TRANSIENT), "{found:?}");
    assert!(dir
        .path()
        .join(keys::TRANSIENT_DIR)
        .join("CURRENT")
        .exists());
}

#[test]
fn a_put_after_the_store_closed_is_told_so() {
    let dir = tempdir();
    let (mut store, _) = open(dir.path());
    store.transient.stop();
    let (tx, rx) = mpsc::channel();
    store.transient_put(
        1,
        Box::new(Vec::new),
        Box::new(move |r| tx.send(r).unwrap()),
    );
    assert!(matches!(rx.recv().unwrap(), Err(StoreError::Closed)));
}
