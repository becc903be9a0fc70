//! A connection's output path. Encoded bytes go straight to the socket when nothing is queued
//! ahead of them; what the socket does not take at once goes to a writer task that owns the
//! waiting. The connection task itself never waits on a write, so a client that is busy
//! writing to us can never deadlock against us writing to it (RabbitMQ's writer process does
//! the same), and the common case skips a task hop per write (latency).
//!
//! What waits here is bounded from both ends (flow control): deliveries count against the
//! connection's delivery window until the socket has taken them, so queues stop offering to a
//! consumer that does not read; and past [`HIGH_WATER`] queued bytes the connection stops
//! reading from its client, so a client that sends without reading what it is sent (confirms,
//! returns, get-oks) meets TCP back-pressure instead of growing our buffers.
//!
//! A TLS connection's output always goes through the writer task (see `transport`).

use super::transport::Writer;
use crate::credit::Credit;
use crate::queue::delivery::ConnEvent;
use crate::tasks::Tasks;
use bytes::{Buf, Bytes};
use std::io::ErrorKind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

/// Queued output above which the connection stops reading until the queue has drained.
pub(super) const HIGH_WATER: usize = 4 << 20;

struct Shared {
    socket: Writer,
    /// Chunks handed to the writer task and not yet fully written. While it is non-zero a
    /// direct write would overtake them.
    queued: AtomicUsize,
    /// Bytes of those chunks not yet written.
    queued_bytes: AtomicUsize,
    /// The connection's delivery window; queued chunks return their share once written.
    window: Arc<Credit>,
    /// Signalled when the writer task has written everything queued (or the socket died).
    drained: Notify,
    /// Told when the writer task's return reopened a full delivery window: the connection
    /// must tell its queues, which stopped offering. Through the connection's own event
    /// channel, so its loop waits on nothing more per turn for this rare case.
    reopened: mpsc::UnboundedSender<ConnEvent>,
}

/// The sending side, owned by the connection task.
pub(super) struct Outbox {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<(Bytes, u32)>,
}

impl Outbox {
    /// Starts the writer task for `socket`. The socket's write side is shut down when both the
    /// outbox and the task are gone, after everything sent has been written.
    pub(super) fn start(
        socket: Writer,
        window: Arc<Credit>,
        reopened: mpsc::UnboundedSender<ConnEvent>,
        tasks: &Tasks,
    ) -> (Outbox, JoinHandle<()>) {
        let shared = Arc::new(Shared {
            socket,
            queued: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            window,
            drained: Notify::new(),
            reopened,
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tasks.spawn(write_queued(shared.clone(), rx));
        (Outbox { shared, tx }, task)
    }

    /// Sends `chunk` in order after everything sent before. `window`: how much of the delivery
    /// window the deliveries in it hold, returned once the socket has taken it. `true` if
    /// returning it reopened a window that had run out (the caller tells the queues).
    /// Errors are not reported here: a dead socket is noticed by the read side.
    pub(super) fn send(&self, mut chunk: Bytes, window: u32) -> bool {
        if let Writer::Tcp(socket) = &self.shared.socket {
            if self.shared.queued.load(Ordering::Acquire) == 0 {
                match socket.try_write(&chunk) {
                    Ok(n) if n == chunk.len() => return self.shared.window.give_back(window),
                    Ok(n) => chunk.advance(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => return self.shared.window.give_back(window),
                }
            }
        }
        self.shared
            .queued_bytes
            .fetch_add(chunk.len(), Ordering::AcqRel);
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        let len = chunk.len();
        if self.tx.send((chunk, window)).is_err() {
            // The writer task is gone (dead socket): nothing will be written.
            self.shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return self.shared.window.give_back(window);
        }
        false
    }

    /// Whether so much is waiting for the socket that the connection should stop reading.
    pub(super) fn is_congested(&self) -> bool {
        self.shared.queued_bytes.load(Ordering::Acquire) > HIGH_WATER
    }

    /// Whether anything is waiting for the socket.
    pub(super) fn is_backed_up(&self) -> bool {
        self.shared.queued.load(Ordering::Acquire) > 0
    }

    /// Resolves once the writer task has written everything queued so far (at once if
    /// nothing is queued).
    pub(super) async fn drained(&self) {
        let notified = self.shared.drained.notified();
        if self.is_backed_up() {
            notified.await;
        }
    }
}

/// The writer task: writes queued chunks in order, waiting for the socket as needed.
async fn write_queued(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<(Bytes, u32)>) {
    while let Some((chunk, window)) = rx.recv().await {
        let len = chunk.len();
        let dead = match &shared.socket {
            Writer::Tcp(socket) => !write_tcp(socket, chunk).await,
            Writer::Tls(tls) => !tls.write_all(&chunk).await,
        };
        shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
        if shared.window.give_back(window) {
            let _ = shared.reopened.send(ConnEvent::WindowReopened);
        }
        if dead {
            // Unblock a connection waiting on us; its next read sees the dead socket.
            shared.queued.store(0, Ordering::Release);
            shared.queued_bytes.store(0, Ordering::Release);
            shared.drained.notify_waiters();
            return;
        }
        if shared.queued.fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.drained.notify_waiters();
        }
    }
    // The outbox is gone: a TLS client is told the session ends (a TCP socket's write side
    // shuts when its half is dropped).
    if let Writer::Tls(tls) = &shared.socket {
        tls.shutdown().await;
    }
}

/// Writes all of `chunk`, waiting for the socket as needed; `false` if the socket failed.
async fn write_tcp(socket: &tokio::net::tcp::OwnedWriteHalf, mut chunk: Bytes) -> bool {
    while !chunk.is_empty() {
        if socket.writable().await.is_err() {
            return false;
        }
        match socket.try_write(&chunk) {
            Ok(n) => chunk.advance(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
    }
    true
}
