//! Bounded waits: everything a test awaits has a deadline, so a broken broker fails the test
//! with what never happened instead of hanging it; conditions are polled, never slept on.

use std::future::Future;
use std::time::Duration;

/// How long a test waits for something the broker should do promptly.
pub const WAIT: Duration = Duration::from_secs(10);

/// Bounded wait: panics naming what never happened.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    within_for(WAIT, what, fut).await
}

/// Bounded wait with its own limit, for slow things such as multi-MiB bodies.
pub async fn within_for<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?} waiting for {what}"))
}

/// How often a bounded poll looks again.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// Polls `check` until it holds, within WAIT.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_some(what, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// Polls `look` until it finds something, within WAIT, and returns it.
pub async fn eventually_some<T, F, Fut>(what: &str, mut look: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(what, async {
        loop {
            if let Some(found) = look().await {
                return found;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    })
    .await
}
