//! The broker's detached tasks: one cancellation token and one tracker per broker, so that
//! shutdown can end the long sleepers (expiry timers, `x-expires` watchers, delayed releases)
//! and wait, bounded, for everything else (connections, store-reply waiters) to finish.

use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a closing socket still waits for close-ok once shutdown has begun.
const CLOSE_OK_GRACE: Duration = Duration::from_secs(1);

/// Cheap to clone: every clone shares the broker's token and tracker.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tasks {
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Tasks {
    /// Frees `value` on the reaper thread: the entries of a queue with a million messages take
    /// tens of milliseconds to free, and every connection on the worker that did it would wait
    /// (issue 17's stall after a burst). The reaper runs at the lowest CPU priority, so on a
    /// machine with few cores the connections still come first while it works.
    pub(crate) fn drop_off_workers<T: Send + 'static>(&self, value: T) {
        if let Err(returned) = reaper().send(Box::new(value)) {
            drop(returned);
        }
    }

    /// Runs `task` to its end on the current runtime; shutdown waits for it. Panics outside a
    /// runtime, as `tokio::spawn` does.
    pub(crate) fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Like [`Self::spawn`], on the current runtime if there is one (a queue used outside a
    /// runtime, in a unit test or benchmark, has nothing to wait for).
    pub(crate) fn spawn_detached<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            self.tracker.spawn_on(task, &rt);
        }
    }

    /// Like [`Self::spawn_detached`] for a task that sleeps: it is dropped at shutdown.
    pub(crate) fn spawn_until_cancelled<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.spawn_detached(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// Runs `closing` (a closed connection's socket waiting for the client's close-ok) until
    /// it ends, or until a moment after shutdown begins: a client that never answers must
    /// not hold shutdown up, and one that does answers well within the grace.
    pub(crate) async fn linger(&self, closing: impl Future<Output = ()>) {
        let grace = async {
            self.cancel.cancelled().await;
            tokio::time::sleep(CLOSE_OK_GRACE).await;
        };
        tokio::select! {
            _ = closing => {}
            _ = grace => {}
        }
    }

    /// A token cancelled before this one (the listeners stop before anything else).
    pub(crate) fn child_token(&self) -> CancellationToken {
        self.cancel.child_token()
    }

    /// Ends the sleepers and waits up to `limit` for every task to finish; `false` if some
    /// were still running then. Tasks spawned meanwhile are waited for too.
    pub(crate) async fn cancel_and_wait(&self, limit: Duration) -> bool {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok()
    }

    /// How many tracked tasks are running (for the shutdown log).
    pub(crate) fn len(&self) -> usize {
        self.tracker.len()
    }
}

type Garbage = Box<dyn Send>;

/// The one reaper thread of the process, started on first use.
fn reaper() -> &'static std::sync::mpsc::Sender<Garbage> {
    static REAPER: std::sync::OnceLock<std::sync::mpsc::Sender<Garbage>> =
        std::sync::OnceLock::new();
    REAPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Garbage>();
        let started = std::thread::Builder::new()
            .name("warren-reaper".into())
            .spawn(move || {
                // Niceness 19 for this thread alone (Linux's nice applies per thread). Failing
                // to lower it only makes the frees compete as before.
                let _ = rustix::process::nice(19);
                for garbage in rx {
                    drop(garbage);
                }
            });
        if started.is_err() {
            tracing::warn!("no reaper thread: large queues are freed where they are deleted");
        }
        tx
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cancelling_ends_sleepers_and_waits_for_the_rest() {
        let tasks = Tasks::default();
        tasks.spawn_until_cancelled(std::future::pending());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let finisher = tasks.spawn(async move {
            let _ = rx.await;
        });
        assert_eq!(tasks.len(), 2);
        let waiting = tokio::spawn({
            let tasks = tasks.clone();
            async move { tasks.cancel_and_wait(Duration::from_secs(5)).await }
        });
        tx.send(()).unwrap();
        assert!(waiting.await.unwrap(), "every task ended");
        assert!(finisher.is_finished());
        assert_eq!(tasks.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_is_bounded() {
        let tasks = Tasks::default();
        tasks.spawn(std::future::pending::<()>());
        assert!(!tasks.cancel_and_wait(Duration::from_secs(5)).await);
        assert_eq!(tasks.len(), 1);
    }
}
