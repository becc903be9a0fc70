//! One client connection: the protocol header, the handshake (start / tune / open), then the
//! main loop that reads frames, runs channel methods, writes deliveries and heartbeats, and
//! finally gives back everything the connection held.
//!
//! One task owns the socket's read half and every channel's state. Output goes through the
//! [`outbox`]: straight to the socket when it takes it, else queued for a writer task, so the
//! connection task never waits on a write. Deliveries are bounded by prefetch credit, not by
//! that queue.

mod channel;
mod closing;
mod direct_reply;
mod handlers;
mod handshake;
mod outbox;

use crate::broker::Broker;
use crate::error::AmqpError;
use crate::events::{ConnEvent, Credit, DELIVERY_WINDOW};
use crate::ids::ConnectionId;
use crate::vhost::Vhost;
use bytes::BytesMut;
use channel::Channel;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use warren_codec::frame::{self, FrameDecoder};
use warren_codec::generated::ConnectionCloseOk;
use warren_codec::{Frame, Method};

/// Read buffer growth: an idle connection keeps a small buffer (memory per connection is a
/// target); one whose reads fill the buffer doubles its chunk up to the maximum.
const READ_CHUNK_MIN: usize = 4 * 1024;
const READ_CHUNK_MAX: usize = 256 * 1024;
/// How often a connection paused by flow control looks again.
const FLOW_RECHECK: Duration = Duration::from_millis(2);

/// Why the main loop ended.
enum Exit {
    /// The peer went away (or stopped sending heartbeats).
    Done,
    /// The client closed and has its close-ok: read until it closes the socket.
    Closed,
    /// A hard error: send connection.close and wait for close-ok.
    Close(AmqpError),
}

pub(crate) struct Connection {
    id: ConnectionId,
    broker: Arc<Broker>,
    peer: SocketAddr,
    vhost: Arc<Vhost>,
    #[allow(dead_code)] // kept for logs and the coming access control
    user: String,
    reader: OwnedReadHalf,
    read_buf: BytesMut,
    decoder: FrameDecoder,
    /// Encoded output not yet handed to the writer task.
    out: BytesMut,
    /// How much of the delivery window the deliveries in `out` hold (returned on flush).
    out_window: u32,
    /// The delivery window its consumers share (`events::DELIVERY_WINDOW`).
    window: Arc<Credit>,
    /// The window was seen full and its queues have not been told since it has room again.
    window_starved: bool,
    writer: outbox::Outbox,
    events_tx: mpsc::UnboundedSender<ConnEvent>,
    frame_max: u32,
    channel_max: u16,
    heartbeat: Duration,
    /// Boxed: a `Channel` is several hundred bytes and the map allocates room for a few
    /// entries at once, which for the common one-channel connection was most of its size.
    channels: HashMap<u16, Box<Channel>>,
    /// Reused by the publish path for routing results.
    route_buf: Vec<Arc<crate::queue::Queue>>,
    /// Client advertised consumer_cancel_notify.
    cancel_notify: bool,
    last_read: Instant,
    last_write: Instant,
    /// Current read-buffer growth step (adaptive, see `READ_CHUNK_MIN`).
    read_chunk: usize,
    /// The store's reply to the last persistent publish of the current read batch; one
    /// writer answers in order, so it stands for every earlier one too.
    store_reply: Option<warren_store::Reply>,
    /// (queue, seq) written by this batch's persistent publishes (paging needs to know).
    store_written: Vec<(Arc<crate::queue::Queue>, u64)>,
    /// How many persistent publishes were submitted (tx.commit checks if it had any).
    store_submits: u64,
    /// Channels whose tx.commit-ok waits for this batch's write.
    commits_waiting: Vec<u16>,
    /// Batches whose store write is still outstanding: confirms wait for them, in order.
    syncs_in_flight: u32,
}

