//! Publishing flow: whether connections stop reading from their clients now, and why.
//!
//! The broker owns one [`Flow`]; every connection subscribes ([`Flow::subscribe`]) and reads
//! nothing while the store's write backlog is over its limit (set by the store's own crossing
//! notices, see `warren_store::Store::watch_pending`) or, under memory pressure, while a
//! queue's paging is behind (`crate::alarms::MemoryPressure`), so TCP back-pressure reaches the
//! publishers. The state is a watch channel: a paused connection sleeps until it changes
//! instead of polling.
//!
//! The resource alarms (memory, disk: `crate::alarms`) block as RabbitMQ 3.10's reader does
//! (`rabbit_reader`, "Publisher throttling"): a connection goes on reading until it receives a
//! publish's content header while an alarm is set; from then on it reads nothing, and tells a
//! client that advertised the `connection.blocked` capability why ("low on memory"), until
//! every alarm has cleared (`connection.unblocked`). A connection that only consumes is never
//! blocked, so consumers drain the queues while publishers wait.

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
    /// Under memory pressure, a queue's paging is behind its publishers: more than
    /// `PAGING_BACKLOG_MAX` of bodies wait in memory for the write that takes them to disk
    /// (`crate::alarms::MemoryPressure::falling_behind`). RabbitMQ's credit flow holds
    /// publishers behind a queue that is busy paging the same way.
    pub(crate) const PAGING_BACKLOG: Reasons = Reasons(8);
    /// The memory alarm: the broker's RSS is over `vm_memory_high_watermark`.
    pub(crate) const MEMORY: Reasons = Reasons(2);
    /// The disk alarm: the data dir's file system has less free space than `disk_free_limit`.
    pub(crate) const DISK: Reasons = Reasons(4);

    fn has(self, reason: Reasons) -> bool {
        self.0 & reason.0 != 0
    }

    /// Whether a resource alarm is set (the reasons that block publishing connections).
    fn alarmed(self) -> bool {
        self.has(Reasons::MEMORY) || self.has(Reasons::DISK)
    }

    /// RabbitMQ's `connection.blocked` reason: "low on " and the alarms joined with " & ",
    /// disk first (3.10.8's order, seen with pika).
    fn blocked_text(self) -> &'static str {
        match (self.has(Reasons::MEMORY), self.has(Reasons::DISK)) {
            (true, true) => "low on disk & memory",
            (false, true) => "low on disk",
            _ => "low on memory",
        }
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

    /// Whether `reason` is set now.
    pub(crate) fn is_set(&self, reason: Reasons) -> bool {
        self.state.borrow().has(reason)
    }

    /// A connection's view of the state.
    pub(crate) fn subscribe(self: &Arc<Flow>) -> FlowWatch {
        let rx = self.state.subscribe();
        let state = *rx.borrow();
        FlowWatch {
            rx,
            state,
            flow: self.clone(),
            should_block: false,
            blocked_sent: false,
        }
    }
}

/// What a connection owes its client after the alarms changed (sent only to clients that
/// advertised the `connection.blocked` capability).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    /// `connection.blocked` with this reason.
    Blocked(&'static str),
    /// `connection.unblocked`.
    Unblocked,
}

/// One connection's subscription to the [`Flow`].
#[derive(Debug)]
pub(crate) struct FlowWatch {
    rx: watch::Receiver<Reasons>,
    /// The state as last seen: the connection asks on every turn of its loop, and reading
    /// the watch's version (an atomic) is cheaper than borrowing its value (a lock).
    state: Reasons,
    /// Keeps the sender alive, so `changed` never ends for lack of one.
    flow: Arc<Flow>,
    /// The connection received a publish while an alarm was set (RabbitMQ's `should_block`):
    /// it is blocked until every alarm clears.
    should_block: bool,
    /// `connection.blocked` is out (or would have been, to a client without the capability)
    /// and `connection.unblocked` is owed.
    blocked_sent: bool,
}

impl FlowWatch {
    /// Takes a state change, if there is one; an alarm-free state ends a block.
    fn refresh(&mut self) {
        if self.rx.has_changed().unwrap_or(false) {
            self.take_state();
        }
    }

