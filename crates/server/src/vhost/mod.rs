//! A virtual host: its exchanges (metadata plus the router), its queues, and the declare /
//! bind / delete rules with RabbitMQ's checks and reply texts. This file owns the [`Vhost`]
//! value, its construction and the lookups and routing every other part uses; the rules live
//! in files named for what they do. Durable exchanges, durable queues and the bindings between
//! durable entities are also written to the store (through `meta::store`), and rebuilt from it at
//! startup (`restore_*`, called by `broker::recovery::recover`).

mod bindings;
mod dead_letters;
pub(crate) mod delayed;
mod equivalence;
mod exchanges;
mod policies;
mod queues;
pub(crate) mod sender_selected;

pub(crate) use queues::DeclareGate;

use crate::alarms::MemoryPressure;
use crate::error::{AmqpError, AmqpResult};
use crate::ids::ConnectionId;
use crate::info::ExchangeCounters;
use crate::message::Message;
use crate::meta::store::MetadataStore;
use crate::meta::ExchangeMeta;
use crate::policy::{Applied, Policies};
use crate::queue::{Queue, Spill};
use crate::stats::{MessageCounters, Stats};
use crate::tasks::Tasks;
use dashmap::DashMap;
use delayed::DelayedMessages;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, RwLock, Weak};
use warren_codec::FieldTable;
use warren_routing::{ExchangeKind, RouteOutcome, Router};
use warren_store::Store;

// `pub` (its module is crate-private) because `pub` methods of broker/, delayed.rs and
// queue/ name it, and tests/ reach `Vhost::queue` through `Server::broker()`.
pub struct Vhost {
    pub(crate) name: Arc<str>,
    pub(crate) router: Router<Arc<Queue>>,
    exchanges: DashMap<String, ExchangeMeta>,
    queues: DashMap<String, Arc<Queue>>,
    /// How many internal exchanges exist: lets the publish path skip the lookup when none do.
    internal_count: AtomicUsize,
    /// Where persistent messages go; `None` for a broker without storage.
    store: Option<Arc<Store>>,
    /// Where its queues spill unstored bodies under memory pressure (with a store).
    spill: Option<Spill>,
    /// Where durable definitions go (the same store, through its one seam).
    meta: Option<MetadataStore>,
    /// This vhost, for the queues it creates: their dead letters are routed here.
    me: Weak<Vhost>,
    /// Messages held by delayed-message exchanges, and how many such exchanges exist (the
    /// publish path looks only when there is one).
    pub(crate) delayed: Arc<DelayedMessages>,
    delayed_count: AtomicUsize,
    /// The broker's detached tasks: queue timers, `x-expires` watchers, delayed releases.
    pub(crate) tasks: Tasks,
    /// The broker's counters (queues declared, created, deleted).
    pub(crate) stats: Arc<Stats>,
    /// This vhost's message counters, bumped by its connections.
    pub(crate) counters: MessageCounters,
    /// Each exchange's `publish_in` / `publish_out`, added by connections once per turn.
    exchange_counters: DashMap<String, ExchangeCounters>,
    /// Policies and operator policies (`policies.rs`), and those in force on each exchange
    /// that has one (a queue keeps its own).
    policies: RwLock<Policies>,
    exchange_policies: DashMap<String, Applied>,
}

impl std::fmt::Debug for Vhost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vhost").field("name", &self.name).finish()
    }
}

impl Vhost {
    pub(crate) fn new(
        name: &str,
        store: Option<Arc<Store>>,
        pressure: MemoryPressure,
        tasks: Tasks,
        stats: Arc<Stats>,
    ) -> Arc<Vhost> {
        let spill = store.as_ref().map(|s| Spill::new(s, pressure));
        Arc::new_cyclic(|me| Self::build(name, (store, spill), tasks, stats, me.clone()))
    }

