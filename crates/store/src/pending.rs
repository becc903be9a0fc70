//! Crossing notices for the writer's backlog: one watcher hears when the bytes submitted and
//! not yet written go above its limit and when they fall back to it, so the server can stop
//! reading from publishers without polling `Store::pending_bytes`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

type Notify = Box<dyn Fn(bool) + Send + Sync>;

/// The watcher of the pending-bytes counter, if any.
pub(crate) struct PendingWatch {
    /// The watcher's limit; `u64::MAX` (nothing is ever above it) while there is none. Read
    /// without the lock: most changes of the counter cross nothing.
    limit: AtomicU64,
    /// The watcher and what it was last told. Held while it is told, so notices from the
    /// submitting threads and the writer thread never overtake each other.
    watcher: Mutex<Option<(bool, Notify)>>,
}

impl Default for PendingWatch {
    fn default() -> Self {
        PendingWatch {
            limit: AtomicU64::new(u64::MAX),
            watcher: Mutex::new(None),
        }
    }
}

impl PendingWatch {
    /// Installs the watcher (replacing any earlier one) and tells it where `pending` is now.
    pub fn set(&self, pending: &AtomicU64, limit: u64, notify: Notify) {
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        self.limit.store(limit, Ordering::Relaxed);
        let over = pending.load(Ordering::Relaxed) > limit;
        notify(over);
        *watcher = Some((over, notify));
    }

    /// `pending` just went from `before` to `after`: if that crossed the limit, the watcher
    /// hears where it is now. Read again under the lock: two threads crossing at once in
    /// opposite directions leave it told the value after both.
    pub fn changed(&self, pending: &AtomicU64, before: u64, after: u64) {
        let limit = self.limit.load(Ordering::Relaxed);
        if (before > limit) == (after > limit) {
            return;
        }
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((told, notify)) = watcher.as_mut() {
            let over = pending.load(Ordering::Relaxed) > limit;
            if over != *told {
                *told = over;
                notify(over);
            }
        }
    }
}
