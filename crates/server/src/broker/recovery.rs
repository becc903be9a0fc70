//! Startup recovery: rebuilds vhosts, exchanges, queues (with their stored messages'
//! positions) and bindings from what the store recovered.

use crate::broker::Broker;
use crate::meta::formats::{decode_binding, decode_exchange, decode_queue};
use crate::meta::store::{Discards, MetadataStore};
use crate::queue::StoredQueue;
use std::sync::Arc;
use std::time::Instant;
use warren_store::{Recovered, RecoveredQueue, Store, StoreError, StoredBinding, StoredExchange};

/// What recovery rebuilt, for the startup log line.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RecoveryReport {
    pub(crate) exchanges: usize,
    pub(crate) queues: usize,
    pub(crate) bindings: usize,
    pub(crate) messages: u64,
}

/// Index entries read per step while rebuilding a queue (bounds the temporary memory).
const RECOVERY_PAGE: usize = 65_536;

/// Rebuilds the broker's durable entities from what the store recovered. Records that cannot
/// be read are logged and removed from the store rather than stopping the broker; a store
/// read error stops the start (the data dir is named in the error).
pub(crate) fn recover(
    broker: &Broker,
    store: &Arc<Store>,
    rec: Recovered,
) -> Result<RecoveryReport, StoreError> {
    let started = Instant::now();
    let mut report = RecoveryReport::default();
    let mut cleanup = Discards::default();
    for x in rec.exchanges {
        restore_exchange(broker, x, &mut report, &mut cleanup);
    }
    for q in rec.queues {
        restore_queue(broker, store, q, &mut report, &mut cleanup)?;
    }
    for b in rec.bindings {
        restore_binding(broker, b, &mut report, &mut cleanup);
    }
    MetadataStore::new(store.clone()).discard(cleanup);
    // Only now, with every binding back, may recovered queues expire (and dead-letter) what
    // ran out of time while the broker was down.
    for vhost in broker.vhosts() {
        vhost.start_recovered_queues();
    }
    tracing::info!(
        exchanges = report.exchanges,
        queues = report.queues,
        bindings = report.bindings,
        messages = report.messages,
        store_ms = rec.elapsed.as_millis() as u64,
        rebuild_ms = started.elapsed().as_millis() as u64,
        "recovered durable state"
    );
    Ok(report)
}

fn restore_exchange(
    broker: &Broker,
    x: StoredExchange,
    report: &mut RecoveryReport,
    cleanup: &mut Discards,
) {
    let vhost = broker.add_vhost(&x.vhost);
    match decode_exchange(&x.def) {
        Ok(meta) => {
            vhost.restore_exchange(&x.name, meta);
            report.exchanges += 1;
        }
        Err(e) => {
            tracing::error!(vhost = %x.vhost, exchange = %x.name, error = %e,
                "dropping an unreadable stored exchange");
            cleanup.exchange(x.vhost, x.name);
        }
    }
}

/// A durable queue with its stored messages' positions, or a durable delayed exchange's
/// held messages (its hidden queue).
fn restore_queue(
    broker: &Broker,
    store: &Arc<Store>,
    q: RecoveredQueue,
    report: &mut RecoveryReport,
    cleanup: &mut Discards,
) -> Result<(), StoreError> {
    let vhost = broker.add_vhost(&q.vhost);
    if let Some(exchange) = crate::vhost::delayed::exchange_of_hidden_queue(&q.name) {
        let next_seq = q.last_seq.map_or(0, |s| s + 1);
        if vhost.restore_delayed(exchange, q.id, next_seq)? {
            report.messages += q.messages;
        } else {
            cleanup.queue(q.id);
        }
        return Ok(());
    }
    let options = match decode_queue(&q.def) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(vhost = %q.vhost, queue = %q.name, error = %e,
                "dropping an unreadable stored queue");
            cleanup.queue(q.id);
            return Ok(());
        }
    };
    let entries = read_positions(store, &q)?;
    report.messages += entries.len() as u64;
    let next_seq = q.last_seq.map_or(0, |s| s + 1);
    let stored = StoredQueue::new(store, q.id);
    vhost.restore_queue(&q.name, options, stored, next_seq, entries);
    report.queues += 1;
    Ok(())
}

/// A stored queue's (seq, delivery count) pairs, read a page at a time.
fn read_positions(store: &Store, q: &RecoveredQueue) -> Result<Vec<(u64, u32)>, StoreError> {
    let mut entries = Vec::with_capacity(q.messages.min(RECOVERY_PAGE as u64) as usize);
    let mut after = None;
    loop {
        let page = store.read_index(q.id, after, RECOVERY_PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.seq);
        let full = page.len() == RECOVERY_PAGE;
        entries.extend(page.into_iter().map(|e| (e.seq, e.delivery_count)));
        if !full {
            break;
        }
    }
    Ok(entries)
}

fn restore_binding(
    broker: &Broker,
    b: StoredBinding,
    report: &mut RecoveryReport,
    cleanup: &mut Discards,
) {
    let Some(vhost) = broker.vhost(&b.vhost) else {
        cleanup.binding(b.vhost, b.key);
        return;
    };
    let restored = decode_binding(&b.def)
        .map_err(|e| e.to_string())
        .and_then(|binding| vhost.restore_binding(&binding));
    match restored {
        Ok(()) => report.bindings += 1,
        Err(e) => {
            tracing::warn!(vhost = %b.vhost, error = %e, "dropping a stored binding");
            cleanup.binding(b.vhost, b.key);
        }
    }
}
