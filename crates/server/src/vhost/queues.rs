//! Queues: declare (server-named, exclusive, auto-delete), delete, the x-expires watcher, the
//! exclusive queues of a closing connection, and recovered durable queues.

use super::Vhost;
use crate::arguments::{self, NewQueue};
use crate::clock::now_ms;
use crate::error::{AmqpError, AmqpResult};
use crate::ids::ConnectionId;
use crate::queue::{Queue, QueueOptions, StoredQueue};
use std::sync::Arc;
use warren_codec::FieldTable;

/// What queue.declare reports.
pub(crate) struct Declared {
    pub(crate) queue: Arc<Queue>,
    pub(crate) message_count: u32,
    pub(crate) consumer_count: u32,
}

/// A server-named queue's name as RabbitMQ makes it: `amq.gen-` and 16 bytes from the OS's
/// CSPRNG in unpadded URL-safe base64 (22 characters), so another client cannot guess it.
fn generate_queue_name() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    let bits = u128::from_be_bytes(bytes);
    let mut name = String::from("amq.gen-");
    for digit in 0..21 {
        name.push(ALPHABET[((bits >> (122 - 6 * digit)) & 63) as usize] as char);
    }
    // The 22nd digit holds the last two bits, padded with zeros as base64 pads.
    name.push(ALPHABET[((bits & 3) << 4) as usize] as char);
    name
}

/// What a queue.declare must also pass, asked by [`Vhost::declare_queue`] at the points
/// RabbitMQ asks: the caller's permission checks and limits. `()` passes everything.
pub(crate) trait DeclareGate {
    /// The name is settled (generated, for a server-named queue), before any lookup.
    fn may_declare(&mut self, name: &str) -> AmqpResult<()>;
    /// The queue does not exist and is about to be created; `queues` exist in the vhost.
    fn may_create(&mut self, name: &str, arguments: &FieldTable, queues: usize) -> AmqpResult<()>;
}

impl DeclareGate for () {
    fn may_declare(&mut self, _: &str) -> AmqpResult<()> {
        Ok(())
    }

    fn may_create(&mut self, _: &str, _: &FieldTable, _: usize) -> AmqpResult<()> {
        Ok(())
    }
}

impl Vhost {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn declare_queue(
        &self,
        conn: ConnectionId,
        name: &str,
        passive: bool,
        durable: bool,
        exclusive: bool,
        auto_delete: bool,
        arguments: &FieldTable,
        gate: &mut dyn DeclareGate,
    ) -> AmqpResult<Declared> {
        if passive {
            let queue = self.queue_for(conn, name)?;
            queue.touch();
            let (message_count, consumer_count) = queue.counts();
            return Ok(Declared {
                queue,
                message_count,
                consumer_count,
            });
        }
        let server_named = name.is_empty();
        let name = if server_named {
            generate_queue_name()
        } else {
            if name.starts_with("amq.") {
                return Err(AmqpError::access_refused(format!(
                    "queue name '{name}' contains reserved prefix 'amq.*'"
                )));
            }
            name.to_string()
        };
        gate.may_declare(&name)?;
        // Asked before the entry is taken: counting the queues locks every shard. A queue
        // created meanwhile by another connection is then found as existing below.
        if !self.queues.contains_key(&name) {
            gate.may_create(&name, arguments, self.queues.len())?;
        }
        let options = QueueOptions {
            durable,
            exclusive_owner: exclusive.then_some(conn),
            auto_delete,
            arguments: arguments.clone(),
        };
        let queue = match self.queues.entry(name.clone()) {
            dashmap::mapref::entry::Entry::Occupied(e) => {
                let q = e.get().clone();
                drop(e);
                if q.is_exclusive_to_other(conn) {
                    return Err(q.locked_error());
                }
                self.check_equivalent(&q, &options)?;
                q.touch();
                q
            }
            dashmap::mapref::entry::Entry::Vacant(v) => {
                // Only a queue about to be created has its arguments checked: a redeclare is
                // compared with the queue instead, as RabbitMQ does.
                arguments::check_new_queue(&NewQueue {
                    name: &name,
                    vhost: &self.name,
                    server_named,
                    durable,
                    exclusive,
                    auto_delete,
                    arguments,
                })?;
                let stored = self.store_new_queue(&name, &options);
                let q = Queue::with_store(
                    &name,
                    self.name.clone(),
                    options,
                    (stored, self.spill.clone()),
                    self.me.clone(),
                    self.tasks.clone(),
                );
                q.set_policy(self.queue_policy(&name));
                v.insert(q.clone());
                self.stats.lifecycle.queues_created.bump(1);
                self.router.add_queue(&name, q.clone());
                self.watch_expiry(&q);
                q
            }
        };
        self.stats.lifecycle.queues_declared.bump(1);
        let (message_count, consumer_count) = queue.counts();
        Ok(Declared {
            queue,
            message_count,
            consumer_count,
        })
    }

    /// Writes a new durable, non-exclusive queue's definition; its place in the store.
    fn store_new_queue(&self, name: &str, options: &QueueOptions) -> Option<StoredQueue> {
        let (store, meta) = (self.store.as_ref()?, self.meta.as_ref()?);
        if !options.durable || options.exclusive_owner.is_some() {
            return None;
        }
        let id = meta.declare_queue(&self.name, name, options);
        Some(StoredQueue::new(store, id))
    }

