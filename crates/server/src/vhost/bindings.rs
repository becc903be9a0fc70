//! Bindings: queue.bind / queue.unbind and exchange.bind / exchange.unbind with RabbitMQ's
//! checks and replies, the store writes for bindings between durable ends, and recovered
//! bindings.

use super::{default_exchange_refused, Vhost};
use crate::error::{AmqpError, AmqpResult};
use crate::ids::ConnectionId;
use warren_codec::FieldTable;
use warren_routing::{Binding, DestinationKind, RoutingError};

impl Vhost {
    /// Stores a binding when both ends are durable (RabbitMQ keeps exactly those).
    fn store_binding(&self, durable_destination: bool, b: &Binding) {
        if let Some(store) = &self.meta {
            if durable_destination && self.is_durable_exchange(&b.source) {
                store.bind(&self.name, b);
            }
        }
    }

    pub(super) fn unstore_binding(&self, b: &Binding) {
        if let Some(store) = &self.meta {
            store.unbind(&self.name, b);
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

    pub(crate) fn bind_queue(
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
    pub(crate) fn unbind_queue(
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

    pub(crate) fn bind_exchange(
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
    pub(crate) fn unbind_exchange(
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

    /// Adds a recovered binding; an error if either end no longer exists.
    pub(crate) fn restore_binding(&self, b: &Binding) -> Result<(), String> {
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