/// Serves one accepted socket until it closes. Never panics on client input.
pub async fn serve(broker: Arc<Broker>, socket: TcpStream, peer: SocketAddr) {
    let _ = socket.set_nodelay(true);
    let (reader, writer_half) = socket.into_split();
    let window = Credit::new(DELIVERY_WINDOW);
    let (writer, writer_task) = outbox::Outbox::start(writer_half, window.clone());
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let hs = match handshake::run(&broker, reader, peer, &writer).await {
        Ok(hs) => hs,
        Err(closing) => {
            // A lingering socket holds nothing of the broker (shutdown waits for that).
            drop(broker);
            if let Some(closing) = closing {
                closing.finish().await;
            }
            drop(writer);
            let _ = writer_task.await;
            return;
        }
    };
    let id = broker.register_connection(events_tx.clone());
    info!(connection = id, %peer, user = %hs.user, vhost = %hs.vhost.name, "connection opened");
    let mut conn = Connection {
        id,
        broker: broker.clone(),
        peer,
        vhost: hs.vhost,
        user: hs.user,
        reader: hs.reader,
        read_buf: hs.read_buf,
        decoder: FrameDecoder::new(hs.frame_max),
        // Grows on first use: idle connections hold no output buffer.
        out: BytesMut::new(),
        out_window: 0,
        window,
        window_starved: false,
        writer,
        events_tx,
        frame_max: hs.frame_max,
        channel_max: hs.channel_max,
        heartbeat: Duration::from_secs(u64::from(hs.heartbeat)),
        channels: HashMap::new(),
        route_buf: Vec::new(),
        cancel_notify: hs.cancel_notify,
        last_read: Instant::now(),
        last_write: Instant::now(),
        read_chunk: READ_CHUNK_MIN,
        store_reply: None,
        store_written: Vec::new(),
        store_submits: 0,
        commits_waiting: Vec::new(),
        syncs_in_flight: 0,
    };
    let exit = conn.run(events_rx).await;
    // Whether to wait for the client, and whether its frames can still be decoded.
    let wait = match exit {
        Exit::Done => None,
        Exit::Closed => Some(true),
        Exit::Close(err) => Some(conn.send_close(err)),
    };
    conn.cleanup();
    broker.unregister_connection(id);
    info!(connection = id, %peer, "connection closed");
    let timeout = broker.config.closing_timeout;
    // A lingering socket holds nothing of the broker (shutdown waits for that).
    drop(broker);
    if let Some(trust_frames) = wait {
        let (reader, buf, decoder, writer) = conn.into_closing();
        let closing = closing::Closing {
            reader,
            buf,
            decoder,
            writer: &writer,
            timeout,
            trust_frames,
        };
        closing.finish().await;
    } else {
        drop(conn);
    }
    let _ = writer_task.await;
}

