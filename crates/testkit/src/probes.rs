//! Probes: passive declares on a channel of their own, to ask whether a queue or exchange is
//! there (and how many messages a queue holds) without risking the caller's channel, which a
//! 404 or 405 would close.

use crate::lapin_helpers::{passive_declare_exchange, passive_declare_queue, reply_code};
use lapin::Connection;

/// A passive queue.declare on a new channel of `conn`: the declare-ok (the channel is closed
/// again after it), or the error the broker closed that channel with.
pub async fn probe_queue(conn: &Connection, queue: &str) -> lapin::Result<lapin::Queue> {
    let ch = conn.create_channel().await.expect("channel.open");
    let declare_ok = passive_declare_queue(&ch, queue).await?;
    ch.close(200, "probed".into()).await.expect("channel.close");
    Ok(declare_ok)
}

/// A passive exchange.declare on a new channel of `conn` (see [`probe_queue`]).
pub async fn probe_exchange(conn: &Connection, exchange: &str) -> lapin::Result<()> {
    let ch = conn.create_channel().await.expect("channel.open");
    passive_declare_exchange(&ch, exchange).await?;
    ch.close(200, "probed".into()).await.expect("channel.close");
    Ok(())
}

/// Ready messages in a queue that must exist, asked with [`probe_queue`].
pub async fn probe_ready_count(conn: &Connection, queue: &str) -> u32 {
    probe_queue(conn, queue)
        .await
        .unwrap_or_else(|e| panic!("passive declare of queue '{queue}': {e}"))
        .message_count()
}

/// Whether a queue exists: declare-ok or 404; any other answer fails the test.
pub async fn queue_exists(conn: &Connection, queue: &str) -> bool {
    found(probe_queue(conn, queue).await.map(drop), "queue", queue)
}

/// Whether an exchange exists: declare-ok or 404; any other answer fails the test.
pub async fn exchange_exists(conn: &Connection, exchange: &str) -> bool {
    found(probe_exchange(conn, exchange).await, "exchange", exchange)
}

fn found(probe: lapin::Result<()>, kind: &str, name: &str) -> bool {
    match probe {
        Ok(()) => true,
        Err(e) if reply_code(&e) == Some(404) => false,
        Err(e) => panic!("passive declare of {kind} '{name}': {e}"),
    }
}
