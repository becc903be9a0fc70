//! A virtual host: its exchanges (metadata plus the router), its queues, and the declare /
//! bind / delete rules with RabbitMQ's checks and reply texts. Durable exchanges, durable
//! queues and the bindings between durable entities are also written to the store here, and
//! rebuilt from it at startup (`restore_*`, called by `persist::recover`).

use crate::arguments::{self, NewQueue};
use crate::clock::now_ms;
use crate::dead_letter::{self, DeadLetterTarget, Reason};
use crate::delayed::{self, DelayedMessages};
use crate::error::{AmqpError, AmqpResult};
use crate::ids::ConnectionId;
use crate::message::Message;
use crate::persist;
use crate::queue::{DeadLetterSink, Queue, QueueOptions, StoredQueue};
use crate::sender_selected;
use dashmap::DashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use tracing::warn;
use warren_codec::{BasicProperties, FieldTable, FieldValue};
use warren_routing::{Binding, DestinationKind, ExchangeKind, RouteOutcome, Router, RoutingError};
use warren_store::{Command, Store};

/// Exchange properties compared on redeclare.
#[derive(Debug, Clone)]
pub struct ExchangeMeta {
    /// How it routes (for a delayed exchange: its `x-delayed-type`).
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    /// Declared as `x-delayed-message` (crate::delayed).
    pub delayed: bool,
}

impl ExchangeMeta {
    /// The type as declared, which redeclares are compared with.
    pub fn type_name(&self) -> &'static str {
        if self.delayed {
            delayed::EXCHANGE_TYPE
        } else {
            self.kind.as_str()
        }
    }
}

/// The exchange argument naming where unroutable messages go.
const ALTERNATE_EXCHANGE: &str = "alternate-exchange";

pub struct Vhost {
    pub name: Arc<str>,
    pub router: Router<Arc<Queue>>,
    exchanges: DashMap<String, ExchangeMeta>,
    queues: DashMap<String, Arc<Queue>>,
    /// How many internal exchanges exist: lets the publish path skip the lookup when none do.
    internal_count: AtomicUsize,
    /// Where durable entities go; `None` for a broker without storage.
    store: Option<Arc<Store>>,
    /// This vhost, for the queues it creates: their dead letters are routed here.
    me: Weak<Vhost>,
    /// Messages held by delayed-message exchanges, and how many such exchanges exist (the
    /// publish path looks only when there is one).
    pub(crate) delayed: Arc<DelayedMessages>,
    delayed_count: AtomicUsize,
}

impl std::fmt::Debug for Vhost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vhost").field("name", &self.name).finish()
    }
}

/// What queue.declare reports.
pub struct Declared {
    pub queue: Arc<Queue>,
    pub message_count: u32,
    pub consumer_count: u32,
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// A server-named queue's name as RabbitMQ makes it: `amq.gen-` and 16 bytes from the OS's
/// CSPRNG in unpadded URL-safe base64 (22 characters), so another client cannot guess it.
fn generate_queue_name() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    let bits = u128::from_be_bytes(bytes);
    let mut name = String::from("amq.gen-");
    for digit in 0..21 {
        name.push(ALPHABET[((bits >> (122 - 6 * digit)) & 63) as usize] as char);
    }
    // The 22nd digit holds the last two bits, padded with zeros as base64 pads.
    name.push(ALPHABET[((bits & 3) << 4) as usize] as char);
    name
}

impl Vhost {
    pub fn new(name: &str, store: Option<Arc<Store>>) -> Arc<Vhost> {
        Arc::new_cyclic(|me| Self::build(name, store, me.clone()))
    }

