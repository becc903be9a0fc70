//! Exchange and queue methods: declare, delete, bind, unbind, purge; permissions checked
//! here (`authz`), the rest by the vhost, answered here.

use super::authz::{Kind, QueueDeclareChecks};
use super::dispatch::ok_name;
use super::Connection;
use crate::access::permissions::Permission;
use crate::error::{AmqpError, AmqpResult};
use crate::vhost::{default_exchange_refused, Vhost};
use warren_codec::generated::*;
use warren_codec::{FieldValue, Method, ShortStr};

impl Connection {
    /// Resolves a queue name from a method, where "" means the channel's last declared queue.
    pub(super) fn queue_name(&mut self, channel: u16, name: &ShortStr) -> AmqpResult<String> {
        if name.is_empty() {
            return self
                .channel(channel)?
                .last_queue
                .clone()
                .ok_or_else(|| AmqpError::not_found("no previously declared queue"));
        }
        Ok(ok_name(name)?.to_string())
    }

    pub(super) fn exchange_declare(&mut self, channel: u16, m: ExchangeDeclare) -> AmqpResult<()> {
        let name = ok_name(&m.exchange)?;
        let kind = ok_name(&m.kind)?;
        // RabbitMQ checks nothing on a passive declare; otherwise the type and the default
        // exchange come first (the vhost refuses those).
        if !m.passive && !name.is_empty() && Vhost::known_exchange_type(kind) {
            self.authorize_exchange_declare(channel, name, &m.arguments)?;
        }
        self.vhost.declare_exchange(
            name,
            kind,
            m.passive,
            m.durable,
            m.auto_delete,
            m.internal,
            &m.arguments,
        )?;
        if !m.nowait {
            self.send_method(channel, &Method::ExchangeDeclareOk(ExchangeDeclareOk {}));
        }
        Ok(())
    }

    /// Configure on the exchange; creating one with an alternate exchange also takes read on
    /// it and write on the alternate (RabbitMQ's checks; none when it exists already).
    fn authorize_exchange_declare(
        &mut self,
        channel: u16,
        name: &str,
        arguments: &warren_codec::FieldTable,
    ) -> AmqpResult<()> {
        let creating =
            !name.starts_with("amq.") && self.vhost.with_exchange(name, |_| ()).is_none();
        let alternate = match arguments.get("alternate-exchange") {
            Some(FieldValue::LongStr(ae)) if creating => Some(ae.to_string_lossy().into_owned()),
            _ => None,
        };
        let mut check = self.checker(channel)?;
        check.resource(Permission::Configure, Kind::Exchange, name)?;
        if let Some(alternate) = alternate {
            check.resource(Permission::Read, Kind::Exchange, name)?;
            check.resource(Permission::Write, Kind::Exchange, &alternate)?;
        }
        Ok(())
    }

    pub(super) fn exchange_delete(&mut self, channel: u16, m: ExchangeDelete) -> AmqpResult<()> {
        let name = ok_name(&m.exchange)?;
        // The default and the amq.* exchanges are refused (by the vhost) before this check.
        if !name.is_empty() && !name.starts_with("amq.") {
            self.checker(channel)?
                .resource(Permission::Configure, Kind::Exchange, name)?;
        }
        self.vhost.delete_exchange(name, m.if_unused)?;
        if !m.nowait {
            self.send_method(channel, &Method::ExchangeDeleteOk(ExchangeDeleteOk {}));
        }
        Ok(())
    }

    /// A binding's checks, in RabbitMQ's order: write on the destination, neither end the
    /// default exchange, read on the source, and a topic source's read permission on the key.
    fn authorize_binding(
        &mut self,
        channel: u16,
        destination: (Kind, &str),
        source: &str,
        key: &str,
    ) -> AmqpResult<()> {
        let topic = self.vhost.with_exchange(source, |x| x.is_topic()) == Some(true);
        let mut check = self.checker(channel)?;
        check.resource(Permission::Write, destination.0, destination.1)?;
        if source.is_empty() || destination == (Kind::Exchange, "") {
            return Err(default_exchange_refused());
        }
        check.resource(Permission::Read, Kind::Exchange, source)?;
        if topic {
            check.topic(Permission::Read, source, key.as_bytes())?;
        }
        Ok(())
    }

