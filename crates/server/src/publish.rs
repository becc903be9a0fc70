//! The fan-out: puts one routed message into its target queues, the same way for every
//! publisher (clients, dead letters, delayed messages coming due, the broker's own publishes).
//! Transient queues take it directly; for a persistent message and a broker with a store, the
//! durable queues take it through one store write that indexes it in each of them.

use crate::message::Message;
use crate::queue::Queue;
use crate::tasks::Tasks;
use std::sync::Arc;
use warren_store::{Reply, Store};

/// What a fan-out did.
#[derive(Debug, Default)]
#[must_use]
pub(crate) struct Published {
    /// Some queue refused the message (a length limit with `x-overflow` `reject-publish`).
    pub(crate) refused: bool,
    /// The store's reply for the persistent copy, when one was written: the (queue, seq)
    /// pairs pushed to `written` may be marked persisted once it resolves.
    pub(crate) reply: Option<Reply>,
}

/// Puts `message` into every queue of `targets`. With a store and a persistent message, durable
/// queues get it through the store (synced if `sync`: the publisher waits for this write), and
/// each (queue, seq) written is pushed to `written` for [`Queue::mark_persisted`].
pub(crate) fn fan_out(
    targets: &[Arc<Queue>],
    message: Message,
    store: Option<&Store>,
    sync: bool,
    written: &mut Vec<(Arc<Queue>, u64)>,
) -> Published {
    for q in targets {
        q.counters.publish.bump(1);
    }
    let store = store.filter(|_| message.persistent());
    let mut refused = false;
    match store {
        Some(store) if targets.iter().any(|q| q.stored().is_some()) => {
            for q in targets.iter().filter(|q| q.stored().is_none()) {
                refused |= !q.publish(message.clone());
            }
            let reply =
                Queue::publish_persistent(targets, message, store, sync, written, &mut refused);
            Published { refused, reply }
        }
        _ => {
            for q in targets {
                refused |= !q.publish(message.clone());
            }
            Published {
                refused,
                reply: None,
            }
        }
    }
}

/// Fans out a message the broker publishes itself (a dead letter, a delayed message coming
/// due): nobody waits for a confirm, so persistent messages are written without an fsync; a
/// queue refusing it (length limit) drops it. The wait for the write runs among `tasks`.
pub(crate) fn fan_out_unconfirmed(
    targets: &[Arc<Queue>],
    message: Message,
    store: Option<&Store>,
    tasks: &Tasks,
) {
    let mut written = Vec::new();
    let published = fan_out(targets, message, store, false, &mut written);
    // Bodies may be paged out once written; nobody else waits for this write.
    if let Some(reply) = published.reply {
        tasks.spawn_detached(async move {
            if matches!(reply.await, Ok(Ok(()))) {
                for (q, seq) in written {
                    q.mark_persisted(seq);
                }
            }
        });
    }
}
