//! Per-channel state owned by the connection task: the content assembler, unacked deliveries,
//! consumers, prefetch, confirm and transaction modes.

use super::authz::PermissionCache;
use super::confirm_tracker::ConfirmTracker;
use crate::credit::Credit;
use crate::info::ChannelCounters;
use crate::message::{Message, Route};
use crate::queue::Queue;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use warren_codec::generated::BasicPublish;
use warren_codec::{ContentHeader, ShortStr};

/// The maps a connection reads for every message (channels by number, a channel's consumers by
/// tag): foldhash, seeded per process like std's, at a fraction of SipHash's cost.
pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The three-state content assembler: method, then header, then body bytes.
///
/// Not boxed: it lives in the channel for the whole connection, so its size costs nothing per
/// message, while a box would cost an allocation per publish.
#[derive(Debug, Default)]
#[allow(clippy::large_enum_variant)]
pub(super) enum Assembly {
    #[default]
    Idle,
    /// basic.publish seen; the content header comes next.
    Header(BasicPublish),
    /// Header seen; `remaining` body bytes to go.
    Body {
        publish: BasicPublish,
        header: Box<ContentHeader>,
        body: BodyParts,
        remaining: u64,
    },
}

/// Body frames as received, views of the read buffer: they are copied once, straight into the
/// message (`Message::from_pieces`), so several frames are never joined first. One frame, the
/// common case, needs no `Vec`.
#[derive(Debug, Default)]
pub(super) enum BodyParts {
    #[default]
    Empty,
    One(Bytes),
    Many(Vec<Bytes>),
}

impl BodyParts {
    pub(super) fn push(&mut self, part: Bytes) {
        *self = match std::mem::take(self) {
            BodyParts::Empty => BodyParts::One(part),
            BodyParts::One(first) => BodyParts::Many(vec![first, part]),
            BodyParts::Many(mut parts) => {
                parts.push(part);
                BodyParts::Many(parts)
            }
        }
    }

    /// The frames' payloads in order.
    pub(super) fn pieces(&self) -> &[Bytes] {
        match self {
            BodyParts::Empty => &[],
            BodyParts::One(b) => std::slice::from_ref(b),
            BodyParts::Many(parts) => parts,
        }
    }
}

/// A delivery awaiting ack, nack or reject.
#[derive(Debug)]
pub(super) struct Unacked {
    pub(super) tag: u64,
    pub(super) queue: Arc<Queue>,
    pub(super) seq: u64,
    pub(super) credits: Option<(Arc<Credit>, Arc<Credit>)>,
    /// When it was sent, in ms since the epoch (`crate::clock`): the consumer timeout.
    pub(super) delivered_at: u64,
}

/// A publish held back until tx.commit.
#[derive(Debug)]
pub(super) struct PendingPublish {
    pub(super) publish: BasicPublish,
    pub(super) message: Message,
    /// Decoded headers, for routing at commit.
    pub(super) headers: Option<warren_codec::FieldTable>,
}

/// What a transaction has collected.
#[derive(Debug, Default)]
pub(super) struct Transaction {
    pub(super) publishes: Vec<PendingPublish>,
    /// (delivery tag, multiple, kind) in arrival order.
    pub(super) settlements: Vec<(u64, bool, Settle)>,
}

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settle {
    Ack,
    Requeue,
    Discard,
}

/// A channel's direct reply-to consumer: its tag and the random key in its reply address.
#[derive(Debug)]
pub(super) struct ReplyConsumer {
    pub(super) tag: ShortStr,
    pub(super) key: u64,
}

#[derive(Debug)]
pub(super) struct Channel {
    pub(super) id: u16,
    /// We sent channel.close and wait for close-ok: everything else is dropped.
    pub(super) closing: bool,
    pub(super) assembly: Assembly,
    pub(super) next_tag: u64,
    /// Sorted by tag (tags are issued in increasing order).
    pub(super) unacked: VecDeque<Unacked>,
    /// consumer tag → queue.
    pub(super) consumers: FastMap<ShortStr, Arc<Queue>>,
    /// basic.qos global=false: prefetch for consumers created from now on.
    pub(super) consumer_prefetch: u32,
    /// basic.qos global=true: shared by all consumers of the channel.
    pub(super) channel_credit: Arc<Credit>,
    /// The last queue declared on the channel ("" in later methods means this one).
    pub(super) last_queue: Option<String>,
    pub(super) confirm: bool,
    /// Has published: counted among the broker's publishers until it closes.
    pub(super) published: bool,
    /// Publish sequence numbers and what is settled (confirm mode).
    pub(super) confirms: ConfirmTracker,
    /// The consumer of `amq.rabbitmq.reply-to` on this channel (direct reply-to).
    pub(super) reply_consumer: Option<ReplyConsumer>,
    pub(super) tx: Option<Transaction>,
    /// The route of the last publish: publishers mostly repeat exchange and routing key, and
    /// their messages then share one [`Route`] instead of holding a copy each.
    pub(super) last_route: Option<Route>,
    /// What this channel was allowed since the permissions last changed.
    pub(super) permission_cache: PermissionCache,
    /// Its `message_stats`.
    pub(super) counters: ChannelCounters,
}

