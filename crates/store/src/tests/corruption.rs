//! Damaged and foreign data directories: each must fail to open with an error naming the
//! directory, never come up as an empty store.

use super::{declare_queue, enqueue, open, tempdir};
use crate::*;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A store with a queue of 200 messages, left as `clean` says (closed, or crashed so that
/// everything is still in the WAL).
fn populated(clean: bool) -> tempfile::TempDir {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    declare_queue(&store, 1, "a");
    for seq in 0..200 {
        enqueue(
            &store,
            &format!("message {seq:04} {}", "x".repeat(200)),
            &[(1, seq)],
        );
    }
    if clean {
        store.close().unwrap();
    } else {
        drop(store);
    }
    dir
}

fn files(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| pred(p.file_name().unwrap().to_str().unwrap()))
        .collect();
    v.sort();
    v
}

fn truncate(file: &Path, keep_fraction: f64) {
    let len = std::fs::metadata(file).unwrap().len();
    let f = OpenOptions::new().write(true).open(file).unwrap();
    f.set_len((len as f64 * keep_fraction) as u64).unwrap();
}

fn scribble(file: &Path, at_fraction: f64, len: usize) {
    let size = std::fs::metadata(file).unwrap().len();
    let mut f = OpenOptions::new().write(true).open(file).unwrap();
    f.seek(SeekFrom::Start((size as f64 * at_fraction) as u64))
        .unwrap();
    f.write_all(&vec![0xa5; len]).unwrap();
}

/// Opening (and reading every queue fully) must fail, naming the directory.
fn assert_refused(dir: &Path) -> StoreError {
    let err = match Store::open(dir, StoreOptions::default()) {
        Err(e) => e,
        Ok((store, rec)) => {
            let mut err = None;
            for q in &rec.queues {
                if let Err(e) = store.read_queue(q.id, None, usize::MAX) {
                    err = Some(e);
                }
            }
            err.unwrap_or_else(|| panic!("damaged store opened: {rec:?}"))
        }
    };
    let msg = err.to_string();
    assert!(
        msg.contains(dir.to_str().unwrap()),
        "error does not name the directory: {msg}"
    );
    err
}

#[test]
fn truncated_current_file() {
    let dir = populated(true);
    truncate(&dir.path().join("CURRENT"), 0.0);
    let err = assert_refused(dir.path());
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn missing_current_file() {
    let dir = populated(true);
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let err = assert_refused(dir.path());
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
}

#[test]
fn truncated_manifest() {
    let dir = populated(true);
    for m in files(dir.path(), |n| n.starts_with("MANIFEST-")) {
        truncate(&m, 0.5);
    }
    assert_refused(dir.path());
}

#[test]
fn garbage_in_sst_files() {
    let dir = populated(true);
    let ssts = files(dir.path(), |n| n.ends_with(".sst"));
    assert!(!ssts.is_empty());
    for f in &ssts {
        scribble(f, 0.3, 64);
    }
    let err = assert_refused(dir.path());
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn truncated_sst_files() {
    let dir = populated(true);
    for f in files(dir.path(), |n| n.ends_with(".sst")) {
        truncate(&f, 0.7);
    }
    assert_refused(dir.path());
}

#[test]
fn garbage_in_the_wal() {
    let dir = populated(false);
    let logs = files(dir.path(), |n| n.ends_with(".log"));
    let log = logs.last().unwrap();
    assert!(
        std::fs::metadata(log).unwrap().len() > 10_000,
        "data is in the WAL"
    );
    scribble(log, 0.4, 64);
    let err = assert_refused(dir.path());
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn torn_wal_tail_recovers_a_prefix() {
    // A crash mid-write leaves a partial last record: that write was never acknowledged, so
    // the store opens with everything before it.
    let dir = populated(false);
    let logs = files(dir.path(), |n| n.ends_with(".log"));
    let log = logs.last().unwrap();
    let len = std::fs::metadata(log).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(log)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    let (store, rec) = open(dir.path());
    assert_eq!(rec.queues[0].messages, 199);
    let entries = store.read_queue(1, None, usize::MAX).unwrap();
    assert_eq!(entries.last().unwrap().seq, 198);
}

#[test]
fn directory_with_other_content() {
    let dir = tempdir();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let err = assert_refused(dir.path());
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert!(err.to_string().contains("notes.txt"));
}

#[test]
fn foreign_rocksdb_databases() {
    // Another program's RocksDB (default column family only).
    let dir = tempdir();
    {
        let mut o = rocksdb::Options::default();
        o.create_if_missing(true);
        let db = rocksdb::DB::open(&o, dir.path()).unwrap();
        db.put(b"k", b"v").unwrap();
    }
    let err = assert_refused(dir.path());
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");

    // Our column family names but no format marker.
    let dir = tempdir();
    {
        let mut o = rocksdb::Options::default();
        o.create_if_missing(true);
        o.create_missing_column_families(true);
        rocksdb::DB::open_cf(&o, dir.path(), ["defs", "msgs", "qidx"]).unwrap();
    }
    let err = assert_refused(dir.path());
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
}

#[test]
fn empty_directory_becomes_a_store_and_a_locked_one_is_refused() {
    let dir = tempdir();
    let (_store, rec) = open(dir.path());
    assert!(rec.queues.is_empty());
    let err = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains(dir.path().to_str().unwrap()),
        "{err}"
    );
}