    pub(crate) fn delete_queue(
        &self,
        conn: ConnectionId,
        name: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> AmqpResult<u32> {
        if !self.queues.contains_key(name) {
            // Idempotent, as RabbitMQ 3.x answers it (docs/compatibility.md C15).
            return Ok(0);
        }
        let q = self.queue_for(conn, name)?;
        let count = q.delete(if_unused, if_empty)?;
        self.forget_queue(&q);
        Ok(count)
    }

    /// Removes a deleted queue from the registry and the router.
    fn forget_queue(&self, q: &Arc<Queue>) {
        if let Some(stored) = q.stored() {
            for b in self.router.queue_bindings(&q.name) {
                self.unstore_binding(&b);
            }
            if let Some(meta) = &self.meta {
                // Synced (the definition goes), but nobody waits for it: delete-ok does not.
                meta.delete_queue(stored.id);
            }
        }
        if self
            .queues
            .remove_if(&*q.name, |_, v| Arc::ptr_eq(v, q))
            .is_some()
        {
            self.stats.lifecycle.queues_deleted.bump(1);
        }
        let emptied = self.router.remove_queue(&q.name);
        self.reap_exchanges(emptied.iter().map(String::as_str));
    }

    /// For a queue with `x-expires`: a task that deletes it once it has been unused that long
    /// (no consumers, no basic.get, no redeclare). It sleeps until the queue would expire and
    /// looks again; holding only weak references, it ends with the queue or the vhost.
    /// One watcher per queue; a policy that gives a queue `x-expires` starts one, and one
    /// whose queue no longer expires ends.
    pub(super) fn watch_expiry(&self, q: &Arc<Queue>) {
        if q.expires().is_none() || !q.claim_expiry_watch() {
            return;
        }
        let (vhost, queue) = (self.me.clone(), Arc::downgrade(q));
        let changed = q.expiry_changed();
        self.tasks.spawn_until_cancelled(async move {
            loop {
                let wait = {
                    let Some(q) = queue.upgrade() else { return };
                    if q.is_deleted() {
                        return;
                    }
                    let Some(expires) = q.expires() else {
                        q.release_expiry_watch();
                        // A policy that gave it one back meanwhile found this task's claim.
                        if q.expires().is_none() || !q.claim_expiry_watch() {
                            return;
                        }
                        continue;
                    };
                    match q.expires_at() {
                        Some(at) => {
                            let now = now_ms();
                            if now > at {
                                let Some(vhost) = vhost.upgrade() else { return };
                                // if-unused: a consumer that arrived just now keeps it.
                                if q.delete(true, false).is_ok() {
                                    vhost.forget_queue(&q);
                                    return;
                                }
                                expires
                            } else {
                                at - now + 1
                            }
                        }
                        // In use: look again after one expiry period.
                        None => expires,
                    }
                };
                // A policy that changes `x-expires` restarts the count, as RabbitMQ's timer.
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {}
                    _ = changed.notified() => {}
                }
            }
        });
    }

    /// Deletes an auto-delete queue whose last consumer went away.
    pub(crate) fn auto_delete_queue(&self, q: &Arc<Queue>) {
        if q.delete(true, false).is_ok() {
            self.forget_queue(q);
        }
    }

    /// Deletes the exclusive queues a closing connection owned.
    pub(crate) fn connection_closed(&self, conn: ConnectionId) {
        let owned: Vec<Arc<Queue>> = self
            .queues
            .iter()
            .filter(|q| q.options.exclusive_owner == Some(conn))
            .map(|q| q.clone())
            .collect();
        for q in owned {
            let _ = q.delete(false, false);
            self.forget_queue(&q);
        }
    }

    /// The vhost is deleted: every queue goes, with its messages and consumers. Nothing is
    /// written: the store's `DeleteVhost` has removed what the vhost had stored.
    pub(crate) fn dismantle(&self) {
        let queues: Vec<Arc<Queue>> = self.queues.iter().map(|q| q.clone()).collect();
        for q in queues {
            let _ = q.delete(false, false);
            if self
                .queues
                .remove_if(&*q.name, |_, v| Arc::ptr_eq(v, &q))
                .is_some()
            {
                self.stats.lifecycle.queues_deleted.bump(1);
            }
            self.router.remove_queue(&q.name);
        }
    }

    /// Adds a recovered durable queue.
    pub(crate) fn restore_queue(
        &self,
        name: &str,
        options: QueueOptions,
        stored: StoredQueue,
        next_seq: u64,
        entries: Vec<(u64, u32)>,
    ) {
        let q = Queue::restore(
            name,
            self.name.clone(),
            options,
            (stored, self.spill.clone()),
            next_seq,
            entries,
            self.me.clone(),
            self.tasks.clone(),
        );
        q.set_policy(self.queue_policy(name));
        self.queues.insert(name.to_string(), q.clone());
        // The x-expires clock starts again at recovery, as RabbitMQ's does.
        self.watch_expiry(&q);
        self.router.add_queue(name, q);
    }

    /// After recovery: lets every queue look at its head (learning recovered expiry times,
    /// expiring what ran out while the broker was down, arming its expiry timer).
    pub(crate) fn start_recovered_queues(&self) {
        let queues: Vec<Arc<Queue>> = self.queues.iter().map(|q| q.clone()).collect();
        for q in queues {
            q.kick();
        }
        self.delayed.finish_recovery(&self.me);
    }
}
