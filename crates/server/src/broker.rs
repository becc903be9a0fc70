//! The broker: vhosts, users, live connections and the durable store, shared by every
//! connection task.

use crate::config::Config;
use crate::events::ConnEvent;
use crate::ids::ConnectionId;
use crate::vhost::Vhost;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;
use warren_store::Store;

#[derive(Debug, Clone)]
pub struct User {
    pub password: String,
}

#[derive(Debug)]
pub struct Broker {
    pub config: Config,
    vhosts: DashMap<String, Arc<Vhost>>,
    users: DashMap<String, User>,
    connections: DashMap<ConnectionId, UnboundedSender<ConnEvent>>,
    next_connection: AtomicU64,
    store: Option<Arc<Store>>,
    flow_pauses: AtomicU64,
}

impl Broker {
    /// A broker; with `store`, durable entities and persistent messages are kept in it.
    pub fn new(config: Config, store: Option<Arc<Store>>) -> Arc<Broker> {
        let broker = Broker {
            vhosts: DashMap::new(),
            users: DashMap::new(),
            connections: DashMap::new(),
            next_connection: AtomicU64::new(1),
            config,
            store,
            flow_pauses: AtomicU64::new(0),
        };
        broker.add_vhost(&broker.config.default_vhost.clone());
        broker.users.insert(
            broker.config.default_user.clone(),
            User {
                password: broker.config.default_pass.clone(),
            },
        );
        Arc::new(broker)
    }

    pub fn add_vhost(&self, name: &str) -> Arc<Vhost> {
        self.vhosts
            .entry(name.to_string())
            .or_insert_with(|| Vhost::new(name, self.store.clone()))
            .clone()
    }

    /// Flow control: true while the store has more than `config.store_pending_max` bytes
    /// waiting to be written. Connections then stop reading from their sockets, so TCP
    /// back-pressure reaches the publishers, as RabbitMQ's credit flow blocks publishers behind
    /// a slow message store. Counts the pauses (see [`Broker::flow_pauses`]).
    pub fn flow_paused(&self) -> bool {
        let paused = self
            .store
            .as_ref()
            .is_some_and(|s| s.pending_bytes() > self.config.store_pending_max);
        if paused {
            self.flow_pauses.fetch_add(1, Ordering::Relaxed);
        }
        paused
    }

    /// How often a connection found the broker in flow control.
    pub fn flow_pauses(&self) -> u64 {
        self.flow_pauses.load(Ordering::Relaxed)
    }

    /// The durable store, if the broker has one.
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// Every vhost.
    pub fn vhosts(&self) -> Vec<Arc<Vhost>> {
        self.vhosts.iter().map(|v| v.clone()).collect()
    }

    pub fn vhost(&self, name: &str) -> Option<Arc<Vhost>> {
        self.vhosts.get(name).map(|v| v.clone())
    }

    /// Checks a username and password. Empty passwords never match, as in RabbitMQ.
    pub fn authenticate(&self, user: &str, password: &str) -> bool {
        !password.is_empty()
            && self
                .users
                .get(user)
                .is_some_and(|u| u.password.as_bytes() == password.as_bytes())
    }

    pub fn register_connection(&self, tx: UnboundedSender<ConnEvent>) -> ConnectionId {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        self.connections.insert(id, tx);
        id
    }

    /// Hands `event` to a live connection; `false` if there is none with that id.
    pub fn send_to_connection(&self, id: ConnectionId, event: ConnEvent) -> bool {
        self.connections
            .get(&id)
            .is_some_and(|tx| tx.send(event).is_ok())
    }

    pub fn unregister_connection(&self, id: ConnectionId) {
        self.connections.remove(&id);
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Asks every connection to close with 320 CONNECTION_FORCED.
    pub fn shutdown_connections(&self) {
        for c in self.connections.iter() {
            let _ = c.send(ConnEvent::Shutdown);
        }
    }
}