    fn build(
        name: &str,
        (store, spill): (Option<Arc<Store>>, Option<Spill>),
        tasks: Tasks,
        stats: Arc<Stats>,
        me: Weak<Vhost>,
    ) -> Vhost {
        let vhost = Vhost {
            spill,
            name: name.into(),
            router: Router::with_default_exchanges(),
            exchanges: DashMap::new(),
            queues: DashMap::new(),
            internal_count: AtomicUsize::new(0),
            meta: store.clone().map(MetadataStore::new),
            store,
            me,
            delayed: Arc::default(),
            delayed_count: AtomicUsize::new(0),
            tasks,
            stats,
            counters: MessageCounters::default(),
            exchange_counters: DashMap::new(),
            policies: RwLock::default(),
            exchange_policies: DashMap::new(),
        };
        for (xname, kind) in [
            ("", ExchangeKind::Direct),
            ("amq.direct", ExchangeKind::Direct),
            ("amq.fanout", ExchangeKind::Fanout),
            ("amq.topic", ExchangeKind::Topic),
            ("amq.headers", ExchangeKind::Headers),
            ("amq.match", ExchangeKind::Headers),
        ] {
            vhost.exchanges.insert(
                xname.to_string(),
                ExchangeMeta {
                    kind,
                    durable: true,
                    auto_delete: false,
                    internal: false,
                    arguments: FieldTable::new(),
                    delayed: false,
                },
            );
        }
        vhost
    }

    pub(crate) fn no_exchange(&self, name: &str) -> AmqpError {
        AmqpError::not_found(format!("no exchange '{name}' in vhost '{}'", self.name))
    }

    fn no_queue(&self, name: &str) -> AmqpError {
        AmqpError::not_found(format!("no queue '{name}' in vhost '{}'", self.name))
    }

    /// The store, if the broker has one.
    pub(crate) fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// Runs `f` on an exchange's definition, if the exchange exists.
    pub(crate) fn with_exchange<R>(
        &self,
        name: &str,
        f: impl FnOnce(&ExchangeMeta) -> R,
    ) -> Option<R> {
        self.exchanges.get(name).map(|e| f(&e))
    }

    /// A queue by name, whoever owns it (for inspection; clients go through `queue_for`).
    pub(crate) fn queue(&self, name: &str) -> Option<Arc<Queue>> {
        self.queues.get(name).map(|q| q.clone())
    }

    /// Every queue (for inspection), in no particular order.
    pub(crate) fn queues(&self) -> Vec<Arc<Queue>> {
        self.queues.iter().map(|q| q.clone()).collect()
    }

    /// Every exchange and its definition, in no particular order.
    pub(crate) fn exchanges(&self) -> Vec<(String, ExchangeMeta)> {
        self.exchanges
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect()
    }

    /// A queue this connection may use: it exists and is not another connection's exclusive.
    pub(crate) fn queue_for(&self, conn: ConnectionId, name: &str) -> AmqpResult<Arc<Queue>> {
        let q = self
            .queues
            .get(name)
            .map(|q| q.clone())
            .ok_or_else(|| self.no_queue(name))?;
        if q.is_exclusive_to_other(conn) {
            return Err(q.locked_error());
        }
        Ok(q)
    }

    /// Routes a publish; `out` receives the target queues. `CC`/`BCC` header keys route too.
    pub(crate) fn route(
        &self,
        exchange: &str,
        routing_key: &[u8],
        headers: Option<&FieldTable>,
        out: &mut Vec<Arc<Queue>>,
    ) -> RouteOutcome {
        if crate::sender_selected::has_keys(headers) {
            return sender_selected::route(&self.router, exchange, routing_key, &[], headers, out);
        }
        self.router.route(exchange, routing_key, headers, out)
    }

    /// Routes a message the broker sends on itself (a dead letter, a delayed one coming due):
    /// like [`Vhost::route`], with the `BCC` keys it was published with too.
    pub(super) fn route_message(
        &self,
        exchange: &str,
        message: &Message,
        headers: Option<&FieldTable>,
        out: &mut Vec<Arc<Queue>>,
    ) -> RouteOutcome {
        let route = message.route();
        if !route.has_bcc_keys() {
            return self.route(exchange, route.routing_key(), headers, out);
        }
        let bcc: Vec<&[u8]> = route.bcc_keys().collect();
        sender_selected::route(
            &self.router,
            exchange,
            route.routing_key(),
            &bcc,
            headers,
            out,
        )
    }
}

pub(crate) fn default_exchange_refused() -> AmqpError {
    AmqpError::access_refused("operation not permitted on the default exchange")
}
