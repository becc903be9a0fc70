//! Transactions: tx.select, tx.commit (the held publishes and settlements applied in order),
//! tx.rollback.

use super::channel::Transaction;
use super::Connection;
use crate::error::{AmqpError, AmqpResult};
use warren_codec::generated::*;
use warren_codec::Method;

impl Connection {
    pub(super) fn tx_select(&mut self, channel: u16) -> AmqpResult<()> {
        let ch = self.channel(channel)?;
        if ch.confirm {
            return Err(AmqpError::precondition_failed(
                "cannot switch from confirm to tx mode",
            ));
        }
        if ch.tx.is_none() {
            ch.tx = Some(Transaction::default());
        }
        self.send_method(channel, &Method::TxSelectOk(TxSelectOk {}));
        Ok(())
    }

    pub(super) fn tx_commit(&mut self, channel: u16) -> AmqpResult<()> {
        let ch = self.channel(channel)?;
        let Some(tx) = ch.tx.replace(Transaction::default()) else {
            return Err(AmqpError::precondition_failed(
                "channel is not transactional",
            ));
        };
        let submits = self.store_submits;
        for p in tx.publishes {
            self.route_and_enqueue(channel, &p.publish, p.message, p.headers.as_ref(), true)?;
        }
        for (tag, multiple, how) in tx.settlements {
            self.apply_settlement(channel, tag, multiple, how)?;
        }
        if self.store_submits == submits {
            self.send_method(channel, &Method::TxCommitOk(TxCommitOk {}));
        } else {
            // commit-ok once the persistent messages are on disk (`persisted`).
            self.commits_waiting.push(channel);
        }
        Ok(())
    }

    pub(super) fn tx_rollback(&mut self, channel: u16) -> AmqpResult<()> {
        let ch = self.channel(channel)?;
        if ch.tx.is_none() {
            return Err(AmqpError::precondition_failed(
                "channel is not transactional",
            ));
        }
        ch.tx = Some(Transaction::default());
        self.send_method(channel, &Method::TxRollbackOk(TxRollbackOk {}));
        Ok(())
    }
}
