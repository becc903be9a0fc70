//! RocksDB's options for the store: one block cache that memtables are charged to, and the
//! options of each column family (the transient area's apart: it is a database of its own,
//! recreated at every open); and the check that an existing database has our column
//! families. docs/storage.md, "RocksDB options", says why each is set.

use crate::error::StoreError;
use crate::keys;
use crate::store::open_error;
use crate::StoreOptions;
use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType,
    DBRecoveryMode, LruCacheOptions, Options, WriteBufferManager, DB,
};
use std::path::Path;

/// RocksDB options for the database and each column family (docs/storage.md explains them).
/// The transient area's options come apart: they open its own database, created at every
/// open (`Store::open`).
pub(crate) fn rocks_options(
    o: &StoreOptions,
    is_new: bool,
) -> (Options, Vec<ColumnFamilyDescriptor>, Options) {
    let mut db = Options::default();
    db.create_if_missing(is_new);
    db.create_missing_column_families(is_new);
    db.set_paranoid_checks(true);
    // A torn record at the WAL's tail (a crash mid-write) is dropped, as it was never
    // acknowledged; corruption anywhere else fails the open.
    db.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
    db.set_manual_wal_flush(false);
    db.set_max_total_wal_size(128 << 20);
    db.set_max_background_jobs(2);
    db.set_bytes_per_sync(1 << 20);
    db.set_keep_log_file_num(4);
    db.set_max_log_file_size(4 << 20);

    // Few shards: RocksDB's default splits a 32 MiB cache into 64 shards of 512 KiB, and a
    // full filter or index block bigger than its shard (the queue index's, once a file holds
    // a million entries) is evicted as soon as it is read, so every lookup read it from disk
    // again (docs/storage.md, "Block cache"). Few threads use the cache at once.
    let mut cache_opts = LruCacheOptions::default();
    cache_opts.set_capacity(o.block_cache_bytes);
    cache_opts.set_num_shard_bits(2);
    let cache = Cache::new_lru_cache_opts(&cache_opts);
    // Memtables of every column family count against the same cache, so blocks and
    // memtables together stay near `block_cache_bytes` (docs/storage.md, "Memory").
    let memtables = WriteBufferManager::new_write_buffer_manager_with_cache(
        o.block_cache_bytes / 2,
        false,
        cache.clone(),
    );
    db.set_write_buffer_manager(&memtables);
    let table = |block_size: usize| {
        let mut t = BlockBasedOptions::default();
        t.set_block_cache(&cache);
        t.set_block_size(block_size);
        t.set_bloom_filter(10.0, false);
        t.set_cache_index_and_filter_blocks(true);
        t.set_pin_l0_filter_and_index_blocks_in_cache(true);
        t
    };
    // The two large column families are read a key at a time (an ack, a delivery count, a
    // page-in): their index and filter are cut in 4 KiB partitions under a small pinned top
    // level, so a lookup reads the partitions it needs, not a whole file's filter, which
    // at tens of millions of entries no longer fits the cache and was reread from disk per
    // ack (docs/storage.md, "RocksDB options").
    let partitioned = |block_size: usize| {
        let mut t = table(block_size);
        t.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
        t.set_partition_filters(true);
        t.set_metadata_block_size(4096);
        t.set_pin_top_level_index_and_filter(true);
        t.set_cache_index_and_filter_blocks_with_high_priority(true);
        t
    };

    let mut defs = Options::default();
    defs.set_write_buffer_size(4 << 20);
    defs.set_block_based_table_factory(&table(4096));

    let mut msgs = Options::default();
    msgs.set_write_buffer_size(o.msgs_write_buffer_bytes);
    msgs.set_max_write_buffer_number(2);
    msgs.set_compression_type(DBCompressionType::Lz4);
    msgs.set_level_compaction_dynamic_level_bytes(true);
    msgs.set_block_based_table_factory(&partitioned(16 << 10));
    // Every read of msgs and qidx is of a key that is there, so the last level, which holds
    // most of the keys, needs no filter: a lookup that reaches it finds its key. Measured:
    // persistent-confirms 5-8 % slower for it (docs/benchmarks.md, "The drain after the
    // flood"); kept as the option the drain soaks verified.
    msgs.set_optimize_filters_for_hits(true);
    // Files full of tombstones (acked messages) are compacted early.
    msgs.add_compact_on_deletion_collector_factory(1024, 512, 0.5);

    let mut qidx = Options::default();
    qidx.set_write_buffer_size(o.qidx_write_buffer_bytes);
    qidx.set_max_write_buffer_number(2);
    qidx.set_compression_type(DBCompressionType::None);
    qidx.set_level_compaction_dynamic_level_bytes(true);
    qidx.set_block_based_table_factory(&partitioned(4096));
    qidx.set_optimize_filters_for_hits(true);
    qidx.add_compact_on_deletion_collector_factory(1024, 512, 0.5);

    // Written once, read once (if at all), deleted: small memtables (they count in the
    // broker's memory, the very thing paging relieves), LZ4, no bloom filter (reads are
    // range scans), early compaction of deleted data. Index blocks live in the block cache:
    // held by each open file instead, a 20 GiB area kept tens of MiB of them in memory.
    // These options also open the area's own database (`Store::open`): its memtables are
    // charged to the same cache and manager, and its write stalls are its own.
    let mut transient = Options::default();
    transient.create_if_missing(true);
    transient.create_missing_column_families(true);
    transient.set_write_buffer_manager(&memtables);
    transient.set_max_background_jobs(2);
    transient.set_keep_log_file_num(4);
    transient.set_max_log_file_size(4 << 20);
    transient.set_write_buffer_size(o.transient_write_buffer_bytes);
    transient.set_max_write_buffer_number(3);
    transient.set_compression_type(DBCompressionType::Lz4);
    transient.set_level_compaction_dynamic_level_bytes(true);
    let mut t = BlockBasedOptions::default();
    t.set_block_cache(&cache);
    t.set_block_size(16 << 10);
    t.set_cache_index_and_filter_blocks(true);
    t.set_pin_l0_filter_and_index_blocks_in_cache(true);
    transient.set_block_based_table_factory(&t);
    transient.add_compact_on_deletion_collector_factory(1024, 512, 0.5);

    let cfs = vec![
        ColumnFamilyDescriptor::new(keys::CF_DEFS, defs),
        ColumnFamilyDescriptor::new(keys::CF_MSGS, msgs),
        ColumnFamilyDescriptor::new(keys::CF_QIDX, qidx),
    ];
    (db, cfs, transient)
}

/// Refuses an existing database whose column families are not ours; returns whether it has
/// the transient area (stores written before it existed do not).
pub(crate) fn check_column_families(db_opts: &Options, path: &Path) -> Result<bool, StoreError> {
    let found = DB::list_cf(db_opts, path).map_err(|e| open_error(path, e))?;
    let mut ours: Vec<&str> = found
        .iter()
        .map(String::as_str)
        .filter(|n| *n != keys::CF_TRANSIENT)
        .collect();
    ours.sort_unstable();
    if ours != ["default", keys::CF_DEFS, keys::CF_MSGS, keys::CF_QIDX] {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            reason: format!("a RocksDB database with column families {found:?}"),
        });
    }
    Ok(found.len() > ours.len())
}
