//! Redeclares: comparing a declare with the exchange or queue that exists, and RabbitMQ's
//! `inequivalent arg` reply texts when they differ.

use super::delayed;
use super::exchanges::ALTERNATE_EXCHANGE;
use super::Vhost;
use crate::arguments;
use crate::error::{AmqpError, AmqpResult};
use crate::meta::ExchangeMeta;
use crate::queue::{Queue, QueueOptions};
use warren_codec::FieldTable;

/// An exchange's type as declared, which redeclares are compared with.
fn declared_type(meta: &ExchangeMeta) -> &'static str {
    if meta.delayed {
        delayed::EXCHANGE_TYPE
    } else {
        meta.kind.as_str()
    }
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

impl Vhost {
    /// A redeclare of exchange `name` (which exists as `existing`): an error naming the first
    /// property or argument that differs, in RabbitMQ's order.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_exchange_equivalent(
        &self,
        name: &str,
        existing: &ExchangeMeta,
        kind: &str,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: &FieldTable,
    ) -> AmqpResult<()> {
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
        check("type", kind, declared_type(existing))?;
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
        Ok(())
    }

    pub(super) fn check_equivalent(&self, q: &Queue, new: &QueueOptions) -> AmqpResult<()> {
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
}
