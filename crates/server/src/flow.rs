//! Publishing flow: whether connections stop reading from their clients now, and why.
//!
//! The broker owns one [`Flow`]; every connection subscribes ([`Flow::subscribe`]) and reads
//! nothing while any reason holds, so TCP back-pressure reaches the publishers. The state is a
//! watch channel: a paused connection sleeps until it changes instead of polling. Today's one
//! reason is the store's write backlog (set by the store's own crossing notices, see
//! `warren_store::Store::watch_pending`); resource alarms and `connection.blocked` are meant to
//! come through the same state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// Why publishing is paused: a set of reasons, empty when it is not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reasons(u8);

impl Reasons {
    /// The store has more than `Config::store_pending_max` bytes waiting to be written, as
    /// RabbitMQ's credit flow holds publishers behind a slow message store.
    pub(crate) const STORE_BACKLOG: Reasons = Reasons(1);

    pub(crate) fn any(self) -> bool {
        self.0 != 0
    }

    fn with(self, reason: Reasons, on: bool) -> Reasons {
        if on {
            Reasons(self.0 | reason.0)
        } else {
            Reasons(self.0 & !reason.0)
        }
    }
}

/// The broker's flow state, shared by every connection.
#[derive(Debug)]
pub(crate) struct Flow {
    state: watch::Sender<Reasons>,
    /// How many times a connection found publishing paused (see [`Flow::pauses`]).
    pauses: AtomicU64,
}

impl Flow {
    pub(crate) fn new() -> Arc<Flow> {
        Arc::new(Flow {
            state: watch::Sender::new(Reasons::default()),
            pauses: AtomicU64::new(0),
        })
    }

    /// Turns one reason on or off; subscribers wake only if that changes the set.
    pub(crate) fn set(&self, reason: Reasons, on: bool) {
        self.state.send_if_modified(|reasons| {
            let next = reasons.with(reason, on);
            let changed = next != *reasons;
            *reasons = next;
            changed
        });
    }

    /// How often a connection found publishing paused.
    pub(crate) fn pauses(&self) -> u64 {
        self.pauses.load(Ordering::Relaxed)
    }

    /// A connection's view of the state.
    pub(crate) fn subscribe(self: &Arc<Flow>) -> FlowWatch {
        let rx = self.state.subscribe();
        let paused = rx.borrow().any();
        FlowWatch {
            rx,
            paused,
            flow: self.clone(),
        }
    }
}

/// One connection's subscription to the [`Flow`].
#[derive(Debug)]
pub(crate) struct FlowWatch {
    rx: watch::Receiver<Reasons>,
    /// The state as last seen: the connection asks on every turn of its loop, and reading
    /// the watch's version (an atomic) is cheaper than borrowing its value (a lock).
    paused: bool,
    /// Keeps the sender alive, so `changed` never ends for lack of one.
    flow: Arc<Flow>,
}

impl FlowWatch {
    /// Whether publishing is paused now; counted as a pause when it is. Marks the state seen,
    /// so [`FlowWatch::changed`] waits for the next change.
    pub(crate) fn paused(&mut self) -> bool {
        if self.rx.has_changed().unwrap_or(false) {
            self.paused = self.rx.borrow_and_update().any();
        }
        if self.paused {
            self.flow.pauses.fetch_add(1, Ordering::Relaxed);
        }
        self.paused
    }

    /// Resolves when the state changed since it was last seen.
    pub(crate) async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // Unreachable while `flow` holds the sender; never spin if it were not.
            std::future::pending::<()>().await;
        }
        // `changed` marked the new state seen: take it now, `paused` will not see a change.
        self.paused = self.rx.borrow_and_update().any();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // Paused time: the 20 ms below pass at once, after the waiter has run and parked.
    #[tokio::test(start_paused = true)]
    async fn a_paused_subscriber_wakes_when_the_last_reason_goes() {
        let flow = Flow::new();
        let mut watch = flow.subscribe();
        assert!(!watch.paused());
        flow.set(Reasons::STORE_BACKLOG, true);
        assert!(watch.paused());
        assert_eq!(flow.pauses(), 1);
        let waiter = tokio::spawn(async move {
            watch.changed().await;
            watch.paused()
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "woke with nothing changed");
        flow.set(Reasons::STORE_BACKLOG, false);
        let still_paused = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert!(!still_paused);
        assert_eq!(*flow.state.borrow(), Reasons::default());
    }

    #[test]
    fn setting_a_reason_twice_changes_nothing() {
        let flow = Flow::new();
        let mut watch = flow.subscribe();
        flow.set(Reasons::STORE_BACKLOG, true);
        assert!(watch.paused());
        flow.set(Reasons::STORE_BACKLOG, true);
        assert!(!watch.rx.has_changed().unwrap());
        flow.set(Reasons::STORE_BACKLOG, false);
        assert!(watch.rx.has_changed().unwrap());
        assert!(!watch.paused());
    }
}
