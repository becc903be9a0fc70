//! The broker: vhosts, users, live connections and the durable store, shared by every
//! connection task.

mod access;
pub(crate) mod recovery;

use crate::access::{Access, User};
use crate::alarms::Alarms;
use crate::config::Config;
use crate::flow::{Flow, Reasons};
use crate::ids::ConnectionId;
use crate::queue::delivery::ConnEvent;
use crate::stats::Stats;
use crate::tasks::Tasks;
use crate::vhost::Vhost;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;
use warren_store::Store;

/// What the broker knows of a live connection without asking its task.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionMeta {
    pub(crate) peer: std::net::SocketAddr,
    pub(crate) user: String,
    pub(crate) vhost: String,
    /// When it opened, in ms since the Unix epoch.
    pub(crate) connected_at: u64,
    /// How many channels it has open (kept by its task; the per-user channel limit sums them).
    pub(crate) channels: Arc<std::sync::atomic::AtomicU32>,
    /// The broker's end of the socket.
    pub(crate) local: Option<std::net::SocketAddr>,
}

impl ConnectionMeta {
    pub(crate) fn now(peer: std::net::SocketAddr, user: &str, vhost: &str) -> ConnectionMeta {
        let connected_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        ConnectionMeta {
            peer,
            user: user.to_string(),
            vhost: vhost.to_string(),
            connected_at,
            channels: Arc::default(),
            local: None,
        }
    }
}

/// A live connection: how to reach its task, and what it is.
#[derive(Debug)]
struct Registered {
    tx: UnboundedSender<ConnEvent>,
    meta: ConnectionMeta,
}

#[derive(Debug)]
pub struct Broker {
    pub config: Config,
    vhosts: DashMap<String, Arc<Vhost>>,
    /// Users, permissions and limits.
    access: Access,
    connections: DashMap<ConnectionId, Registered>,
    next_connection: AtomicU64,
    store: Option<Arc<Store>>,
    /// Whether connections read from publishers now (see [`crate::flow`]).
    flow: Arc<Flow>,
    /// The memory and disk alarms, raised through `flow`.
    alarms: Arc<Alarms>,
    /// Every detached task, so shutdown can end and wait for them.
    tasks: Tasks,
    /// Message and lifecycle counters.
    stats: Arc<Stats>,
}

impl Broker {
    /// A broker; with `store`, durable entities and persistent messages are kept in it.
    pub fn new(config: Config, store: Option<Arc<Store>>) -> Arc<Broker> {
        let flow = Flow::new();
        if let Some(store) = &store {
            // The store's backlog pauses publishers: as RabbitMQ's credit flow blocks them
            // behind a slow message store, connections stop reading from their sockets.
            let backlog = flow.clone();
            store.watch_pending(config.store_pending_max, move |over| {
                backlog.set(Reasons::STORE_BACKLOG, over)
            });
        }
        let alarms = Alarms::new(
            flow.clone(),
            config.data_dir.clone(),
            config.memory_high_watermark,
            config.memory_paging_ratio,
            config.disk_free_limit,
        );
        let broker = Broker {
            alarms,
            vhosts: DashMap::new(),
            access: Access::with_store(store.clone().map(crate::meta::store::MetadataStore::new)),
            connections: DashMap::new(),
            next_connection: AtomicU64::new(1),
            config,
            store,
            flow,
            tasks: Tasks::default(),
            stats: Arc::default(),
        };
        if broker.store.is_none() {
            // Nothing to recover: this is a first boot. With a store, recovery decides.
            broker.seed_defaults_if_empty();
        }
        let broker = Arc::new(broker);
        // Under memory pressure, queues nobody publishes to page out too, once a second.
        let weak = Arc::downgrade(&broker);
        broker.alarms.set_pressure_hook(Box::new(move || {
            if let Some(broker) = weak.upgrade() {
                broker.relieve_memory();
            }
        }));
        broker
    }

    /// Asks every queue to page its bodies out (memory pressure).
    fn relieve_memory(&self) {
        for vhost in self.vhosts() {
            for queue in vhost.queues() {
                queue.relieve_memory();
            }
        }
    }

    /// Users, permissions and limits.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The vhost's runtime half, created if missing (its record is [`Access`]'s; see
    /// [`Broker::create_vhost`]).
    pub(crate) fn add_vhost(&self, name: &str) -> Arc<Vhost> {
        self.vhosts
            .entry(name.to_string())
            .or_insert_with(|| {
                Vhost::new(
                    name,
                    self.store.clone(),
                    self.alarms.pressure().clone(),
                    self.tasks.clone(),
                    self.stats.clone(),
                )
            })
            .clone()
    }

    /// Message and lifecycle counters.
    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Live connections and the channels they have open, without asking their tasks.
    pub(crate) fn open_counts(&self) -> (u64, u64) {
        let mut channels = 0u64;
        for c in self.connections.iter() {
            channels += u64::from(c.meta.channels.load(Ordering::Relaxed));
        }
        (self.connections.len() as u64, channels)
    }

    pub(crate) fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// Flow control: connections subscribe, and stop reading while it says paused.
    pub(crate) fn flow(&self) -> &Arc<Flow> {
        &self.flow
    }

    /// The memory and disk alarms.
    pub(crate) fn alarms(&self) -> &Arc<Alarms> {
        &self.alarms
    }

    /// How often a connection found the broker in flow control.
    pub fn flow_pauses(&self) -> u64 {
        self.flow.pauses()
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

    /// The user, if the password is theirs. Empty passwords never match, nor does any
    /// password a user without one, as in RabbitMQ.
    pub fn authenticate(&self, user: &str, password: &str) -> Option<Arc<User>> {
        self.access.check_password(user, password)
    }

    pub(crate) fn register_connection(
        &self,
        tx: UnboundedSender<ConnEvent>,
        meta: ConnectionMeta,
    ) -> ConnectionId {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        self.stats.lifecycle.connections_opened.bump(1);
        self.connections.insert(id, Registered { tx, meta });
        id
    }

    /// Every live connection's id and what is known of it, by id.
    pub(crate) fn connections(&self) -> Vec<(ConnectionId, ConnectionMeta)> {
        let mut out: Vec<_> = self
            .connections
            .iter()
            .map(|c| (*c.key(), c.meta.clone()))
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out
    }

    /// How many channels the user's live connections have open.
    pub(crate) fn user_channel_count(&self, user: &str) -> u64 {
        self.connections
            .iter()
            .filter(|c| c.meta.user == user)
            .map(|c| u64::from(c.meta.channels.load(Ordering::Relaxed)))
            .sum()
    }

    /// Hands `event` to a live connection; `false` if there is none with that id.
    pub fn send_to_connection(&self, id: ConnectionId, event: ConnEvent) -> bool {
        self.connections
            .get(&id)
            .is_some_and(|c| c.tx.send(event).is_ok())
    }

    pub fn unregister_connection(&self, id: ConnectionId) {
        self.connections.remove(&id);
    }

    /// Asks every connection to close with 320 CONNECTION_FORCED.
    pub fn shutdown_connections(&self) {
        for c in self.connections.iter() {
            let _ = c.tx.send(ConnEvent::Shutdown);
        }
    }
}
