//! The admin facade: the one public way into a running broker besides AMQP itself, for the
//! management crate, the CLI and tests. [`Admin`] lists and inspects vhosts, queues,
//! exchanges and bindings, declares and deletes them through the same vhost methods clients
//! reach (so RabbitMQ's checks and reply texts apply), purges, gets and publishes messages,
//! lists connections with their channels, closes connections, snapshots counters
//! (message rates and lifecycle counts for metrics: [`stats`](self::stats)), manages
//! users, vhosts, permissions and limits ([`access`](self::access)), and shows and sets the
//! resource alarms.
//! Everything it returns is owned plain data ([`types`]); errors are [`AmqpError`] values.
//!
//! The facade acts as no connection: another connection's exclusive queue is locked to it
//! (405 RESOURCE_LOCKED), as to any other client.

mod access;
mod alarms;
mod connections;
mod management;
mod messages;
mod policies;
mod stats;
mod topology;

pub use crate::info::*;
pub use crate::policy::{PolicyKind, PolicySpec};
pub use access::Credentials;
pub use connections::DEFAULT_CLOSE_REASON;

use crate::broker::Broker;
use crate::error::{AmqpError, AmqpResult};
use crate::ids::ConnectionId;
use crate::queue::Queue;
use crate::server::Server;
use crate::vhost::Vhost;
use std::sync::Arc;

/// The connection id the facade acts as: real connections are numbered from 1.
const ADMIN_CONNECTION: ConnectionId = 0;

/// A handle on a running broker's administration; cheap to clone.
#[derive(Debug, Clone)]
pub struct Admin {
    broker: Arc<Broker>,
    /// The AMQP listeners of the server this facade came from (health checks list them).
    listeners: Arc<[ListenerInfo]>,
}

impl Server {
    /// The administration facade of this broker.
    pub fn admin(&self) -> Admin {
        let amqp = self.local_addrs().iter().map(|a| ListenerInfo {
            protocol: "amqp",
            addr: *a,
        });
        let amqps = self.tls_addrs().iter().map(|a| ListenerInfo {
            protocol: "amqp/ssl",
            addr: *a,
        });
        Admin {
            broker: self.broker().clone(),
            listeners: amqp.chain(amqps).collect(),
        }
    }
}

impl Admin {
    /// Every virtual host, by name.
    pub fn vhosts(&self) -> Vec<VhostInfo> {
        let mut out: Vec<VhostInfo> = self
            .broker
            .vhosts()
            .iter()
            .map(|v| self.vhost_info(&v.name))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// One virtual host; 404 NOT_FOUND if there is none of that name.
    pub fn vhost(&self, name: &str) -> AmqpResult<VhostInfo> {
        self.find_vhost(name).map(|v| self.vhost_info(&v.name))
    }

    fn find_vhost(&self, name: &str) -> AmqpResult<Arc<Vhost>> {
        self.broker
            .vhost(name)
            .ok_or_else(|| AmqpError::not_found(format!("no vhost '{name}'")))
    }

    fn find_queue(&self, vhost: &str, name: &str) -> AmqpResult<(Arc<Vhost>, Arc<Queue>)> {
        let v = self.find_vhost(vhost)?;
        let q = v.queue_for(ADMIN_CONNECTION, name)?;
        Ok((v, q))
    }
}
