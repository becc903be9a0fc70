//! What queues and the broker send to a connection task: deliveries, consumer cancels,
//! shutdown, direct replies and store-write completions. A [`Delivery`] names its [`Queue`]
//! (how the connection settles it), so these events sit in the queue room.

use super::Queue;
use crate::credit::Credit;
use crate::message::Message;
use std::sync::Arc;
use warren_codec::ShortStr;

/// One message handed to a consumer's connection.
#[derive(Debug)]
pub struct Delivery {
    pub channel: u16,
    pub consumer_tag: ShortStr,
    pub queue: Arc<Queue>,
    /// The queue's sequence number for the message (how the queue finds it again on ack).
    pub seq: u64,
    pub message: Message,
    pub redelivered: bool,
    pub no_ack: bool,
    /// Credits to return on ack/nack/reject (none for no-ack deliveries).
    pub credits: Option<(Arc<Credit>, Arc<Credit>)>,
}

/// Events for a connection task.
#[derive(Debug)]
pub enum ConnEvent {
    Deliver(Delivery),
    /// The queue behind a consumer went away: tell the client with basic.cancel.
    ConsumerCancelled {
        channel: u16,
        tag: ShortStr,
    },
    /// The broker is shutting down: close with 320 CONNECTION_FORCED.
    Shutdown,
    /// The connection's writer task gave back enough of a full delivery window to reopen it:
    /// the queues that stopped offering to its consumers must be told.
    WindowReopened,
    /// An operator closes this connection (the admin facade): 320 CONNECTION_FORCED with
    /// this text.
    ForceClose {
        reason: String,
    },
    /// The admin facade asks for this connection's channels.
    Inspect(tokio::sync::oneshot::Sender<crate::info::ConnectionSnapshot>),
    /// A reply published to this connection's direct reply-to address (`key` must match the
    /// channel's current reply consumer).
    DirectReply {
        channel: u16,
        key: u64,
        message: Message,
    },
    /// A batch of persistent publishes reached the store (synced, for confirm and tx
    /// channels), or the store failed (`ok` false). Sent by the connection's own waiter.
    Persisted {
        ok: bool,
        /// (channel, publish seq) confirm acks this write makes due.
        confirms: Vec<(u16, u64)>,
        /// Channels whose tx.commit-ok waited for this write.
        commits: Vec<u16>,
    },
}
