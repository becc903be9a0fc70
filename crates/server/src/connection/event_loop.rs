//! The connection's main loop: waiting on queue events, the socket and the heartbeat ticker;
//! reading (with an adaptive buffer), flushing output, and the delivery window's flow control.

use super::{Connection, Exit, READ_CHUNK_MAX};
use crate::error::AmqpError;
use crate::flow::Notice;
use crate::queue::delivery::ConnEvent;
use bytes::BytesMut;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::warn;
use warren_codec::frame;
use warren_codec::generated::{ConnectionBlocked, ConnectionUnblocked};
use warren_codec::{Method, ShortStr};

impl Connection {
    pub(super) fn flush(&mut self) {
        if !self.out.is_empty() || self.out_window > 0 {
            // The whole buffer goes, not just its filled part: a split would leave the spare
            // capacity (and so the allocation) with an idle connection.
            let chunk = std::mem::take(&mut self.out).freeze();
            if !chunk.is_empty() {
                self.last_write = Instant::now();
                self.octets.send_oct += chunk.len() as u64;
                self.octets.send_cnt += 1;
            }
            if self
                .writer
                .send(chunk, std::mem::take(&mut self.out_window))
            {
                self.window_starved = false;
                self.offer_again();
            }
        }
    }

    /// The delivery window has room again: queues that stopped offering to this connection's
    /// consumers for lack of it look again.
    fn offer_again(&self) {
        let mut queues: Vec<&Arc<crate::queue::Queue>> = Vec::new();
        for q in self.channels.values().flat_map(|c| c.consumers.values()) {
            if !queues.iter().any(|x| Arc::ptr_eq(x, q)) {
                queues.push(q);
            }
        }
        for q in queues {
            q.kick();
        }
    }

