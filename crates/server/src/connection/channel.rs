//! Per-channel state owned by the connection task: the content assembler, unacked deliveries,
//! consumers, prefetch, confirm and transaction modes.

use crate::events::Credit;
use crate::message::{Message, Route};
use crate::queue::Queue;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use warren_codec::generated::BasicPublish;
use warren_codec::{ContentHeader, ShortStr};

/// The three-state content assembler: method, then header, then body bytes.
///
/// Not boxed: it lives in the channel for the whole connection, so its size costs nothing per
/// message, while a box would cost an allocation per publish.
#[derive(Debug, Default)]
#[allow(clippy::large_enum_variant)]
pub enum Assembly {
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
pub enum BodyParts {
    #[default]
    Empty,
    One(Bytes),
    Many(Vec<Bytes>),
}

impl BodyParts {
    pub fn push(&mut self, part: Bytes) {
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
    pub fn pieces(&self) -> &[Bytes] {
        match self {
            BodyParts::Empty => &[],
            BodyParts::One(b) => std::slice::from_ref(b),
            BodyParts::Many(parts) => parts,
        }
    }
}

/// A delivery awaiting ack, nack or reject.
#[derive(Debug)]
pub struct Unacked {
    pub tag: u64,
    pub queue: Arc<Queue>,
    pub seq: u64,
    pub credits: Option<(Arc<Credit>, Arc<Credit>)>,
}

/// A publish held back until tx.commit.
#[derive(Debug)]
pub struct PendingPublish {
    pub publish: BasicPublish,
    pub message: Message,
    /// Decoded headers, for routing at commit.
    pub headers: Option<warren_codec::FieldTable>,
}

/// What a transaction has collected.
#[derive(Debug, Default)]
pub struct Transaction {
    pub publishes: Vec<PendingPublish>,
    /// (delivery tag, multiple, kind) in arrival order.
    pub settlements: Vec<(u64, bool, Settle)>,
}

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Ack,
    Requeue,
    Discard,
}

/// A channel's direct reply-to consumer: its tag and the random key in its reply address.
#[derive(Debug)]
pub struct ReplyConsumer {
    pub tag: ShortStr,
    pub key: u64,
}

#[derive(Debug)]
pub struct Channel {
    pub id: u16,
    /// We sent channel.close and wait for close-ok: everything else is dropped.
    pub closing: bool,
    pub assembly: Assembly,
    pub next_tag: u64,
    /// Sorted by tag (tags are issued in increasing order).
    pub unacked: VecDeque<Unacked>,
    /// consumer tag → queue.
    pub consumers: HashMap<ShortStr, Arc<Queue>>,
    /// basic.qos global=false: prefetch for consumers created from now on.
    pub consumer_prefetch: u32,
    /// basic.qos global=true: shared by all consumers of the channel.
    pub channel_credit: Arc<Credit>,
    /// The last queue declared on the channel ("" in later methods means this one).
    pub last_queue: Option<String>,
    pub confirm: bool,
    /// Publish sequence number of the next confirmable publish (starts at 1).
    pub next_publish_seq: u64,
    /// Highest publish sequence number already acked to the client.
    pub confirmed_upto: u64,
    /// Publishes above `confirmed_upto` already nacked on their own (refused by a queue).
    pub nacked: Vec<u64>,
    /// The consumer of `amq.rabbitmq.reply-to` on this channel (direct reply-to).
    pub reply_consumer: Option<ReplyConsumer>,
    pub tx: Option<Transaction>,
    /// The route of the last publish: publishers mostly repeat exchange and routing key, and
    /// their messages then share one [`Route`] instead of holding a copy each.
    pub last_route: Option<Route>,
}

impl Channel {
    pub fn new(id: u16) -> Channel {
        Channel {
            id,
            closing: false,
            assembly: Assembly::Idle,
            next_tag: 1,
            unacked: VecDeque::new(),
            consumers: HashMap::new(),
            consumer_prefetch: 0,
            channel_credit: Credit::new(0),
            last_queue: None,
            confirm: false,
            next_publish_seq: 1,
            confirmed_upto: 0,
            nacked: Vec::new(),
            reply_consumer: None,
            tx: None,
            last_route: None,
        }
    }

    /// Removes and returns the deliveries a settlement of `tag` covers, or `None` if the tag
    /// is unknown (RabbitMQ's 406). `multiple` with tag 0 means every outstanding delivery.
    pub fn take_unacked(&mut self, tag: u64, multiple: bool) -> Option<Vec<Unacked>> {
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
