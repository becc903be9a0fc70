//! Connections: list them with their channels, close one, and the broker-wide counters.
//! Channel details come from the connection task itself (`ConnEvent::Inspect`, answered
//! between two reads), so no publish or delivery path takes a lock or counts for them.

use super::{Admin, ChannelInfo, ConnectionInfo, Overview};
use crate::error::{AmqpError, AmqpResult};
use crate::info::ConnectionSnapshot;
use crate::queue::delivery::ConnEvent;
use std::time::Duration;
use tokio::sync::oneshot;

/// RabbitMQ's close text when the management plugin closes a connection without a reason.
pub const DEFAULT_CLOSE_REASON: &str = "Closed via management plugin";

/// How long a connection task has to answer; a busy one answers within a read batch.
const INSPECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Admin {
    /// Every live connection (handshake done), by id, with how many channels it has open.
    pub async fn connections(&self) -> Vec<ConnectionInfo> {
        let mut out = Vec::new();
        for (id, meta) in self.broker.connections() {
            // A connection that went away meanwhile is left out.
            let Some(snapshot) = self.ask(id).await else {
                continue;
            };
            out.push(ConnectionInfo {
                id,
                peer: meta.peer,
                user: meta.user,
                vhost: meta.vhost,
                channels: snapshot.channels.len(),
                connected_at: meta.connected_at,
                local: meta.local,
                octets: snapshot.octets,
            });
        }
        out
    }

    /// The open channels of connection `id`, by number; 404 NOT_FOUND if it is not live.
    pub async fn channels(&self, id: u64) -> AmqpResult<Vec<ChannelInfo>> {
        self.ask(id)
            .await
            .map(|s| s.channels)
            .ok_or_else(|| no_connection(id))
    }

    /// Closes connection `id` with 320 CONNECTION_FORCED and `reason` (RabbitMQ's
    /// [`DEFAULT_CLOSE_REASON`] if `None`); 404 NOT_FOUND if it is not live.
    pub fn close_connection(&self, id: u64, reason: Option<&str>) -> AmqpResult<()> {
        let reason = reason.unwrap_or(DEFAULT_CLOSE_REASON).to_string();
        if self
            .broker
            .send_to_connection(id, ConnEvent::ForceClose { reason })
        {
            Ok(())
        } else {
            Err(no_connection(id))
        }
    }

    /// Broker-wide counts now: connections and their channels and consumers, queues and
    /// exchanges of every vhost, ready, unacked and delayed messages.
    pub async fn overview(&self) -> Overview {
        let mut o = Overview {
            flow_pauses: self.broker.flow_pauses(),
            ..Overview::default()
        };
        for (id, _) in self.broker.connections() {
            if let Some(snapshot) = self.ask(id).await {
                o.connections += 1;
                o.channels += snapshot.channels.len() as u64;
            }
        }
        for v in self.broker.vhosts() {
            o.exchanges += v.exchanges().len() as u64;
            o.messages_delayed += v.delayed.len() as u64;
            for q in v.queues() {
                let (ready, unacked, consumers) = q.stats();
                o.queues += 1;
                o.messages_ready += ready as u64;
                o.messages_unacknowledged += unacked as u64;
                o.consumers += consumers as u64;
            }
        }
        o
    }

    async fn ask(&self, id: u64) -> Option<ConnectionSnapshot> {
        let (tx, rx) = oneshot::channel();
        if !self.broker.send_to_connection(id, ConnEvent::Inspect(tx)) {
            return None;
        }
        tokio::time::timeout(INSPECT_TIMEOUT, rx).await.ok()?.ok()
    }
}

fn no_connection(id: u64) -> AmqpError {
    AmqpError::not_found(format!("no connection {id}"))
}
