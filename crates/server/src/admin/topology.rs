//! Queues, exchanges and bindings: listing, inspecting, declaring, deleting, binding. Every
//! change goes through the vhost's own methods, the ones client methods reach.

use super::{Admin, BindingInfo, DestinationType, ExchangeInfo, QueueInfo, ADMIN_CONNECTION};
use crate::error::{AmqpError, AmqpResult};
use crate::meta::ExchangeMeta;
use crate::queue::Queue;
use crate::vhost::Vhost;
use warren_codec::FieldTable;
use warren_routing::DestinationKind;

fn queue_info(q: &Queue) -> QueueInfo {
    let (ready, unacked, consumers) = q.stats();
    let applied = q.applied_policy();
    QueueInfo {
        policy: applied.policy_name(),
        operator_policy: applied.operator_name(),
        effective_policy_definition: applied.effective_definition(),
        name: q.name.to_string(),
        vhost: q.vhost.to_string(),
        durable: q.options.durable,
        auto_delete: q.options.auto_delete,
        exclusive: q.options.exclusive_owner.is_some(),
        arguments: q.options.arguments.clone(),
        messages_ready: ready as u64,
        messages_unacknowledged: unacked as u64,
        consumers: consumers as u64,
        memory: q.memory_stats(),
    }
}

fn exchange_info(v: &Vhost, name: String, meta: ExchangeMeta) -> ExchangeInfo {
    let kind = if meta.delayed {
        "x-delayed-message".to_string()
    } else {
        meta.kind.as_str().to_string()
    };
    ExchangeInfo {
        policy: v.exchange_policy(&name).policy_name(),
        name,
        vhost: v.name.to_string(),
        kind,
        durable: meta.durable,
        auto_delete: meta.auto_delete,
        internal: meta.internal,
        arguments: meta.arguments,
    }
}

