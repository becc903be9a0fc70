//! A connection's output path. Encoded bytes go straight to the socket when nothing is queued
//! ahead of them; what the socket does not take at once goes to a writer task that owns the
//! waiting. The connection task itself never waits on a write, so a client that is busy
//! writing to us can never deadlock against us writing to it (RabbitMQ's writer process does
//! the same), and the common case skips a task hop per write (latency).

use bytes::{Buf, Bytes};
use std::io::ErrorKind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

struct Shared {
    socket: OwnedWriteHalf,
    /// Chunks handed to the writer task and not yet fully written. While it is non-zero a
    /// direct write would overtake them.
    queued: AtomicUsize,
}

/// The sending side, owned by the connection task.
pub(crate) struct Outbox {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Bytes>,
}

impl Outbox {
    /// Starts the writer task for `socket`. The socket's write side is shut down when both the
    /// outbox and the task are gone, after everything sent has been written.
    pub(crate) fn start(socket: OwnedWriteHalf) -> (Outbox, JoinHandle<()>) {
        let shared = Arc::new(Shared {
            socket,
            queued: AtomicUsize::new(0),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(write_queued(shared.clone(), rx));
        (Outbox { shared, tx }, task)
    }

    /// Sends `chunk` in order after everything sent before. Errors are not reported here: a
    /// dead socket is noticed by the read side.
    pub(crate) fn send(&self, mut chunk: Bytes) {
        if self.shared.queued.load(Ordering::Acquire) == 0 {
            match self.shared.socket.try_write(&chunk) {
                Ok(n) if n == chunk.len() => return,
                Ok(n) => chunk.advance(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        let _ = self.tx.send(chunk);
    }
}

/// The writer task: writes queued chunks in order, waiting for the socket as needed.
async fn write_queued(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Bytes>) {
    while let Some(mut chunk) = rx.recv().await {
        while !chunk.is_empty() {
            if shared.socket.writable().await.is_err() {
                return;
            }
            match shared.socket.try_write(&chunk) {
                Ok(n) => chunk.advance(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
        shared.queued.fetch_sub(1, Ordering::AcqRel);
    }
}
