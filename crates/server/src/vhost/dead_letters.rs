//! Dead letters: routing what left a queue (rejected, expired, over its length limit) to its
//! dead-letter exchange, and enqueuing what the broker publishes itself.

use super::Vhost;
use crate::dead_letter::{self, DeadLetterTarget, Reason};
use crate::message::Message;
use crate::queue::Queue;
use std::sync::Arc;
use tracing::warn;
use warren_routing::RouteOutcome;

impl Vhost {
    /// Publishes messages that left queue `from` (rejected or expired) to its dead-letter
    /// exchange, as RabbitMQ does: not confirmed to anyone, dropped if the exchange is gone or
    /// routes nowhere, and kept from any queue that would close a cycle with no rejection in it.
    /// Called with no queue lock held: the target may be `from` itself.
    pub fn dead_letter(
        &self,
        from: &str,
        target: &DeadLetterTarget,
        items: Vec<(Message, Reason)>,
    ) {
        let now_secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut targets = Vec::new();
        for (message, reason) in items {
            let Some(dead) = dead_letter::dead_lettered(&message, from, reason, target, now_secs)
            else {
                warn!(
                    queue = from,
                    "dropping a dead letter whose properties do not decode"
                );
                continue;
            };
            targets.clear();
            let outcome = self.route_message(
                &target.exchange,
                &dead.message,
                Some(&dead.headers),
                &mut targets,
            );
            if !matches!(outcome, RouteOutcome::Routed(_)) {
                continue;
            }
            if reason != Reason::Rejected {
                targets.retain(|q| !dead_letter::is_cycle(Some(&dead.headers), &q.name));
            }
            self.enqueue_unconfirmed(&targets, dead.message);
        }
    }

    /// Enqueues a message the broker itself publishes (a dead letter, a delayed message coming
    /// due): nobody waits for a confirm, so persistent messages are written without an fsync;
    /// a queue refusing it (length limit) drops it.
    pub(crate) fn enqueue_unconfirmed(&self, targets: &[Arc<Queue>], message: Message) {
        let store = self.store.as_ref().filter(|_| message.persistent());
        match store {
            Some(store) if targets.iter().any(|q| q.stored().is_some()) => {
                for q in targets.iter().filter(|q| q.stored().is_none()) {
                    let _ = q.publish(message.clone());
                }
                let mut written = Vec::new();
                let reply = Queue::publish_persistent(
                    targets,
                    message,
                    store,
                    false,
                    &mut written,
                    &mut false,
                );
                // Bodies may be paged out once written; nobody else waits for this write.
                if let (Some(reply), Ok(rt)) = (reply, tokio::runtime::Handle::try_current()) {
                    rt.spawn(async move {
                        if matches!(reply.await, Ok(Ok(()))) {
                            for (q, seq) in written {
                                q.mark_persisted(seq);
                            }
                        }
                    });
                }
            }
            _ => {
                for q in targets {
                    let _ = q.publish(message.clone());
                }
            }
        }
    }
}
