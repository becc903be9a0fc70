//! Exchange and queue methods: declare, delete, bind, unbind, purge; each checked by the
//! vhost, answered here.

use super::dispatch::ok_name;
use super::Connection;
use crate::error::{AmqpError, AmqpResult};
use warren_codec::generated::*;
use warren_codec::{Method, ShortStr};

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

    pub(super) fn exchange_delete(&mut self, channel: u16, m: ExchangeDelete) -> AmqpResult<()> {
        self.vhost
            .delete_exchange(ok_name(&m.exchange)?, m.if_unused)?;
        if !m.nowait {
            self.send_method(channel, &Method::ExchangeDeleteOk(ExchangeDeleteOk {}));
        }
        Ok(())
    }

    pub(super) fn exchange_bind(&mut self, channel: u16, m: ExchangeBind) -> AmqpResult<()> {
        self.vhost.bind_exchange(
            ok_name(&m.destination)?,
            ok_name(&m.source)?,
            ok_name(&m.routing_key)?,
            &m.arguments,
        )?;
        if !m.nowait {
            self.send_method(channel, &Method::ExchangeBindOk(ExchangeBindOk {}));
        }
        Ok(())
    }

    pub(super) fn exchange_unbind(&mut self, channel: u16, m: ExchangeUnbind) -> AmqpResult<()> {
        self.vhost.unbind_exchange(
            ok_name(&m.destination)?,
            ok_name(&m.source)?,
            ok_name(&m.routing_key)?,
            &m.arguments,
        )?;
        if !m.nowait {
            self.send_method(channel, &Method::ExchangeUnbindOk(ExchangeUnbindOk {}));
        }
        Ok(())
    }

    pub(super) fn queue_declare(&mut self, channel: u16, m: QueueDeclare) -> AmqpResult<()> {
        let declared = self.vhost.declare_queue(
            self.id,
            ok_name(&m.queue)?,
            m.passive,
            m.durable,
            m.exclusive,
            m.auto_delete,
            &m.arguments,
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
        self.vhost.bind_queue(
            self.id,
            &queue,
            ok_name(&m.exchange)?,
            ok_name(&m.routing_key)?,
            &m.arguments,
        )?;
        if !m.nowait {
            self.send_method(channel, &Method::QueueBindOk(QueueBindOk {}));
        }
        Ok(())
    }

    pub(super) fn queue_unbind(&mut self, channel: u16, m: QueueUnbind) -> AmqpResult<()> {
        let queue = self.queue_name(channel, &m.queue)?;
        self.vhost.unbind_queue(
            self.id,
            &queue,
            ok_name(&m.exchange)?,
            ok_name(&m.routing_key)?,
            &m.arguments,
        )?;
        self.send_method(channel, &Method::QueueUnbindOk(QueueUnbindOk {}));
        Ok(())
    }

    pub(super) fn queue_purge(&mut self, channel: u16, m: QueuePurge) -> AmqpResult<()> {
        let queue = self.queue_name(channel, &m.queue)?;
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
