//! A virtual host: its exchanges (metadata plus the router), its queues, and the declare /
//! bind / delete rules with RabbitMQ's checks and reply texts.

use crate::error::{AmqpError, AmqpResult};
use crate::queue::{ConnectionId, Queue, QueueOptions};
use dashmap::DashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use warren_codec::{FieldTable, FieldValue};
use warren_routing::{ExchangeKind, RouteOutcome, Router};

/// Exchange properties compared on redeclare.
#[derive(Debug, Clone)]
pub struct ExchangeMeta {
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
}

/// Queue arguments RabbitMQ compares on redeclare (others are ignored, as RabbitMQ does).
const CHECKED_QUEUE_ARGS: &[&str] = &[
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-expires",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-message-ttl",
    "x-overflow",
    "x-queue-type",
    "x-single-active-consumer",
];

pub struct Vhost {
    pub name: Arc<str>,
    pub router: Router<Arc<Queue>>,
    exchanges: DashMap<String, ExchangeMeta>,
    queues: DashMap<String, Arc<Queue>>,
    /// How many internal exchanges exist: lets the publish path skip the lookup when none do.
    internal_count: AtomicUsize,
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

fn generate_queue_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let state = std::collections::hash_map::RandomState::new();
    let mut name = String::from("amq.gen-");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    for round in 0..2u64 {
        let mut h = state.build_hasher();
        h.write_u64(n);
        h.write_u64(round);
        let mut v = h.finish();
        for _ in 0..11 {
            name.push(ALPHABET[(v & 63) as usize] as char);
            v >>= 6;
        }
    }
    name
}