    fn build(name: &str, store: Option<Arc<Store>>, me: Weak<Vhost>) -> Vhost {
        let vhost = Vhost {
            name: name.into(),
            router: Router::with_default_exchanges(),
            exchanges: DashMap::new(),
            queues: DashMap::new(),
            internal_count: AtomicUsize::new(0),
            store,
            me,
            delayed: Arc::default(),
            delayed_count: AtomicUsize::new(0),
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

    fn no_exchange(&self, name: &str) -> AmqpError {
        AmqpError::not_found(format!("no exchange '{name}' in vhost '{}'", self.name))
    }

    fn no_queue(&self, name: &str) -> AmqpError {
        AmqpError::not_found(format!("no queue '{name}' in vhost '{}'", self.name))
    }

    pub fn exchange(&self, name: &str) -> Option<ExchangeMeta> {
        self.exchanges.get(name).map(|e| e.clone())
    }

    /// Holds a message published to `exchange` if it is a delayed-message exchange and the
    /// message asks for a delay: `None` means route it now; `Some(reply)` means held, with the
    /// store's reply when it was written (a confirming publisher waits for it; `sync`).
    pub fn hold_if_delayed(
        &self,
        exchange: &str,
        headers: Option<&FieldTable>,
        message: &Message,
        sync: bool,
    ) -> Option<Option<warren_store::Reply>> {
        if self.delayed_count.load(Ordering::Relaxed) == 0
            || !self.exchanges.get(exchange).is_some_and(|e| e.delayed)
        {
            return None;
        }
        let delay = delayed::requested_delay(headers)?;
        Some(self.delayed.hold(
            &self.me,
            self.store.as_deref(),
            exchange,
            message.clone(),
            delay,
            sync,
        ))
    }

    /// The store, if the broker has one.
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// Routes and enqueues a message the broker publishes itself (a delayed one coming due):
    /// dropped if the exchange is gone or routes nowhere.
    pub(crate) fn route_broker_publish(&self, exchange: &str, message: Message) {
        let headers = BasicProperties::from_raw(message.properties())
            .ok()
            .and_then(|p| p.headers);
        let mut targets = Vec::new();
        let outcome = self.route_message(exchange, &message, headers.as_ref(), &mut targets);
        if matches!(outcome, RouteOutcome::Routed(_)) {
            self.enqueue_unconfirmed(&targets, message);
        }
    }

    /// Whether clients may not publish to this exchange directly.
    pub fn is_internal(&self, name: &str) -> bool {
        self.internal_count.load(Ordering::Relaxed) > 0
            && self.exchanges.get(name).is_some_and(|e| e.internal)
    }

    fn remove_exchange(&self, name: &str) {
        let Some((_, meta)) = self.exchanges.remove(name) else {
            return;
        };
        if meta.internal {
            self.internal_count.fetch_sub(1, Ordering::Relaxed);
        }
        if meta.delayed {
            self.delayed_count.fetch_sub(1, Ordering::Relaxed);
        }
        if meta.durable {
            if let Some(store) = &self.store {
                // The router drops the exchange's bindings both ways; so must the store.
                let mut cmds: Vec<Command> = self
                    .bindings_touching_exchange(name)
                    .iter()
                    .map(|b| persist::unbind_command(&self.name, b))
                    .collect();
                cmds.push(Command::DeleteExchange {
                    vhost: self.name.to_string(),
                    name: name.to_string(),
                });
                if let Some(queue) = self.delayed.remove_store(name) {
                    cmds.push(Command::DeleteQueue { queue });
                }
                drop(store.submit(cmds, true));
            }
        }
        self.router.delete_exchange(name);
    }

    /// Bindings with `name` as source or as (exchange) destination.
    fn bindings_touching_exchange(&self, name: &str) -> Vec<Binding> {
        let mut out = self.router.exchange_bindings(name);
        for source in self.router.exchange_names() {
            if source == name {
                continue;
            }
            out.extend(
                self.router
                    .exchange_bindings(&source)
                    .into_iter()
                    .filter(|b| {
                        b.destination_kind == DestinationKind::Exchange && b.destination == name
                    }),
            );
        }
        out
    }

    fn is_durable_exchange(&self, name: &str) -> bool {
        self.exchanges.get(name).is_some_and(|e| e.durable)
    }

    /// Stores a binding when both ends are durable (RabbitMQ keeps exactly those).
    fn store_binding(&self, durable_destination: bool, b: &Binding) {
        if let Some(store) = &self.store {
            if durable_destination && self.is_durable_exchange(&b.source) {
                let key = persist::encode_binding_of(b);
                drop(store.submit(
                    vec![Command::Bind {
                        vhost: self.name.to_string(),
                        key: key.clone(),
                        def: key,
                    }],
                    true,
                ));
            }
        }
    }

    fn unstore_binding(&self, b: &Binding) {
        if let Some(store) = &self.store {
            drop(store.submit(vec![persist::unbind_command(&self.name, b)], true));
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn declare_exchange(
        &self,
        name: &str,
        kind: &str,
        passive: bool,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: &FieldTable,
    ) -> AmqpResult<()> {
        // RabbitMQ's order: the type (unless passive), the default exchange, then the name.
        let delayed = kind == delayed::EXCHANGE_TYPE;
        if !passive && !delayed && kind.parse::<ExchangeKind>().is_err() {
            return Err(AmqpError::command_invalid(format!(
                "unknown exchange type '{kind}'"
            )));
        }
        if name.is_empty() {
            return Err(default_exchange_refused());
        }
        if let Some(existing) = self.exchanges.get(name) {
            if passive {
                return Ok(());
            }
            let check = |arg: &str, got: &str, have: &str| -> AmqpResult<()> {
                if got == have {
                    Ok(())
                } else {
                    Err(AmqpError::precondition_failed(format!(
                        "inequivalent arg '{arg}' for exchange '{name}' in vhost '{}': received \
                         '{got}' but current is '{have}'",
                        self.name
                    )))
                }
            };
            check("type", kind, existing.type_name())?;
            check("durable", bool_text(durable), bool_text(existing.durable))?;
            check(
                "auto_delete",
                bool_text(auto_delete),
                bool_text(existing.auto_delete),
            )?;
            check(
                "internal",
                bool_text(internal),
                bool_text(existing.internal),
            )?;
            // The one exchange argument RabbitMQ compares.
            let difference = arguments::difference(
                ALTERNATE_EXCHANGE,
                arguments.get(ALTERNATE_EXCHANGE),
                existing.arguments.get(ALTERNATE_EXCHANGE),
            );
            if let Some(difference) = difference {
                return Err(AmqpError::precondition_failed(format!(
                    "inequivalent arg '{ALTERNATE_EXCHANGE}' for exchange '{name}' in vhost '{}': \
                     {difference}",
                    self.name
                )));
            }
            return Ok(());
        }
        if passive {
            return Err(self.no_exchange(name));
        }
        if name.starts_with("amq.") {
            return Err(AmqpError::access_refused(format!(
                "exchange name '{name}' contains reserved prefix 'amq.*'"
            )));
        }
        let kind_parsed: ExchangeKind = if delayed {
            match arguments.get(delayed::DELAYED_TYPE_ARG) {
                Some(FieldValue::LongStr(t)) => t.to_string_lossy().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                AmqpError::precondition_failed(
                    "Invalid argument, 'x-delayed-type' must be an existing exchange type",
                )
            })?
        } else {
            kind.parse().map_err(|_| {
                AmqpError::command_invalid(format!("unknown exchange type '{kind}'"))
            })?
        };
        let meta = ExchangeMeta {
            delayed,
            kind: kind_parsed,
            durable,
            auto_delete,
            internal,
            arguments: arguments.clone(),
        };
        if durable {
            if let Some(store) = &self.store {
                let mut cmds = vec![Command::DeclareExchange {
                    vhost: self.name.to_string(),
                    name: name.to_string(),
                    def: persist::encode_exchange(&meta),
                }];
                if meta.delayed {
                    // Where its persistent held messages are kept (crate::delayed).
                    let queue = store.allocate_queue_id();
                    cmds.push(Command::DeclareQueue {
                        vhost: self.name.to_string(),
                        name: delayed::hidden_queue_name(name),
                        queue,
                        def: persist::encode_queue(&QueueOptions {
                            durable: true,
                            exclusive_owner: None,
                            auto_delete: false,
                            arguments: FieldTable::new(),
                        }),
                    });
                    self.delayed.add_store(name, queue, 0);
                }
                drop(store.submit(cmds, true));
            }
        }
        self.restore_exchange(name, meta);
        Ok(())
    }

    /// Adds an exchange without checks or store writes (recovery, and the end of declare).
    pub fn restore_exchange(&self, name: &str, meta: ExchangeMeta) {
        let (kind, internal, delayed) = (meta.kind, meta.internal, meta.delayed);
        // RabbitMQ takes the alternate exchange's name from a string argument and ignores one
        // of another type; it need not exist (unroutable messages are then dropped).
        let alternate = match meta.arguments.get(ALTERNATE_EXCHANGE) {
            Some(FieldValue::LongStr(s)) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        };
        if self.exchanges.insert(name.to_string(), meta).is_none() {
            if internal {
                self.internal_count.fetch_add(1, Ordering::Relaxed);
            }
            if delayed {
                self.delayed_count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.router.declare_exchange(name, kind, internal);
        self.router
            .set_alternate_exchange(name, alternate.as_deref().filter(|a| !a.is_empty()));
    }

    /// Adds a recovered durable queue.
    pub fn restore_queue(
        &self,
        name: &str,
        options: QueueOptions,
        stored: StoredQueue,
        next_seq: u64,
        entries: Vec<(u64, u32)>,
    ) {
        let q = Queue::restore(
            name,
            self.name.clone(),
            options,
            stored,
            next_seq,
            entries,
            self.me.clone(),
        );
        self.queues.insert(name.to_string(), q.clone());
        // The x-expires clock starts again at recovery, as RabbitMQ's does.
        self.watch_expiry(&q);
        self.router.add_queue(name, q);
    }

    /// After recovery: lets every queue look at its head (learning recovered expiry times,
    /// expiring what ran out while the broker was down, arming its expiry timer).
    pub fn start_recovered_queues(&self) {
        let queues: Vec<Arc<Queue>> = self.queues.iter().map(|q| q.clone()).collect();
        for q in queues {
            q.kick();
        }
        self.delayed.finish_recovery(&self.me);
    }

    /// Recovery: the persistent messages durable delayed exchange `exchange` held. `false` if
    /// there is no such delayed exchange (any more): the caller drops the stored queue.
    pub fn restore_delayed(
        &self,
        exchange: &str,
        queue: warren_store::QueueId,
        next_seq: u64,
    ) -> Result<bool, warren_store::StoreError> {
        let Some(store) = &self.store else {
            return Ok(false);
        };
        if !self.exchanges.get(exchange).is_some_and(|e| e.delayed) {
            return Ok(false);
        }
        self.delayed.restore(store, exchange, queue, next_seq)?;
        Ok(true)
    }

    /// Adds a recovered binding; an error if either end no longer exists.
    pub fn restore_binding(&self, b: &Binding) -> Result<(), String> {
        let done = match b.destination_kind {
            DestinationKind::Queue => {
                self.router
                    .bind_queue(&b.source, &b.destination, &b.routing_key, &b.arguments)
            }
            DestinationKind::Exchange => {
                self.router
                    .bind_exchange(&b.destination, &b.source, &b.routing_key, &b.arguments)
            }
        };
        done.map(|_| ()).map_err(|e| e.to_string())
    }

    pub fn delete_exchange(&self, name: &str, if_unused: bool) -> AmqpResult<()> {
        if name.is_empty() {
            return Err(default_exchange_refused());
        }
        if name.starts_with("amq.") {
            return Err(AmqpError::access_refused(format!(
                "deletion of system exchange '{name}' in vhost '{}' not allowed",
                self.name
            )));
        }
        if !self.exchanges.contains_key(name) {
            // Idempotent, as RabbitMQ 3.x answers it (docs/compatibility.md C15).
            return Ok(());
        }
        if if_unused && self.router.has_bindings(name) {
            return Err(AmqpError::precondition_failed(format!(
                "exchange '{name}' in vhost '{}' in use",
                self.name
            )));
        }
        self.remove_exchange(name);
        Ok(())
    }

    /// Deletes auto-delete exchanges that have just lost their last binding.
    fn reap_exchanges<'a>(&self, candidates: impl IntoIterator<Item = &'a str>) {
        for name in candidates {
            let auto = self.exchanges.get(name).is_some_and(|e| e.auto_delete);
            if auto && !self.router.has_bindings(name) {
                self.remove_exchange(name);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn declare_queue(
        &self,
        conn: ConnectionId,
        name: &str,
        passive: bool,
        durable: bool,
        exclusive: bool,
        auto_delete: bool,
        arguments: &FieldTable,
    ) -> AmqpResult<Declared> {
        if passive {
            let queue = self.queue_for(conn, name)?;
            queue.touch();
            let (message_count, consumer_count) = queue.counts();
            return Ok(Declared {
                queue,
                message_count,
                consumer_count,
            });
        }
        let server_named = name.is_empty();
        let name = if server_named {
            generate_queue_name()
        } else {
            if name.starts_with("amq.") {
                return Err(AmqpError::access_refused(format!(
                    "queue name '{name}' contains reserved prefix 'amq.*'"
                )));
            }
            name.to_string()
        };
        let options = QueueOptions {
            durable,
            exclusive_owner: exclusive.then_some(conn),
            auto_delete,
            arguments: arguments.clone(),
        };
        let queue = match self.queues.entry(name.clone()) {
            dashmap::mapref::entry::Entry::Occupied(e) => {
                let q = e.get().clone();
                drop(e);
                if q.is_exclusive_to_other(conn) {
                    return Err(q.locked_error());
                }
                self.check_equivalent(&q, &options)?;
                q.touch();
                q
            }
            dashmap::mapref::entry::Entry::Vacant(v) => {
                // Only a queue about to be created has its arguments checked: a redeclare is
                // compared with the queue instead, as RabbitMQ does.
                arguments::check_new_queue(&NewQueue {
                    name: &name,
                    vhost: &self.name,
                    server_named,
                    durable,
                    exclusive,
                    auto_delete,
                    arguments,
                })?;
                let stored = self.store_new_queue(&name, &options);
                let q =
                    Queue::with_store(&name, self.name.clone(), options, stored, self.me.clone());
                v.insert(q.clone());
                self.router.add_queue(&name, q.clone());
                self.watch_expiry(&q);
                q
            }
        };
        let (message_count, consumer_count) = queue.counts();
        Ok(Declared {
            queue,
            message_count,
            consumer_count,
        })
    }

    /// Writes a new durable, non-exclusive queue's definition; its place in the store.
    fn store_new_queue(&self, name: &str, options: &QueueOptions) -> Option<StoredQueue> {
        let store = self.store.as_ref()?;
        if !options.durable || options.exclusive_owner.is_some() {
            return None;
        }
        let id = store.allocate_queue_id();
        drop(store.submit(
            vec![Command::DeclareQueue {
                vhost: self.name.to_string(),
                name: name.to_string(),
                queue: id,
                def: persist::encode_queue(options),
            }],
            true,
        ));
        Some(StoredQueue::new(store, id))
    }

    fn check_equivalent(&self, q: &Queue, new: &QueueOptions) -> AmqpResult<()> {
        let old = &q.options;
        let properties = [
            ("durable", new.durable, old.durable),
            (
                "exclusive",
                new.exclusive_owner.is_some(),
                old.exclusive_owner.is_some(),
            ),
            ("auto_delete", new.auto_delete, old.auto_delete),
        ];
        let difference = properties
            .into_iter()
            .find(|(_, got, have)| got != have)
            .map(|(key, got, have)| (key, format!("received '{got}' but current is '{have}'")))
            .or_else(|| arguments::queue_difference(&new.arguments, &old.arguments));
        match difference {
            Some((key, difference)) => Err(AmqpError::precondition_failed(format!(
                "inequivalent arg '{key}' for queue '{}' in vhost '{}': {difference}",
                q.name, self.name
            ))),
            None => Ok(()),
        }
    }

    /// A queue by name, whoever owns it (for inspection; clients go through `queue_for`).
    pub fn queue(&self, name: &str) -> Option<Arc<Queue>> {
        self.queues.get(name).map(|q| q.clone())
    }

    /// A queue this connection may use: it exists and is not another connection's exclusive.
    pub fn queue_for(&self, conn: ConnectionId, name: &str) -> AmqpResult<Arc<Queue>> {
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

    pub fn delete_queue(
        &self,
        conn: ConnectionId,
        name: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> AmqpResult<u32> {
        if !self.queues.contains_key(name) {
            // Idempotent, as RabbitMQ 3.x answers it (docs/compatibility.md C15).
            return Ok(0);
        }
        let q = self.queue_for(conn, name)?;
        let count = q.delete(if_unused, if_empty)?;
        self.forget_queue(&q);
        Ok(count)
    }

    /// Removes a deleted queue from the registry and the router.
    fn forget_queue(&self, q: &Arc<Queue>) {
        if q.stored().is_some() {
            for b in self.router.queue_bindings(&q.name) {
                self.unstore_binding(&b);
            }
        }
        self.queues.remove_if(&*q.name, |_, v| Arc::ptr_eq(v, q));
        let emptied = self.router.remove_queue(&q.name);
        self.reap_exchanges(emptied.iter().map(String::as_str));
    }

    /// For a queue with `x-expires`: a task that deletes it once it has been unused that long
    /// (no consumers, no basic.get, no redeclare). It sleeps until the queue would expire and
    /// looks again; holding only weak references, it ends with the queue or the vhost.
    fn watch_expiry(&self, q: &Arc<Queue>) {
        let Some(expires) = q.expires else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (vhost, queue) = (self.me.clone(), Arc::downgrade(q));
        rt.spawn(async move {
            loop {
                let wait = {
                    let Some(q) = queue.upgrade() else { return };
                    if q.is_deleted() {
                        return;
                    }
                    match q.expires_at() {
                        Some(at) => {
                            let now = now_ms();
                            if now > at {
                                let Some(vhost) = vhost.upgrade() else { return };
                                // if-unused: a consumer that arrived just now keeps it.
                                if q.delete(true, false).is_ok() {
                                    vhost.forget_queue(&q);
                                    return;
                                }
                                expires
                            } else {
                                at - now + 1
                            }
                        }
                        // In use: look again after one expiry period.
                        None => expires,
                    }
                };
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
        });
    }

    /// Deletes an auto-delete queue whose last consumer went away.
    pub fn auto_delete_queue(&self, q: &Arc<Queue>) {
        if q.delete(true, false).is_ok() {
            self.forget_queue(q);
        }
    }

    /// Deletes the exclusive queues a closing connection owned.
    pub fn connection_closed(&self, conn: ConnectionId) {
        let owned: Vec<Arc<Queue>> = self
            .queues
            .iter()
            .filter(|q| q.options.exclusive_owner == Some(conn))
            .map(|q| q.clone())
            .collect();
        for q in owned {
            let _ = q.delete(false, false);
            self.forget_queue(&q);
        }
    }

    /// RabbitMQ's reply to a refused binding operation, decided here for every kind.
    fn routing_error(&self, e: RoutingError) -> AmqpError {
        match e {
            RoutingError::NoSuchExchange(name) => self.no_exchange(&name),
            RoutingError::NoSuchQueue(name) => self.no_queue(&name),
            RoutingError::DefaultExchange => default_exchange_refused(),
            RoutingError::InvalidBinding(why) => AmqpError::precondition_failed(why),
        }
    }

    /// A bind's source (or exchange destination): not the default exchange, and existing. The
    /// bind methods call it in RabbitMQ's order: the source exchange before the destination.
    fn check_bindable_source(&self, exchange: &str) -> AmqpResult<()> {
        if exchange.is_empty() {
            return Err(default_exchange_refused());
        }
        if !self.exchanges.contains_key(exchange) {
            return Err(self.no_exchange(exchange));
        }
        Ok(())
    }

    pub fn bind_queue(
        &self,
        conn: ConnectionId,
        queue: &str,
        exchange: &str,
        key: &str,
        args: &FieldTable,
    ) -> AmqpResult<()> {
        self.check_bindable_source(exchange)?;
        let q = self.queue_for(conn, queue)?;
        let created = self
            .router
            .bind_queue(exchange, queue, key, args)
            .map_err(|e| self.routing_error(e))?;
        if created {
            self.store_binding(
                q.stored().is_some(),
                &binding(DestinationKind::Queue, exchange, queue, key, args),
            );
        }
        Ok(())
    }

    /// queue.unbind is idempotent in RabbitMQ 3.10.8: unbind-ok when the queue, the exchange or
    /// the binding does not exist. Only the default exchange (403) and another connection's
    /// exclusive queue that does have the binding (405) are refused.
    pub fn unbind_queue(
        &self,
        conn: ConnectionId,
        queue: &str,
        exchange: &str,
        key: &str,
        args: &FieldTable,
    ) -> AmqpResult<()> {
        if exchange.is_empty() {
            return Err(default_exchange_refused());
        }
        let Some(q) = self.queue(queue) else {
            return Ok(());
        };
        if q.is_exclusive_to_other(conn) {
            let wanted = binding(DestinationKind::Queue, exchange, queue, key, args);
            if self.router.queue_bindings(queue).contains(&wanted) {
                return Err(q.locked_error());
            }
            return Ok(());
        }
        let removed = match self.router.unbind_queue(exchange, queue, key, args) {
            Ok(removed) => removed,
            Err(RoutingError::NoSuchExchange(_) | RoutingError::NoSuchQueue(_)) => false,
            Err(e) => return Err(self.routing_error(e)),
        };
        if removed && q.stored().is_some() {
            self.unstore_binding(&binding(DestinationKind::Queue, exchange, queue, key, args));
        }
        self.reap_exchanges([exchange]);
        Ok(())
    }

    pub fn bind_exchange(
        &self,
        destination: &str,
        source: &str,
        key: &str,
        args: &FieldTable,
    ) -> AmqpResult<()> {
        if destination.is_empty() {
            return Err(default_exchange_refused());
        }
        self.check_bindable_source(source)?;
        self.check_bindable_source(destination)?;
        let created = self
            .router
            .bind_exchange(destination, source, key, args)
            .map_err(|e| self.routing_error(e))?;
        if created {
            self.store_binding(
                self.is_durable_exchange(destination),
                &binding(DestinationKind::Exchange, source, destination, key, args),
            );
        }
        Ok(())
    }

    /// exchange.unbind is idempotent like queue.unbind: only the default exchange is refused.
    pub fn unbind_exchange(
        &self,
        destination: &str,
        source: &str,
        key: &str,
        args: &FieldTable,
    ) -> AmqpResult<()> {
        if source.is_empty() || destination.is_empty() {
            return Err(default_exchange_refused());
        }
        let removed = match self.router.unbind_exchange(destination, source, key, args) {
            Ok(removed) => removed,
            Err(RoutingError::NoSuchExchange(_)) => false,
            Err(e) => return Err(self.routing_error(e)),
        };
        if removed && self.is_durable_exchange(destination) && self.is_durable_exchange(source) {
            self.unstore_binding(&binding(
                DestinationKind::Exchange,
                source,
                destination,
                key,
                args,
            ));
        }
        self.reap_exchanges([source]);
        Ok(())
    }

    /// Routes a publish; `out` receives the target queues. `CC`/`BCC` header keys route too.
    pub fn route(
        &self,
        exchange: &str,
        routing_key: &[u8],
        headers: Option<&FieldTable>,
        out: &mut Vec<Arc<Queue>>,
    ) -> RouteOutcome {
        if sender_selected::has_keys(headers) {
            return sender_selected::route(&self.router, exchange, routing_key, &[], headers, out);
        }
        self.router.route(exchange, routing_key, headers, out)
    }

    /// Routes a message the broker sends on itself (a dead letter, a delayed one coming due):
    /// like [`Vhost::route`], with the `BCC` keys it was published with too.
    pub(crate) fn route_message(
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

impl Vhost {
    /// Publishes messages that left queue `from` (rejected or expired) to its dead-letter
    /// exchange, as RabbitMQ does: not confirmed to anyone, dropped if the exchange is gone or
    /// routes nowhere, and kept from any queue that would close a cycle with no rejection in it.
    /// Called with no queue lock held: the target may be `from` itself.
    pub fn dead_letter(
        &self,
        from: &str,
        target: &DeadLetterTarget,
        items: Vec<(Message, Reason)>,
    ) {
        let now_secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut targets = Vec::new();
        for (message, reason) in items {
            let Some(dead) = dead_letter::dead_lettered(&message, from, reason, target, now_secs)
            else {
                warn!(
                    queue = from,
                    "dropping a dead letter whose properties do not decode"
                );
                continue;
            };
            targets.clear();
            let outcome = self.route_message(
                &target.exchange,
                &dead.message,
                Some(&dead.headers),
                &mut targets,
            );
            if !matches!(outcome, RouteOutcome::Routed(_)) {
                continue;
            }
            if reason != Reason::Rejected {
                targets.retain(|q| !dead_letter::is_cycle(Some(&dead.headers), &q.name));
            }
            self.enqueue_unconfirmed(&targets, dead.message);
        }
    }

    /// Enqueues a message the broker itself publishes (a dead letter, a delayed message coming
    /// due): nobody waits for a confirm, so persistent messages are written without an fsync;
    /// a queue refusing it (length limit) drops it.
    pub(crate) fn enqueue_unconfirmed(&self, targets: &[Arc<Queue>], message: Message) {
        let store = self.store.as_ref().filter(|_| message.persistent());
        match store {
            Some(store) if targets.iter().any(|q| q.stored().is_some()) => {
                for q in targets.iter().filter(|q| q.stored().is_none()) {
                    let _ = q.publish(message.clone());
                }
                let mut written = Vec::new();
                let reply = Queue::publish_persistent(
                    targets,
                    message,
                    store,
                    false,
                    &mut written,
                    &mut false,
                );
                // Bodies may be paged out once written; nobody else waits for this write.
                if let (Some(reply), Ok(rt)) = (reply, tokio::runtime::Handle::try_current()) {
                    rt.spawn(async move {
                        if matches!(reply.await, Ok(Ok(()))) {
                            for (q, seq) in written {
                                q.mark_persisted(seq);
                            }
                        }
                    });
                }
            }
            _ => {
                for q in targets {
                    let _ = q.publish(message.clone());
                }
            }
        }
    }
}

fn default_exchange_refused() -> AmqpError {
    AmqpError::access_refused("operation not permitted on the default exchange")
}

fn binding(
    destination_kind: DestinationKind,
    source: &str,
    destination: &str,
    routing_key: &str,
    arguments: &FieldTable,
) -> Binding {
    Binding {
        source: source.to_string(),
        destination: destination.to_string(),
        destination_kind,
        routing_key: routing_key.to_string(),
        arguments: arguments.clone(),
    }
}

/// Queues hand their dead letters to their vhost, which routes them.
impl DeadLetterSink for Vhost {
    fn dead_letters(&self, from: &str, target: &DeadLetterTarget, items: Vec<(Message, Reason)>) {
        self.dead_letter(from, target, items);
    }
}