impl Channel {
    pub(super) fn new(id: u16) -> Channel {
        Channel {
            id,
            closing: false,
            assembly: Assembly::Idle,
            next_tag: 1,
            unacked: VecDeque::new(),
            consumers: FastMap::default(),
            consumer_prefetch: 0,
            channel_credit: Credit::new(0),
            last_queue: None,
            confirm: false,
            published: false,
            confirms: ConfirmTracker::default(),
            reply_consumer: None,
            tx: None,
            last_route: None,
            permission_cache: PermissionCache::default(),
            counters: ChannelCounters::default(),
        }
    }

    /// Removes and returns the deliveries a settlement of `tag` covers, or `None` if the tag
    /// is unknown (RabbitMQ's 406). `multiple` with tag 0 means every outstanding delivery.
    pub(super) fn take_unacked(&mut self, tag: u64, multiple: bool) -> Option<Vec<Unacked>> {
        if multiple {
            if tag == 0 {
                return Some(self.unacked.drain(..).collect());
            }
            let end = self.unacked.partition_point(|u| u.tag <= tag);
            if end == 0 {
                return None;
            }
            return Some(self.unacked.drain(..end).collect());
        }
        let pos = self.unacked.binary_search_by_key(&tag, |u| u.tag).ok()?;
        self.unacked.remove(pos).map(|u| vec![u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::QueueOptions;
    use warren_codec::FieldTable;

    fn chan_with(tags: &[u64]) -> Channel {
        let q = Queue::new(
            "q",
            "/".into(),
            QueueOptions {
                durable: false,
                exclusive_owner: None,
                auto_delete: false,
                arguments: FieldTable::new(),
            },
        );
        let mut ch = Channel::new(1);
        for &tag in tags {
            ch.unacked.push_back(Unacked {
                tag,
                queue: q.clone(),
                seq: tag,
                credits: None,
                delivered_at: 0,
            });
        }
        ch.next_tag = tags.last().map_or(1, |t| t + 1);
        ch
    }

    #[test]
    fn single_settlement_finds_the_tag() {
        let mut ch = chan_with(&[1, 2, 3]);
        assert_eq!(ch.take_unacked(2, false).unwrap()[0].tag, 2);
        assert!(
            ch.take_unacked(2, false).is_none(),
            "double ack must be unknown"
        );
        assert_eq!(ch.unacked.len(), 2);
    }

    #[test]
    fn multiple_takes_everything_up_to_the_tag() {
        let mut ch = chan_with(&[1, 2, 3, 5]);
        let got: Vec<u64> = ch
            .take_unacked(3, true)
            .unwrap()
            .iter()
            .map(|u| u.tag)
            .collect();
        assert_eq!(got, vec![1, 2, 3]);
        assert_eq!(ch.unacked.len(), 1);
        assert!(
            ch.take_unacked(4, true).is_none(),
            "nothing outstanding at or below 4"
        );
        assert_eq!(ch.take_unacked(0, true).unwrap().len(), 1);
    }

    #[test]
    fn body_parts_keep_a_single_frame_as_a_view() {
        let frame = Bytes::from_static(b"hello");
        let mut parts = BodyParts::default();
        parts.push(frame.clone());
        let [body] = parts.pieces() else { panic!() };
        assert_eq!(body.as_ptr(), frame.as_ptr());
        let mut parts = BodyParts::default();
        parts.push(Bytes::from_static(b"ab"));
        parts.push(Bytes::from_static(b"cd"));
        parts.push(Bytes::from_static(b"e"));
        assert_eq!(parts.pieces().concat(), b"abcde");
    }
}