impl Connection {
    fn flush(&mut self) {
        if !self.out.is_empty() || self.out_window > 0 {
            // The whole buffer goes, not just its filled part: a split would leave the spare
            // capacity (and so the allocation) with an idle connection.
            let chunk = std::mem::take(&mut self.out).freeze();
            if !chunk.is_empty() {
                self.last_write = Instant::now();
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

    pub(crate) fn send_method(&mut self, channel: u16, method: &Method) {
        frame::encode_method(channel, method, &mut self.out);
    }

    async fn run(&mut self, mut events: mpsc::UnboundedReceiver<ConnEvent>) -> Exit {
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
            let flow_paused = self.broker.flow_paused();
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
                _ = tokio::time::sleep(FLOW_RECHECK), if flow_paused => {
                    // Not reading counts as hearing from the client: the pause is ours.
                    self.last_read = Instant::now();
                }
                // Wakes the loop, whose top tells the queues if the window has room again.
                _ = self.writer.drained(), if wait_for_socket => {
                    self.last_read = Instant::now();
                }
                // The window filled and reopened between two turns of this loop (a client
                // reading fast): the top never saw it full, but the queues stopped offering.
                _ = self.writer.window_reopened() => {
                    self.offer_again();
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
                _ = ticker.tick() => {
                    if congested {
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

    /// Decodes and handles every complete frame in the read buffer.
    fn process_buffer(&mut self) -> Option<Exit> {
        loop {
            let frame = match self.decoder.decode(&mut self.read_buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Some(Exit::Close(e.into())),
            };
            if let Some(exit) = self.handle_frame(frame) {
                return Some(exit);
            }
        }
        self.finish_confirms();
        None
    }

    fn handle_frame(&mut self, frame: Frame) -> Option<Exit> {
        match frame {
            Frame::Heartbeat => None,
            Frame::Method { channel: 0, method } => self.handle_connection_method(method),
            Frame::Method { channel, method } => {
                let ids = (method.class_id(), method.method_id());
                match self.handle_channel_method(channel, method) {
                    Ok(()) => None,
                    Err(e) => self.fail(channel, e.with_default_ids(ids)),
                }
            }
            Frame::Header { channel: 0, .. } | Frame::Body { channel: 0, .. } => Some(Exit::Close(
                AmqpError::unexpected_frame("expected method frame, got non method frame instead"),
            )),
            Frame::Header { channel, header } => match self.handle_header(channel, header) {
                Ok(()) => None,
                Err(e) => self.fail(channel, e),
            },
            Frame::Body { channel, payload } => match self.handle_body(channel, payload) {
                Ok(()) => None,
                Err(e) => self.fail(channel, e),
            },
        }
    }

    /// Turns a handler error into a channel close (soft) or a connection close (hard).
    fn fail(&mut self, channel: u16, err: AmqpError) -> Option<Exit> {
        if err.is_hard() {
            return Some(Exit::Close(err));
        }
        debug!(connection = self.id, channel, error = %err, "channel error");
        self.send_method(channel, &err.to_channel_close());
        if let Some(mut ch) = self.channels.remove(&channel) {
            self.release_channel(&mut ch);
            ch.closing = true;
            self.channels.insert(channel, ch);
        }
        None
    }

    fn handle_connection_method(&mut self, method: Method) -> Option<Exit> {
        match method {
            Method::ConnectionClose(_) => {
                // As RabbitMQ: the channels are gone (unacked messages requeued) before the
                // client hears close-ok.
                self.cleanup();
                self.send_method(0, &Method::ConnectionCloseOk(ConnectionCloseOk {}));
                self.flush();
                Some(Exit::Closed)
            }
            Method::ConnectionUpdateSecret(_) => {
                self.send_method(
                    0,
                    &Method::ConnectionUpdateSecretOk(
                        warren_codec::generated::ConnectionUpdateSecretOk {},
                    ),
                );
                None
            }
            // Anything else on channel 0 of an open connection, close-ok included (our own
            // close waits for its close-ok in `close_with`, not here): RabbitMQ's
            // `handle_method0` fallback, a 504 connection error.
            other => Some(Exit::Close(
                AmqpError::channel_error("unexpected method in connection state running")
                    .on(&other),
            )),
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
            ConnEvent::Shutdown => Some(Exit::Close(AmqpError::new(
                warren_codec::ReplyCode::ConnectionForced,
                "broker forced connection closure with reason 'shutdown'",
            ))),
        }
    }

    /// Sends connection.close; `false` after a framing error, whose stream cannot be
    /// trusted to find the client's close-ok in.
    fn send_close(&mut self, err: AmqpError) -> bool {
        if err.code != warren_codec::ReplyCode::ConnectionForced {
            warn!(connection = self.id, peer = %self.peer, error = %err, "closing connection");
        }
        let framing = matches!(err.code as u16, 501 | 502);
        self.send_method(0, &err.to_connection_close());
        self.flush();
        !framing
    }

    /// What the closing connection still needs; the rest (the broker included) is dropped.
    fn into_closing(self) -> (OwnedReadHalf, BytesMut, FrameDecoder, outbox::Outbox) {
        let Connection {
            reader,
            read_buf,
            decoder,
            writer,
            ..
        } = self;
        (reader, read_buf, decoder, writer)
    }

    /// Returns every unacked delivery and consumer of every channel; deletes exclusive queues.
    fn cleanup(&mut self) {
        let mut channels: Vec<Box<Channel>> = self.channels.drain().map(|(_, c)| c).collect();
        for ch in &mut channels {
            self.release_channel(ch);
        }
        self.vhost.connection_closed(self.id);
    }
}

impl AmqpError {
    /// Fills in the failing method's ids when the handler did not.
    pub(crate) fn with_default_ids(self, (class_id, method_id): (u16, u16)) -> AmqpError {
        if self.class_id == 0 {
            self.with_ids(class_id, method_id)
        } else {
            self
        }
    }
}