impl Admin {
    /// The queues of `vhost`, by name.
    pub fn queues(&self, vhost: &str) -> AmqpResult<Vec<QueueInfo>> {
        let v = self.find_vhost(vhost)?;
        let mut out: Vec<QueueInfo> = v.queues().iter().map(|q| queue_info(q)).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// One queue (whoever owns it); 404 NOT_FOUND with RabbitMQ's text if there is none.
    pub fn queue(&self, vhost: &str, name: &str) -> AmqpResult<QueueInfo> {
        let v = self.find_vhost(vhost)?;
        let q = v
            .queue(name)
            .ok_or_else(|| AmqpError::not_found(format!("no queue '{name}' in vhost '{vhost}'")))?;
        Ok(queue_info(&q))
    }

    /// Declares a queue as queue.declare would (not exclusive: the facade is no connection);
    /// an existing queue must be equivalent (406 PRECONDITION_FAILED otherwise).
    pub fn declare_queue(
        &self,
        vhost: &str,
        name: &str,
        durable: bool,
        auto_delete: bool,
        arguments: &FieldTable,
    ) -> AmqpResult<QueueInfo> {
        let v = self.find_vhost(vhost)?;
        let declared = v.declare_queue(
            ADMIN_CONNECTION,
            name,
            false,
            durable,
            false,
            auto_delete,
            arguments,
            &mut (),
        )?;
        Ok(queue_info(&declared.queue))
    }

    /// Deletes a queue as queue.delete would; returns how many messages it held.
    pub fn delete_queue(
        &self,
        vhost: &str,
        name: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> AmqpResult<u32> {
        self.find_vhost(vhost)?
            .delete_queue(ADMIN_CONNECTION, name, if_unused, if_empty)
    }

    /// The exchanges of `vhost` (the default exchange "" included), by name.
    pub fn exchanges(&self, vhost: &str) -> AmqpResult<Vec<ExchangeInfo>> {
        let v = self.find_vhost(vhost)?;
        let mut out: Vec<ExchangeInfo> = v
            .exchanges()
            .into_iter()
            .map(|(name, meta)| exchange_info(&v, name, meta))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// One exchange; 404 NOT_FOUND with RabbitMQ's text if there is none.
    pub fn exchange(&self, vhost: &str, name: &str) -> AmqpResult<ExchangeInfo> {
        self.exchanges(vhost)?
            .into_iter()
            .find(|x| x.name == name)
            .ok_or_else(|| AmqpError::not_found(format!("no exchange '{name}' in vhost '{vhost}'")))
    }

    /// Declares an exchange as exchange.declare would (same checks and texts).
    #[allow(clippy::too_many_arguments)]
    pub fn declare_exchange(
        &self,
        vhost: &str,
        name: &str,
        kind: &str,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: &FieldTable,
    ) -> AmqpResult<ExchangeInfo> {
        let v = self.find_vhost(vhost)?;
        v.declare_exchange(name, kind, false, durable, auto_delete, internal, arguments)?;
        self.exchange(vhost, name)
    }

    /// Deletes an exchange as exchange.delete would.
    pub fn delete_exchange(&self, vhost: &str, name: &str, if_unused: bool) -> AmqpResult<()> {
        self.find_vhost(vhost)?.delete_exchange(name, if_unused)
    }

    /// Every binding of `vhost`: the default exchange's implicit one per queue first, then
    /// the explicit ones by source, destination and key.
    pub fn bindings(&self, vhost: &str) -> AmqpResult<Vec<BindingInfo>> {
        let v = self.find_vhost(vhost)?;
        let mut implicit: Vec<BindingInfo> = v
            .queues()
            .iter()
            .map(|q| BindingInfo {
                vhost: vhost.to_string(),
                source: String::new(),
                destination: q.name.to_string(),
                destination_type: DestinationType::Queue,
                routing_key: q.name.to_string(),
                arguments: FieldTable::new(),
            })
            .collect();
        implicit.sort_by(|a, b| a.destination.cmp(&b.destination));
        let mut explicit: Vec<BindingInfo> = v
            .router
            .exchange_names()
            .iter()
            .flat_map(|x| v.router.exchange_bindings(x))
            .filter(|b| !b.source.is_empty())
            .map(|b| BindingInfo {
                vhost: vhost.to_string(),
                source: b.source,
                destination: b.destination,
                destination_type: match b.destination_kind {
                    DestinationKind::Queue => DestinationType::Queue,
                    DestinationKind::Exchange => DestinationType::Exchange,
                },
                routing_key: b.routing_key,
                arguments: b.arguments,
            })
            .collect();
        explicit.sort_by(|a, b| {
            (&a.source, &a.destination, &a.routing_key).cmp(&(
                &b.source,
                &b.destination,
                &b.routing_key,
            ))
        });
        implicit.append(&mut explicit);
        Ok(implicit)
    }

    /// Binds `destination` (a queue or an exchange) to `source`, as queue.bind or
    /// exchange.bind would.
    pub fn bind(
        &self,
        vhost: &str,
        source: &str,
        destination: &str,
        destination_type: DestinationType,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> AmqpResult<()> {
        let v = self.find_vhost(vhost)?;
        match destination_type {
            DestinationType::Queue => v.bind_queue(
                ADMIN_CONNECTION,
                destination,
                source,
                routing_key,
                arguments,
            ),
            DestinationType::Exchange => {
                v.bind_exchange(destination, source, routing_key, arguments)
            }
        }
    }

    /// Removes a binding, as queue.unbind or exchange.unbind would.
    pub fn unbind(
        &self,
        vhost: &str,
        source: &str,
        destination: &str,
        destination_type: DestinationType,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> AmqpResult<()> {
        let v = self.find_vhost(vhost)?;
        match destination_type {
            DestinationType::Queue => v.unbind_queue(
                ADMIN_CONNECTION,
                destination,
                source,
                routing_key,
                arguments,
            ),
            DestinationType::Exchange => {
                v.unbind_exchange(destination, source, routing_key, arguments)
            }
        }
    }

    /// Ready messages of a queue and how many of their bodies are in memory (paging).
    pub fn queue_memory(&self, vhost: &str, name: &str) -> AmqpResult<(usize, usize)> {
        let (_, q) = self.find_queue(vhost, name)?;
        Ok(q.memory_counts())
    }

    /// How many of a queue's ready entries are held in memory (paging: the rest are on disk).
    pub fn queue_entries_in_memory(&self, vhost: &str, name: &str) -> AmqpResult<usize> {
        let (_, q) = self.find_queue(vhost, name)?;
        Ok(q.entries_in_memory())
    }

    /// Where a durable queue lives in the store (`None` for a transient queue).
    pub fn stored_queue(
        &self,
        vhost: &str,
        name: &str,
    ) -> AmqpResult<Option<super::StoredQueueInfo>> {
        let (_, q) = self.find_queue(vhost, name)?;
        Ok(q.stored().and_then(|s| {
            s.store()
                .map(|store| super::StoredQueueInfo { store, id: s.id })
        }))
    }
}