    pub(super) async fn run(&mut self, events: &mut mpsc::UnboundedReceiver<ConnEvent>) -> Exit {
        // Frames that arrived with the handshake's last read are handled first.
        if let Some(exit) = self.process_buffer() {
            return exit;
        }
        self.release_idle_read_buffer();
        self.flush();
        let hb = self.heartbeat;
        let tick = if hb.is_zero() {
            Duration::from_secs(3600)
        } else {
            (hb / 2).max(Duration::from_millis(500))
        };
        let mut ticker = tokio::time::interval(tick);
        ticker.tick().await;
        loop {
            self.new_turn();
            self.tally.flush(&self.vhost);
            let flow_paused = match self.flow_turn() {
                Ok(paused) => paused,
                Err(exit) => return exit,
            };
            // Flow control (see `outbox`): stop reading while the client is not reading what
            // we send, and wait for the socket when deliveries have filled the window.
            let congested = self.writer.is_congested();
            let starved = !self.window.has_room();
            if starved {
                self.window_starved = true;
            } else if self.window_starved {
                // Reopened by the writer task (or by a flush whose news a wake-up missed).
                self.window_starved = false;
                self.offer_again();
            }
            let wait_for_socket = self.writer.is_backed_up() && (congested || starved);
            // Unbiased: neither a delivery flood nor a publish flood may starve the other.
            tokio::select! {
                ev = events.recv() => {
                    let Some(ev) = ev else { return Exit::Done };
                    if let Some(exit) = self.handle_event(ev) {
                        return exit;
                    }
                    // Drain what else is waiting so one write carries many deliveries.
                    for _ in 0..256 {
                        match events.try_recv() {
                            Ok(ev) => {
                                if let Some(exit) = self.handle_event(ev) {
                                    return exit;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                }
                // Paused by flow control: the top of the loop looks again when the state changes.
                _ = self.flow.changed(), if flow_paused => {
                    // Not reading counts as hearing from the client: the pause is ours.
                    self.last_read = Instant::now();
                }
                // Wakes the loop, whose top tells the queues if the window has room again.
                _ = self.writer.drained(), if wait_for_socket => {
                    self.last_read = Instant::now();
                }
                // Wait for data before holding a buffer for it: an idle connection keeps none.
                ready = self.reader.readable(), if !flow_paused && !congested => {
                    if ready.is_err() {
                        return Exit::Done;
                    }
                    if let Some(exit) = self.read_and_process().await {
                        return exit;
                    }
                    // `readable` does not count against tokio's cooperative budget as a read
                    // future does: without this, a publisher whose socket is always ready never
                    // yields, and the consumers it wakes wait behind it on the same worker.
                    tokio::task::consume_budget().await;
                }
                _ = super::consumer_timeout::fired(&mut self.timeout_check) => {
                    self.check_consumer_timeouts();
                }
                _ = ticker.tick() => {
                    if congested || flow_paused {
                        // Its heartbeats wait unread behind what we do not read.
                        self.last_read = Instant::now();
                    }
                    if !hb.is_zero() {
                        if self.last_read.elapsed() > hb * 2 {
                            warn!(connection = self.id, peer = %self.peer,
                                  "missed heartbeats from client, timeout: {}s", hb.as_secs());
                            return Exit::Done;
                        }
                        if self.last_write.elapsed() >= hb / 2 {
                            frame::encode_heartbeat(&mut self.out);
                        }
                    }
                }
            }
            self.flush();
        }
    }

    /// Flow control at the top of a turn: whether reading is paused; once it is not, the
    /// frames a blocking publish left in the read buffer; and the client told when a resource
    /// alarm blocked or unblocked the connection.
    fn flow_turn(&mut self) -> Result<bool, Exit> {
        let mut paused = self.flow.paused();
        if !paused && self.frames_held {
            self.frames_held = false;
            if let Some(exit) = self.process_buffer() {
                return Err(exit);
            }
            self.release_idle_read_buffer();
            paused = self.flow.paused();
        }
        if let Some(notice) = self.flow.notice() {
            if self.blocked_notify {
                let method = match notice {
                    Notice::Blocked(reason) => Method::ConnectionBlocked(ConnectionBlocked {
                        reason: ShortStr::from_static(reason),
                    }),
                    Notice::Unblocked => Method::ConnectionUnblocked(ConnectionUnblocked {}),
                };
                self.send_method(0, &method);
                self.flush();
            }
        }
        Ok(paused)
    }

    /// One non-blocking read into the read buffer, then every complete frame in it handled.
    async fn read_and_process(&mut self) -> Option<Exit> {
        let had_no_buffer = self.read_buf.capacity() == 0;
        if self.read_buf.capacity() - self.read_buf.len() < 1024 {
            self.read_buf.reserve(self.read_chunk);
        }
        let spare = self.read_buf.capacity() - self.read_buf.len();
        // Polled once, not awaited. Unlike `try_read_buf`, tokio's `poll_read` takes a read
        // that did not fill the buffer as proof the socket is drained and clears its readiness,
        // which saves the read that would only find it empty: a system call per wake-up, made
        // before this task lets the consumers it just woke write their deliveries (latency).
        let read = {
            let mut read = std::pin::pin!(self.reader.read_buf(&mut self.read_buf));
            std::future::poll_fn(|cx| match read.as_mut().poll(cx) {
                std::task::Poll::Pending => {
                    std::task::Poll::Ready(Err(std::io::ErrorKind::WouldBlock.into()))
                }
                ready => ready,
            })
            .await
        };
        match read {
            Ok(0) => return Some(Exit::Done),
            Ok(n) => {
                self.octets.recv_oct += n as u64;
                self.octets.recv_cnt += 1;
                if n == spare {
                    self.read_chunk = (self.read_chunk * 2).min(READ_CHUNK_MAX);
                }
                self.last_read = Instant::now();
                if let Some(exit) = self.process_buffer() {
                    return Some(exit);
                }
                self.release_idle_read_buffer();
            }
            // Readiness can be stale: nothing came, so give back a buffer made just for this.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if had_no_buffer {
                    self.read_buf = BytesMut::new();
                }
            }
            Err(_) => return Some(Exit::Done),
        }
        None
    }

    /// Gives the read buffer back when nothing is left in it and no frame handed out of it is
    /// still alive (`try_reclaim` succeeds only for a buffer nobody else shares). A buffer still
    /// shared with queued messages is kept, so the next read fills its free tail instead of
    /// stranding it.
    fn release_idle_read_buffer(&mut self) {
        if self.read_buf.is_empty() && self.read_buf.try_reclaim(self.read_buf.capacity() + 1) {
            self.read_buf = BytesMut::new();
        }
    }

    fn handle_event(&mut self, ev: ConnEvent) -> Option<Exit> {
        match ev {
            ConnEvent::Deliver(d) => {
                self.deliver(d);
                None
            }
            ConnEvent::ConsumerCancelled { channel, tag } => {
                if let Some(ch) = self.channels.get_mut(&channel) {
                    if ch.consumers.remove(&tag).is_some() && self.cancel_notify && !ch.closing {
                        let cancel = Method::BasicCancel(warren_codec::generated::BasicCancel {
                            consumer_tag: tag,
                            nowait: true,
                        });
                        self.send_method(channel, &cancel);
                    }
                }
                None
            }
            ConnEvent::Persisted {
                ok,
                confirms,
                commits,
            } => self.persisted(ok, confirms, commits),
            ConnEvent::DirectReply {
                channel,
                key,
                message,
            } => {
                self.deliver_reply(channel, key, message);
                None
            }
            // The window filled and reopened between two turns of this loop (a client reading
            // fast): the top never saw it full, but the queues stopped offering.
            ConnEvent::WindowReopened => {
                self.offer_again();
                None
            }
            ConnEvent::Shutdown => Some(Exit::Close(AmqpError::new(
                warren_codec::ReplyCode::ConnectionForced,
                "broker forced connection closure with reason 'shutdown'",
            ))),
            ConnEvent::ForceClose { reason } => Some(Exit::Close(AmqpError::new(
                warren_codec::ReplyCode::ConnectionForced,
                reason,
            ))),
            ConnEvent::Inspect(reply) => {
                let _ = reply.send(self.snapshot());
                None
            }
        }
    }
}
