//! Dead letters: routing what left a queue (rejected, expired, over its length limit) to its
//! dead-letter exchange, and from there into queues through the common fan-out.

use super::Vhost;
use crate::dead_letter::{self, DeadLetterTarget, Reason};
use crate::message::Message;
use crate::publish;
use crate::queue::DeadLetterSink;
use tracing::warn;
use warren_routing::RouteOutcome;

impl Vhost {
    /// Publishes messages that left queue `from` (rejected or expired) to its dead-letter
    /// exchange, as RabbitMQ does: not confirmed to anyone, dropped if the exchange is gone or
    /// routes nowhere, and kept from any queue that would close a cycle with no rejection in it.
    /// Called with no queue lock held: the target may be `from` itself.
    pub(crate) fn dead_letter(
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
            publish::fan_out_unconfirmed(
                &targets,
                dead.message,
                self.store.as_deref(),
                &self.tasks,
            );
        }
    }
}

/// Queues hand their dead letters to their vhost, which routes them.
impl DeadLetterSink for Vhost {
    fn dead_letters(&self, from: &str, target: &DeadLetterTarget, items: Vec<(Message, Reason)>) {
        self.dead_letter(from, target, items);
    }
}