    fn take_state(&mut self) {
        self.state = *self.rx.borrow_and_update();
        if !self.state.alarmed() {
            self.should_block = false;
        }
    }

    fn blocked(&self) -> bool {
        self.state.has(Reasons::STORE_BACKLOG)
            || self.state.has(Reasons::PAGING_BACKLOG)
            || (self.should_block && self.state.alarmed())
    }

    /// Whether the connection reads nothing now; counted as a pause when it does. Marks the
    /// state seen, so [`FlowWatch::changed`] waits for the next change.
    pub(crate) fn paused(&mut self) -> bool {
        self.refresh();
        let paused = self.blocked();
        if paused {
            self.flow.pauses.fetch_add(1, Ordering::Relaxed);
        }
        paused
    }

    /// The connection has just received a publish's content header: under an alarm, that
    /// blocks it. `true` if it must stop reading now (the frames after it wait).
    pub(crate) fn publish_received(&mut self) -> bool {
        self.refresh();
        if self.state.alarmed() {
            self.should_block = true;
        }
        self.blocked()
    }

    /// `connection.blocked` once a blocked connection has not been told yet, and
    /// `connection.unblocked` once every alarm has cleared after that.
    pub(crate) fn notice(&mut self) -> Option<Notice> {
        if self.should_block && self.state.alarmed() && !self.blocked_sent {
            self.blocked_sent = true;
            return Some(Notice::Blocked(self.state.blocked_text()));
        }
        if self.blocked_sent && !self.state.alarmed() {
            self.blocked_sent = false;
            return Some(Notice::Unblocked);
        }
        None
    }

    /// Resolves when the state changed since it was last seen.
    pub(crate) async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // Unreachable while `flow` holds the sender; never spin if it were not.
            std::future::pending::<()>().await;
        }
        // `changed` marked the new state seen: take it now, `paused` will not see a change.
        self.take_state();
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
    fn a_paging_backlog_pauses_reading_without_telling_the_client() {
        let flow = Flow::new();
        let mut watch = flow.subscribe();
        flow.set(Reasons::PAGING_BACKLOG, true);
        assert!(watch.paused());
        assert!(
            watch.publish_received(),
            "the frames after a publish wait too"
        );
        assert_eq!(watch.notice(), None, "not an alarm: no connection.blocked");
        flow.set(Reasons::PAGING_BACKLOG, false);
        assert!(!watch.paused());
        assert_eq!(watch.notice(), None);
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

    #[test]
    fn an_alarm_blocks_a_connection_at_its_next_publish_only() {
        let flow = Flow::new();
        let mut publisher = flow.subscribe();
        let mut consumer = flow.subscribe();
        flow.set(Reasons::MEMORY, true);
        assert!(!publisher.paused(), "nothing published yet");
        assert_eq!(publisher.notice(), None);
        assert!(publisher.publish_received(), "blocked by its publish");
        assert!(publisher.paused());
        assert_eq!(publisher.notice(), Some(Notice::Blocked("low on memory")));
        assert_eq!(publisher.notice(), None, "told once");
        assert!(!consumer.paused(), "a consumer keeps going");
        assert_eq!(consumer.notice(), None);

        flow.set(Reasons::DISK, true);
        flow.set(Reasons::MEMORY, false);
        assert!(publisher.paused(), "the disk alarm still holds it");
        assert_eq!(publisher.notice(), None, "no second blocked");
        flow.set(Reasons::DISK, false);
        assert!(!publisher.paused());
        assert_eq!(publisher.notice(), Some(Notice::Unblocked));
        assert_eq!(publisher.notice(), None);
        assert!(
            !publisher.publish_received(),
            "no alarm: publishing goes on"
        );
    }

    #[test]
    fn the_blocked_reason_names_every_alarm() {
        assert_eq!(Reasons::MEMORY.blocked_text(), "low on memory");
        assert_eq!(Reasons::DISK.blocked_text(), "low on disk");
        let both = Reasons::MEMORY.with(Reasons::DISK, true);
        assert_eq!(both.blocked_text(), "low on disk & memory");
        assert!(!Reasons::STORE_BACKLOG.alarmed());
    }
}
