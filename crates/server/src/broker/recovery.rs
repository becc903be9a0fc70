//! Startup recovery: rebuilds vhosts, users, permissions, exchanges, queues (with their stored
//! messages' positions) and bindings from what the store recovered, and seeds the default
//! vhost and user on a first boot.

use crate::access::stored::{
    decode_permissions, decode_topic_permissions, decode_user, decode_vhost,
};
use crate::access::VhostSettings;
use crate::broker::Broker;
use crate::meta::formats::{decode_binding, decode_exchange, decode_queue};
use crate::meta::store::{Discards, MetadataStore};
use crate::policy::{stored as stored_policy, PolicyKind};
use crate::queue::StoredQueue;
use crate::vhost::Vhost;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use warren_store::{
    Recovered, RecoveredQueue, Store, StoreError, StoredBinding, StoredExchange, StoredGrant,
    StoredPolicy, StoredRecord,
};

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
    // A store written before access records existed has none at all: its entities' vhosts
    // are adopted. (One whose vhosts were all deleted still has users.)
    let mut vhosts = VhostsSeen {
        adopt: rec.vhosts.is_empty() && rec.users.is_empty() && rec.permissions.is_empty(),
        orphaned: HashSet::new(),
    };
    restore_access(broker, &rec, &mut cleanup);
    broker.seed_defaults_if_empty();
    // Before the queues and exchanges, which take the policies that match them as they come.
    restore_policies(broker, &rec, &mut cleanup);
    for x in rec.exchanges {
        restore_exchange(broker, x, &mut report, &mut vhosts, &mut cleanup);
    }
    for q in rec.queues {
        restore_queue(broker, store, q, &mut report, &mut vhosts, &mut cleanup)?;
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

/// Vhosts that stored entities name: adopted (an old store), or orphaned (no record: the vhost
/// was deleted while one of its connections still declared) and removed.
struct VhostsSeen {
    adopt: bool,
    orphaned: HashSet<String>,
}

impl VhostsSeen {
    /// The vhost a stored entity belongs to, if it is to be restored.
    fn get(&mut self, broker: &Broker, name: &str, cleanup: &mut Discards) -> Option<Arc<Vhost>> {
        if let Some(v) = broker.vhost(name) {
            return Some(v);
        }
        if self.adopt {
            broker.create_vhost(name, VhostSettings::default());
            return broker.vhost(name);
        }
        if self.orphaned.insert(name.to_string()) {
            tracing::warn!(
                vhost = name,
                "dropping stored entities of a vhost that no longer exists"
            );
            cleanup.vhost(name.to_string());
        }
        None
    }
}

/// Policies and operator policies; one that cannot be read, or whose vhost is gone, is
/// dropped.
fn restore_policies(broker: &Broker, rec: &Recovered, cleanup: &mut Discards) {
    let kinds = [
        (PolicyKind::Policy, &rec.policies),
        (PolicyKind::Operator, &rec.operator_policies),
    ];
    for (kind, list) in kinds {
        for StoredPolicy { vhost, name, def } in list {
            let operator = kind == PolicyKind::Operator;
            match (broker.vhost(vhost), stored_policy::decode(name, kind, def)) {
                (Some(v), Ok(policy)) => v.restore_policy(kind, policy),
                (_, result) => {
                    if let Err(e) = result {
                        tracing::error!(vhost = %vhost, policy = %name, error = %e,
                            "dropping an unreadable stored policy");
                    }
                    cleanup.policy(vhost.clone(), name.clone(), operator);
                }
            }
        }
    }
}

/// Vhost records, users, permissions and topic permissions. An unreadable vhost record keeps
/// its vhost (with default settings) rather than losing what is in it; an unreadable user or
/// grant, or a grant whose user or vhost is gone, is dropped.
fn restore_access(broker: &Broker, rec: &Recovered, cleanup: &mut Discards) {
    let access = broker.access();
    for StoredRecord { name, def } in &rec.vhosts {
        let settings = decode_vhost(def).unwrap_or_else(|e| {
            tracing::error!(vhost = %name, error = %e, "unreadable stored vhost record; default settings");
            VhostSettings::default()
        });
        access.restore_vhost(name, settings);
        broker.add_vhost(name);
    }
    for StoredRecord { name, def } in &rec.users {
        match decode_user(name, def) {
            Ok(user) => access.restore_user(user),
            Err(e) => {
                tracing::error!(user = %name, error = %e, "dropping an unreadable stored user");
                cleanup.user(name.clone());
            }
        }
    }
    let known = |g: &StoredGrant| {
        access.user(&g.user).is_some() && access.vhost_settings(&g.vhost).is_some()
    };
    for g in &rec.permissions {
        match decode_permissions(&g.def) {
            Ok(p) if known(g) => access.restore_permissions(&g.user, &g.vhost, p),
            other => {
                if let Err(e) = other {
                    tracing::error!(user = %g.user, vhost = %g.vhost, error = %e, "dropping unreadable stored permissions");
                }
                cleanup.permissions(g.vhost.clone(), g.user.clone());
            }
        }
    }
    for g in &rec.topic_permissions {
        match decode_topic_permissions(&g.def) {
            Ok(list) if known(g) => access.restore_topic_permissions(&g.user, &g.vhost, list),
            other => {
                if let Err(e) = other {
                    tracing::error!(user = %g.user, vhost = %g.vhost, error = %e, "dropping unreadable stored topic permissions");
                }
                cleanup.topic_permissions(g.vhost.clone(), g.user.clone());
            }
        }
    }
}

fn restore_exchange(
    broker: &Broker,
    x: StoredExchange,
    report: &mut RecoveryReport,
    vhosts: &mut VhostsSeen,
    cleanup: &mut Discards,
) {
    let Some(vhost) = vhosts.get(broker, &x.vhost, cleanup) else {
        return;
    };
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
    vhosts: &mut VhostsSeen,
    cleanup: &mut Discards,
) -> Result<(), StoreError> {
    let Some(vhost) = vhosts.get(broker, &q.vhost, cleanup) else {
        return Ok(());
    };
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