    pub(super) fn exchange_bind(&mut self, channel: u16, m: ExchangeBind) -> AmqpResult<()> {
        let (destination, source) = (ok_name(&m.destination)?, ok_name(&m.source)?);
        let key = ok_name(&m.routing_key)?;
        self.authorize_binding(channel, (Kind::Exchange, destination), source, key)?;
        self.vhost
            .bind_exchange(destination, source, key, &m.arguments)?;
        if !m.nowait {
            self.send_method(channel, &Method::ExchangeBindOk(ExchangeBindOk {}));
        }
        Ok(())
    }

    pub(super) fn exchange_unbind(&mut self, channel: u16, m: ExchangeUnbind) -> AmqpResult<()> {
        let (destination, source) = (ok_name(&m.destination)?, ok_name(&m.source)?);
        let key = ok_name(&m.routing_key)?;
        self.authorize_binding(channel, (Kind::Exchange, destination), source, key)?;
        self.vhost
            .unbind_exchange(destination, source, key, &m.arguments)?;
        if !m.nowait {
            self.send_method(channel, &Method::ExchangeUnbindOk(ExchangeUnbindOk {}));
        }
        Ok(())
    }

    pub(super) fn queue_declare(&mut self, channel: u16, m: QueueDeclare) -> AmqpResult<()> {
        let (id, vhost) = (self.id, self.vhost.clone());
        let max_queues = self.broker.access().vhost_limits(&vhost.name).max_queues;
        let mut checks = QueueDeclareChecks {
            check: self.checker(channel)?,
            max_queues,
        };
        let declared = vhost.declare_queue(
            id,
            ok_name(&m.queue)?,
            m.passive,
            m.durable,
            m.exclusive,
            m.auto_delete,
            &m.arguments,
            &mut checks,
        )?;
        let name = declared.queue.name.to_string();
        self.channel(channel)?.last_queue = Some(name.clone());
        if !m.nowait {
            self.send_method(
                channel,
                &Method::QueueDeclareOk(QueueDeclareOk {
                    queue: ShortStr::try_from(name).unwrap_or_default(),
                    message_count: declared.message_count,
                    consumer_count: declared.consumer_count,
                }),
            );
        }
        Ok(())
    }

    pub(super) fn queue_bind(&mut self, channel: u16, m: QueueBind) -> AmqpResult<()> {
        let queue = self.queue_name(channel, &m.queue)?;
        let (exchange, key) = (ok_name(&m.exchange)?, ok_name(&m.routing_key)?);
        self.authorize_binding(channel, (Kind::Queue, &queue), exchange, key)?;
        self.vhost
            .bind_queue(self.id, &queue, exchange, key, &m.arguments)?;
        if !m.nowait {
            self.send_method(channel, &Method::QueueBindOk(QueueBindOk {}));
        }
        Ok(())
    }

    pub(super) fn queue_unbind(&mut self, channel: u16, m: QueueUnbind) -> AmqpResult<()> {
        let queue = self.queue_name(channel, &m.queue)?;
        let (exchange, key) = (ok_name(&m.exchange)?, ok_name(&m.routing_key)?);
        self.authorize_binding(channel, (Kind::Queue, &queue), exchange, key)?;
        self.vhost
            .unbind_queue(self.id, &queue, exchange, key, &m.arguments)?;
        self.send_method(channel, &Method::QueueUnbindOk(QueueUnbindOk {}));
        Ok(())
    }

    pub(super) fn queue_purge(&mut self, channel: u16, m: QueuePurge) -> AmqpResult<()> {
        let queue = self.queue_name(channel, &m.queue)?;
        self.checker(channel)?
            .resource(Permission::Read, Kind::Queue, &queue)?;
        let count = self.vhost.queue_for(self.id, &queue)?.purge();
        if !m.nowait {
            self.send_method(
                channel,
                &Method::QueuePurgeOk(QueuePurgeOk {
                    message_count: count,
                }),
            );
        }
        Ok(())
    }

    pub(super) fn queue_delete(&mut self, channel: u16, m: QueueDelete) -> AmqpResult<()> {
        let queue = self.queue_name(channel, &m.queue)?;
        self.checker(channel)?
            .resource(Permission::Configure, Kind::Queue, &queue)?;
        let count = self
            .vhost
            .delete_queue(self.id, &queue, m.if_unused, m.if_empty)?;
        if !m.nowait {
            self.send_method(
                channel,
                &Method::QueueDeleteOk(QueueDeleteOk {
                    message_count: count,
                }),
            );
        }
        Ok(())
    }
}
