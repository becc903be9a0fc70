//! One client connection: the protocol header, the handshake (start / tune / open), then the
//! main loop that reads frames, runs channel methods, writes deliveries and heartbeats, and
//! finally gives back everything the connection held.
//!
//! One task owns the socket's read half and every channel's state. Output goes through the
//! [`outbox`]: straight to the socket when it takes it, else queued for a writer task, so the
//! connection task never waits on a write. Deliveries are bounded by prefetch credit, not by
//! that queue.

mod authz;
mod channel;
mod closing;
mod confirm_tracker;
mod confirms;
mod consume;
mod consumer_timeout;
mod direct_reply;
mod dispatch;
mod event_loop;
mod external;
mod frames;
mod handshake;
mod inspect;
mod outbox;
mod publish;
mod settle;
mod tally;
mod topology;
mod transport;
mod tx;

use crate::broker::Broker;
use crate::credit::{Credit, DELIVERY_WINDOW};
use crate::error::AmqpError;
use crate::flow::FlowWatch;
use crate::ids::ConnectionId;
use crate::queue::delivery::ConnEvent;
use crate::vhost::Vhost;
use bytes::BytesMut;
use channel::Channel;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};
use transport::Reader;
pub(crate) use transport::Stream;
use warren_codec::frame::{self, FrameDecoder};
use warren_codec::generated::ConnectionCloseOk;
use warren_codec::Method;

/// Read buffer growth: an idle connection keeps a small buffer (memory per connection is a
/// target); one whose reads fill the buffer doubles its chunk up to the maximum.
const READ_CHUNK_MIN: usize = 4 * 1024;
const READ_CHUNK_MAX: usize = 256 * 1024;

/// Why the main loop ended.
enum Exit {
    /// The peer went away (or stopped sending heartbeats).
    Done,
    /// The client closed and has its close-ok: read until it closes the socket.
    Closed,
    /// A hard error: send connection.close and wait for close-ok.
    Close(AmqpError),
}

