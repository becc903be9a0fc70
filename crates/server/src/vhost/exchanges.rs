//! Exchanges: declare (with RabbitMQ's checks), delete, auto-delete reaping, and the
//! bookkeeping of internal and delayed-message exchanges (holding, releasing and recovering
//! what a delayed exchange holds).

use super::delayed;
use super::{default_exchange_refused, Vhost};
use crate::error::{AmqpError, AmqpResult};
use crate::info::ExchangeCounters;
use crate::message::Message;
use crate::meta::ExchangeMeta;
use crate::publish;
use std::sync::atomic::Ordering;
use warren_codec::{BasicProperties, FieldTable, FieldValue, ShortStr};
use warren_routing::{Binding, DestinationKind, ExchangeKind, RouteOutcome};

/// The exchange argument naming where unroutable messages go.
pub(super) const ALTERNATE_EXCHANGE: &str = "alternate-exchange";

impl Vhost {
    /// Whether clients may not publish to this exchange directly.
    pub(crate) fn is_internal(&self, name: &str) -> bool {
        self.internal_count.load(Ordering::Relaxed) > 0
            && self.exchanges.get(name).is_some_and(|e| e.internal)
    }

    /// Whether exchange.declare accepts this type (it checks the type first).
    pub(crate) fn known_exchange_type(kind: &str) -> bool {
        kind == delayed::EXCHANGE_TYPE || kind.parse::<ExchangeKind>().is_ok()
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn declare_exchange(
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
        if !passive && !Self::known_exchange_type(kind) {
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
            return self.check_exchange_equivalent(
                name,
                &existing,
                kind,
                durable,
                auto_delete,
                internal,
                arguments,
            );
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
            if let Some(meta_store) = &self.meta {
                // Where its persistent held messages are kept (`vhost::delayed`).
                let hidden = meta.delayed.then(|| delayed::hidden_queue_name(name));
                if let Some(queue) = meta_store.declare_exchange(&self.name, name, &meta, hidden) {
                    self.delayed.add_store(name, queue, 0);
                }
            }
        }
        self.restore_exchange(name, meta);
        Ok(())
    }

    /// Adds an exchange without checks or store writes (recovery, and the end of declare).
    pub(crate) fn restore_exchange(&self, name: &str, meta: ExchangeMeta) {
        let (kind, internal, delayed) = (meta.kind, meta.internal, meta.delayed);
        let alternate = self.take_exchange_policy(name, &meta.arguments);
        if self.exchanges.insert(name.to_string(), meta).is_none() {
            if internal {
                self.internal_count.fetch_add(1, Ordering::Relaxed);
            }
            if delayed {
                self.delayed_count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.router.declare_exchange(name, kind, internal);
        self.set_alternate_exchange(name, alternate);
    }

    /// RabbitMQ takes the alternate exchange's name from a string argument (ignoring one of
    /// another type), else from the exchange's policy; it need not exist (unroutable messages
    /// are then dropped).
    pub(super) fn set_alternate_exchange(&self, name: &str, alternate: Option<String>) {
        self.router
            .set_alternate_exchange(name, alternate.as_deref().filter(|a| !a.is_empty()));
    }

    pub(crate) fn delete_exchange(&self, name: &str, if_unused: bool) -> AmqpResult<()> {
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

    fn remove_exchange(&self, name: &str) {
        let Some((_, meta)) = self.exchanges.remove(name) else {
            return;
        };
        self.exchange_policies.remove(name);
        self.exchange_counters.remove(name);
        if meta.internal {
            self.internal_count.fetch_sub(1, Ordering::Relaxed);
        }
        if meta.delayed {
            self.delayed_count.fetch_sub(1, Ordering::Relaxed);
        }
        if meta.durable {
            if let Some(store) = &self.meta {
                // The router drops the exchange's bindings both ways; so must the store.
                let bindings = self.bindings_touching_exchange(name);
                let hidden = self.delayed.remove_store(name);
                store.delete_exchange(&self.name, name, &bindings, hidden);
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

    pub(super) fn is_durable_exchange(&self, name: &str) -> bool {
        self.exchanges.get(name).is_some_and(|e| e.durable)
    }

    /// Deletes auto-delete exchanges that have just lost their last binding.
    pub(super) fn reap_exchanges<'a>(&self, candidates: impl IntoIterator<Item = &'a str>) {
        for name in candidates {
            let auto = self.exchanges.get(name).is_some_and(|e| e.auto_delete);
            if auto && !self.router.has_bindings(name) {
                self.remove_exchange(name);
            }
        }
    }

    /// Holds a message published to `exchange` if it is a delayed-message exchange and the
    /// message asks for a delay: `None` means route it now; `Some(reply)` means held, with the
    /// store's reply when it was written (a confirming publisher waits for it; `sync`).
    pub(crate) fn hold_if_delayed(
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

    /// Routes and enqueues a message the broker publishes itself (a delayed one coming due):
    /// dropped if the exchange is gone or routes nowhere.
    pub(crate) fn route_broker_publish(&self, exchange: &str, message: Message) {
        let headers = BasicProperties::from_raw(message.properties())
            .ok()
            .and_then(|p| p.headers);
        let mut targets = Vec::new();
        let outcome = self.route_message(exchange, &message, headers.as_ref(), &mut targets);
        if matches!(outcome, RouteOutcome::Routed(_)) {
            publish::fan_out_unconfirmed(&targets, message, self.store.as_deref(), &self.tasks);
        }
    }

    /// Recovery: the persistent messages durable delayed exchange `exchange` held. `false` if
    /// there is no such delayed exchange (any more): the caller drops the stored queue.
    pub(crate) fn restore_delayed(
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
}

impl Vhost {
    /// Adds a connection's turn of publishes to `exchange`'s counters.
    pub(crate) fn count_exchange(&self, exchange: &ShortStr, published: u64, routed: u64) {
        let name = String::from_utf8_lossy(exchange.as_bytes());
        if let Some(mut c) = self.exchange_counters.get_mut(name.as_ref()) {
            c.publish_in += published;
            c.publish_out += routed;
            return;
        }
        if self.exchanges.contains_key(name.as_ref()) {
            let mut c = self.exchange_counters.entry(name.into_owned()).or_default();
            c.publish_in += published;
            c.publish_out += routed;
        }
    }

    /// The counters of every exchange that has seen a publish, by name.
    pub(crate) fn all_exchange_counters(&self) -> Vec<(String, ExchangeCounters)> {
        self.exchange_counters
            .iter()
            .map(|e| (e.key().clone(), *e.value()))
            .collect()
    }
}
