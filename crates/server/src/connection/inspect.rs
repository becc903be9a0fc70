//! What the admin facade sees of a connection's channels: a snapshot taken by the connection
//! task itself when asked (`ConnEvent::Inspect`), so no publish or delivery path pays for it.

use super::Connection;
use crate::info::{ChannelInfo, ConnectionSnapshot};

impl Connection {
    /// Its channels and its socket traffic.
    pub(super) fn snapshot(&self) -> ConnectionSnapshot {
        ConnectionSnapshot {
            channels: self.channel_infos(),
            octets: self.octets,
        }
    }

    /// One entry per open channel, by channel number.
    pub(super) fn channel_infos(&self) -> Vec<ChannelInfo> {
        let mut out: Vec<ChannelInfo> = self
            .channels
            .values()
            .map(|ch| ChannelInfo {
                number: ch.id,
                consumers: ch.consumers.len(),
                unacked: ch.unacked.len(),
                prefetch: ch.consumer_prefetch,
                confirm: ch.confirm,
                transactional: ch.tx.is_some(),
                consumer_tags: consumer_tags(&ch.consumers),
                counters: ch.counters,
            })
            .collect();
        out.sort_by_key(|c| c.number);
        out
    }
}

fn consumer_tags(
    consumers: &super::channel::FastMap<
        warren_codec::ShortStr,
        std::sync::Arc<crate::queue::Queue>,
    >,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = consumers
        .iter()
        .map(|(tag, q)| (tag.to_string_lossy().into_owned(), q.name.to_string()))
        .collect();
    out.sort();
    out
}
