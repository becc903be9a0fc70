//! The broker: vhosts, users, live connections and the durable store, shared by every
//! connection task.

pub(crate) mod recovery;

use crate::access::password::PasswordHash;
use crate::access::permissions::Permissions;
use crate::access::{Access, User};
use crate::alarms::Alarms;
use crate::config::Config;
use crate::flow::{Flow, Reasons};
use crate::ids::ConnectionId;
use crate::queue::delivery::ConnEvent;
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
            config.disk_free_limit,
        );
        let broker = Broker {
            alarms,
            vhosts: DashMap::new(),
            access: Access::default(),
            connections: DashMap::new(),
            next_connection: AtomicU64::new(1),
            config,
            store,
            flow,
            tasks: Tasks::default(),
        };
        broker.add_vhost(&broker.config.default_vhost.clone());
        broker.add_default_user();
        Arc::new(broker)
    }

    /// RabbitMQ's default user: `default_user` with `default_pass`, `default_user_tags`, and
    /// `default_permissions` in the default vhost.
    fn add_default_user(&self) {
        let c = &self.config;
        self.access.put_user(User {
            name: c.default_user.clone(),
            password: Some(PasswordHash::new(&c.default_pass)),
            tags: c.default_user_tags.clone(),
            limits: Default::default(),
        });
        match Permissions::new(c.default_permissions.clone()) {
            Ok(p) => self
                .access
                .set_permissions(&c.default_user, &c.default_vhost, p),
            Err(e) => tracing::error!("default_permissions: {e}"),
        }
    }

    /// Users, permissions and limits.
    pub fn access(&self) -> &Access {
        &self.access
    }

    pub fn add_vhost(&self, name: &str) -> Arc<Vhost> {
        self.vhosts
            .entry(name.to_string())
            .or_insert_with(|| Vhost::new(name, self.store.clone(), self.tasks.clone()))
            .clone()
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

    /// Checks a username and password. Empty passwords never match, as in RabbitMQ.
    pub fn authenticate(&self, user: &str, password: &str) -> bool {
        self.access.check_password(user, password).is_some()
    }

    pub(crate) fn register_connection(
        &self,
        tx: UnboundedSender<ConnEvent>,
        meta: ConnectionMeta,
    ) -> ConnectionId {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
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