impl Vhost {
    pub fn new(name: &str) -> Arc<Vhost> {
        let vhost = Vhost {
            name: name.into(),
            router: Router::with_default_exchanges(),
            exchanges: DashMap::new(),
            queues: DashMap::new(),
            internal_count: AtomicUsize::new(0),
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
                },
            );
        }
        Arc::new(vhost)
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

    /// Whether clients may not publish to this exchange directly.
    pub fn is_internal(&self, name: &str) -> bool {
        self.internal_count.load(Ordering::Relaxed) > 0
            && self.exchanges.get(name).is_some_and(|e| e.internal)
    }

    fn remove_exchange(&self, name: &str) {
        if let Some((_, meta)) = self.exchanges.remove(name) {
            if meta.internal {
                self.internal_count.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.router.delete_exchange(name);
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
        if let Some(existing) = self.exchanges.get(name) {
            if passive {
                return Ok(());
            }
            if name.is_empty() {
                return Err(AmqpError::access_refused(
                    "operation not permitted on the default exchange",
                ));
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
            check("type", kind, existing.kind.as_str())?;
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
        let kind_parsed: ExchangeKind = kind
            .parse()
            .map_err(|_| AmqpError::command_invalid(format!("unknown exchange type '{kind}'")))?;
        self.exchanges.insert(
            name.to_string(),
            ExchangeMeta {
                kind: kind_parsed,
                durable,
                auto_delete,
                internal,
                arguments: arguments.clone(),
            },
        );
        if internal {
            self.internal_count.fetch_add(1, Ordering::Relaxed);
        }
        self.router.declare_exchange(name, kind_parsed, internal);
        Ok(())
    }

    pub fn delete_exchange(&self, name: &str, if_unused: bool) -> AmqpResult<()> {
        if name.is_empty() || name.starts_with("amq.") {
            return Err(AmqpError::access_refused(format!(
                "operation not permitted on the {} exchange",
                if name.is_empty() {
                    "default".to_string()
                } else {
                    format!("'{name}'")
                }
            )));
        }
        if !self.exchanges.contains_key(name) {
            return Err(self.no_exchange(name));
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
            let (message_count, consumer_count) = queue.counts();
            return Ok(Declared {
                queue,
                message_count,
                consumer_count,
            });
        }
        let name = if name.is_empty() {
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
                q
            }
            dashmap::mapref::entry::Entry::Vacant(v) => {
                let q = Queue::new(&name, self.name.clone(), options);
                v.insert(q.clone());
                self.router.add_queue(&name, q.clone());
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

    fn check_equivalent(&self, q: &Queue, new: &QueueOptions) -> AmqpResult<()> {
        let fail = |arg: &str, got: String, have: String| {
            Err(AmqpError::precondition_failed(format!(
                "inequivalent arg '{arg}' for queue '{}' in vhost '{}': received {got} but \
                 current is {have}",
                q.name, self.name
            )))
        };
        let old = &q.options;
        if old.durable != new.durable {
            return fail(
                "durable",
                format!("'{}'", bool_text(new.durable)),
                format!("'{}'", bool_text(old.durable)),
            );
        }
        if old.exclusive_owner.is_some() != new.exclusive_owner.is_some() {
            return fail(
                "exclusive",
                format!("'{}'", bool_text(new.exclusive_owner.is_some())),
                format!("'{}'", bool_text(old.exclusive_owner.is_some())),
            );
        }
        if old.auto_delete != new.auto_delete {
            return fail(
                "auto_delete",
                format!("'{}'", bool_text(new.auto_delete)),
                format!("'{}'", bool_text(old.auto_delete)),
            );
        }
        for key in CHECKED_QUEUE_ARGS {
            let (a, b) = (new.arguments.get(key), old.arguments.get(key));
            if !arg_equivalent(a, b) {
                return fail(key, describe_arg(a), describe_arg(b));
            }
        }
        Ok(())
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
        let q = self.queue_for(conn, name)?;
        let count = q.delete(if_unused, if_empty)?;
        self.forget_queue(&q);
        Ok(count)
    }

    /// Removes a deleted queue from the registry and the router.
    fn forget_queue(&self, q: &Arc<Queue>) {
        self.queues.remove_if(&*q.name, |_, v| Arc::ptr_eq(v, q));
        let emptied = self.router.remove_queue(&q.name);
        self.reap_exchanges(emptied.iter().map(String::as_str));
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

    fn check_bindable_source(&self, exchange: &str) -> AmqpResult<()> {
        if exchange.is_empty() {
            return Err(AmqpError::access_refused(
                "operation not permitted on the default exchange",
            ));
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
        self.queue_for(conn, queue)?;
        self.check_bindable_source(exchange)?;
        self.router
            .bind_queue(exchange, queue, key, args)
            .map_err(|e| AmqpError::not_found(e.to_string()))?;
        Ok(())
    }

    pub fn unbind_queue(
        &self,
        conn: ConnectionId,
        queue: &str,
        exchange: &str,
        key: &str,
        args: &FieldTable,
    ) -> AmqpResult<()> {
        self.queue_for(conn, queue)?;
        self.check_bindable_source(exchange)?;
        self.router
            .unbind_queue(exchange, queue, key, args)
            .map_err(|e| AmqpError::not_found(e.to_string()))?;
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
        self.check_bindable_source(source)?;
        self.check_bindable_source(destination)?;
        self.router
            .bind_exchange(destination, source, key, args)
            .map_err(|e| AmqpError::not_found(e.to_string()))?;
        Ok(())
    }

    pub fn unbind_exchange(
        &self,
        destination: &str,
        source: &str,
        key: &str,
        args: &FieldTable,
    ) -> AmqpResult<()> {
        self.check_bindable_source(source)?;
        self.check_bindable_source(destination)?;
        self.router
            .unbind_exchange(destination, source, key, args)
            .map_err(|e| AmqpError::not_found(e.to_string()))?;
        self.reap_exchanges([source]);
        Ok(())
    }

    /// Routes a publish; `out` receives the target queues.
    pub fn route(
        &self,
        exchange: &str,
        routing_key: &[u8],
        headers: Option<&FieldTable>,
        out: &mut Vec<Arc<Queue>>,
    ) -> RouteOutcome {
        self.router.route(exchange, routing_key, headers, out)
    }
}

fn arg_equivalent(a: Option<&FieldValue>, b: Option<&FieldValue>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => match (x.as_i64(), y.as_i64()) {
            // RabbitMQ compares numbers by value whatever integer width the client chose.
            (Some(i), Some(j)) => i == j,
            _ => x == y,
        },
        _ => false,
    }
}

fn describe_arg(v: Option<&FieldValue>) -> String {
    match v {
        None => "none".to_string(),
        Some(FieldValue::LongStr(s)) => format!("the value '{s}' of type 'longstr'"),
        Some(v) => match v.as_i64() {
            Some(i) => format!("the value '{i}' of type 'signedint'"),
            None => format!("the value '{v:?}'"),
        },
    }
}