struct Connection {
    id: ConnectionId,
    broker: Arc<Broker>,
    peer: SocketAddr,
    vhost: Arc<Vhost>,
    /// The logged-in user and its permissions here.
    authz: authz::Authz,
    /// Open channels, shared with the broker's view of this connection (`max-channels`).
    channel_count: Arc<std::sync::atomic::AtomicU32>,
    reader: Reader,
    read_buf: BytesMut,
    decoder: FrameDecoder,
    /// Encoded output not yet handed to the writer task.
    out: BytesMut,
    /// How much of the delivery window the deliveries in `out` hold (returned on flush).
    out_window: u32,
    /// The delivery window its consumers share (`credit::DELIVERY_WINDOW`).
    window: Arc<Credit>,
    /// The window was seen full and its queues have not been told since it has room again.
    window_starved: bool,
    writer: outbox::Outbox,
    /// Publishing paused (flow control): read nothing until it changes.
    flow: FlowWatch,
    events_tx: mpsc::UnboundedSender<ConnEvent>,
    frame_max: u32,
    channel_max: u16,
    heartbeat: Duration,
    /// Boxed: a `Channel` is several hundred bytes and the map allocates room for a few
    /// entries at once, which for the common one-channel connection was most of its size.
    channels: channel::FastMap<u16, Box<Channel>>,
    /// Reused by the publish path for routing results.
    route_buf: Vec<Arc<crate::queue::Queue>>,
    /// Client advertised consumer_cancel_notify.
    cancel_notify: bool,
    /// Client advertised connection.blocked (resource alarms, see `crate::flow`).
    blocked_notify: bool,
    /// This turn's time, stamped on its deliveries (0: not read yet this turn).
    turn_ms: u64,
    /// This turn's message counts, added to the vhost's at the next turn (`tally`).
    tally: tally::Tally,
    /// Socket traffic, for the management API.
    octets: crate::info::Octets,
    /// The consumer-timeout check, armed while deliveries wait for acks.
    timeout_check: consumer_timeout::TimeoutCheck,
    /// A publish blocked the connection (an alarm) with frames still in the read buffer:
    /// they are handled once it is unblocked.
    frames_held: bool,
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
    /// Resolves when the newest store-write waiter has reported: the next one reports after
    /// it, so `Persisted` events arrive in write order (their confirms rely on that).
    last_persisted: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// Serves one accepted socket until it closes. Never panics on client input.
pub(crate) async fn serve(broker: Arc<Broker>, stream: Stream, peer: SocketAddr) {
    let tls = stream.tls_peer();
    let local = stream.local_addr();
    let (reader, writer_half) = stream.split();
    let window = Credit::new(DELIVERY_WINDOW);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (writer, writer_task) = outbox::Outbox::start(
        writer_half,
        window.clone(),
        events_tx.clone(),
        broker.tasks(),
    );
    let hs = match handshake::run(&broker, reader, peer, &writer, tls.as_ref()).await {
        Ok(hs) => hs,
        Err(closing) => {
            // A lingering socket holds nothing of the broker.
            let tasks = broker.tasks().clone();
            drop(broker);
            if let Some(closing) = closing {
                tasks.linger(closing.finish()).await;
            }
            drop(writer);
            let _ = writer_task.await;
            return;
        }
    };
    let mut meta = crate::broker::ConnectionMeta::now(peer, &hs.user.name, &hs.vhost.name);
    meta.local = local;
    let channel_count = meta.channels.clone();
    let id = broker.register_connection(events_tx.clone(), meta);
    let authz = authz::Authz::new(hs.user.clone(), hs.vhost.name.clone(), broker.access());
    info!(connection = id, %peer, user = %hs.user.name, vhost = %hs.vhost.name, "connection opened");
    let mut conn = Connection {
        id,
        broker: broker.clone(),
        peer,
        vhost: hs.vhost,
        authz,
        channel_count,
        reader: hs.reader,
        read_buf: hs.read_buf,
        decoder: FrameDecoder::new(hs.frame_max),
        // Grows on first use: idle connections hold no output buffer.
        out: BytesMut::new(),
        out_window: 0,
        window,
        window_starved: false,
        writer,
        flow: broker.flow().subscribe(),
        events_tx,
        frame_max: hs.frame_max,
        channel_max: hs.channel_max,
        heartbeat: Duration::from_secs(u64::from(hs.heartbeat)),
        channels: channel::FastMap::default(),
        route_buf: Vec::new(),
        cancel_notify: hs.cancel_notify,
        blocked_notify: hs.blocked_notify,
        frames_held: false,
        turn_ms: 0,
        tally: tally::Tally::default(),
        octets: crate::info::Octets::default(),
        timeout_check: None,
        last_read: Instant::now(),
        last_write: Instant::now(),
        read_chunk: READ_CHUNK_MIN,
        store_reply: None,
        store_written: Vec::new(),
        store_submits: 0,
        commits_waiting: Vec::new(),
        syncs_in_flight: 0,
        last_persisted: None,
    };
    let mut events_rx = events_rx;
    let exit = conn.run(&mut events_rx).await;
    let client_closed = matches!(exit, Exit::Closed);
    // Whether to wait for the client, and whether its frames can still be decoded.
    let wait = match exit {
        Exit::Done => None,
        Exit::Closed => Some(true),
        Exit::Close(err) => Some(conn.send_close(err)),
    };
    conn.cleanup();
    consume::return_pending(&mut events_rx);
    if client_closed {
        // As RabbitMQ: the channels are gone (unacked messages requeued) before the client
        // hears close-ok.
        conn.send_method(0, &Method::ConnectionCloseOk(ConnectionCloseOk {}));
        conn.flush();
    }
    broker.unregister_connection(id);
    info!(connection = id, %peer, "connection closed");
    let timeout = broker.config.closing_timeout;
    // A lingering socket holds nothing of the broker.
    let tasks = broker.tasks().clone();
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
        tasks.linger(closing.finish()).await;
    } else {
        drop(conn);
    }
    let _ = writer_task.await;
}

impl Connection {
    fn send_method(&mut self, channel: u16, method: &Method) {
        frame::encode_method(channel, method, &mut self.out);
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
    fn into_closing(self) -> (Reader, BytesMut, FrameDecoder, outbox::Outbox) {
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
        self.tally.flush(&self.vhost);
        let mut channels: Vec<Box<Channel>> = self.channels.drain().map(|(_, c)| c).collect();
        for ch in &mut channels {
            self.release_channel(ch);
        }
        self.vhost.connection_closed(self.id);
    }
}
