//! Consumers: attaching (with exclusive-consumer checks), cancelling and removing them when
//! a channel or connection goes, and choosing the next one to deliver to (single active
//! consumer, consumer priorities, round-robin, prefetch credit).

use super::delivery::ConnEvent;
use super::{Queue, State};
use crate::credit::Credit;
use crate::error::{AmqpError, AmqpResult};
use crate::ids::ConnectionId;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;
use warren_codec::ShortStr;

/// A consumer attached to this queue.
#[derive(Debug)]
pub(crate) struct Consumer {
    pub(crate) tag: ShortStr,
    pub(crate) connection: ConnectionId,
    pub(crate) channel: u16,
    pub(crate) no_ack: bool,
    pub(crate) exclusive: bool,
    pub(crate) tx: UnboundedSender<ConnEvent>,
    /// Per-consumer prefetch (basic.qos global=false).
    pub(crate) credit: Arc<Credit>,
    /// Per-channel prefetch (basic.qos global=true, RabbitMQ's reading).
    pub(crate) channel_credit: Arc<Credit>,
    /// RabbitMQ's consumer priority (`x-priority` consume argument, default 0): messages go to
    /// the highest-priority consumers that have credit, round-robin among equals.
    pub(crate) priority: i64,
    /// The connection's delivery window (`credit::DELIVERY_WINDOW`), shared by its consumers.
    pub(crate) window: Arc<Credit>,
}

impl Consumer {
    pub(super) fn has_credit(&self) -> bool {
        self.window.has_room()
            && (self.no_ack || (self.credit.has_room() && self.channel_credit.has_room()))
    }

    /// Takes one delivery's credit, all of it or none: `has_credit` only looked, and the
    /// channel credit (global qos) and the window are shared with queues dispatching on other
    /// threads. The window goes last: when it is what fails, the channel credit given back
    /// here is offered again once the window reopens (the connection kicks its queues then).
    pub(super) fn try_take_credit(&self, cost: u32) -> bool {
        if !self.no_ack {
            if !self.credit.try_take(1) {
                return false;
            }
            if !self.channel_credit.try_take(1) {
                self.credit.give_back(1);
                return false;
            }
        }
        if self.window.try_take(cost) {
            return true;
        }
        if !self.no_ack {
            self.credit.give_back(1);
            self.channel_credit.give_back(1);
        }
        false
    }
}

/// What `cancel` and `remove_consumers` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ConsumerRemoval {
    pub(crate) removed: usize,
    /// The queue is auto-delete and just lost its last consumer: the vhost should delete it.
    pub(crate) auto_delete_now: bool,
}

impl Queue {
    pub(crate) fn add_consumer(self: &Arc<Self>, consumer: Consumer) -> AmqpResult<()> {
        self.locked(|st| {
            if st.deleted {
                return Err(AmqpError::not_found(format!(
                    "no queue '{}' in vhost '{}'",
                    self.name, self.vhost
                )));
            }
            if st.consumers.iter().any(|c| c.exclusive)
                || (consumer.exclusive && !st.consumers.is_empty())
            {
                return Err(AmqpError::access_refused(format!(
                    "queue '{}' in vhost '{}' in exclusive use",
                    self.name, self.vhost
                )));
            }
            self.touch();
            st.prioritized |= consumer.priority != 0;
            st.consumers.push(consumer);
            st.had_consumers = true;
            self.dispatch(st);
            Ok(())
        })
    }

    /// Removes one consumer (basic.cancel).
    pub(crate) fn cancel(
        self: &Arc<Self>,
        connection: ConnectionId,
        channel: u16,
        tag: &ShortStr,
    ) -> ConsumerRemoval {
        self.remove_where(|c| c.connection == connection && c.channel == channel && c.tag == *tag)
    }

    /// Removes every consumer of a channel (channel close) or connection (`channel` None).
    pub(crate) fn remove_consumers(
        self: &Arc<Self>,
        connection: ConnectionId,
        channel: Option<u16>,
    ) -> ConsumerRemoval {
        self.remove_where(|c| {
            c.connection == connection && channel.is_none_or(|ch| c.channel == ch)
        })
    }

    fn remove_where(self: &Arc<Self>, pred: impl Fn(&Consumer) -> bool) -> ConsumerRemoval {
        self.locked(|st| {
            let before = st.consumers.len();
            st.consumers.retain(|c| !pred(c));
            let removed = before - st.consumers.len();
            if st.next_consumer >= st.consumers.len() {
                st.next_consumer = 0;
            }
            st.prioritized = st.consumers.iter().any(|c| c.priority != 0);
            if removed > 0 && st.consumers.is_empty() {
                self.touch(); // unused from now on: x-expires counts from here
            }
            if removed > 0 && !st.deleted {
                // The next single active consumer, or a lower-priority one, takes over now.
                self.dispatch(st);
            }
            ConsumerRemoval {
                removed,
                auto_delete_now: removed > 0
                    && self.options.auto_delete
                    && st.consumers.is_empty()
                    && !st.deleted,
            }
        })
    }

    /// The consumer the next message goes to, or `None` if none can take one now.
    ///
    /// - Single active consumer (`x-single-active-consumer`): only the earliest registered
    ///   consumer, as RabbitMQ 3.10 chooses it; the others wait until it goes.
    /// - Consumer priorities: the highest priority among consumers with credit wins;
    ///   round-robin among equals. When the high ones are out of credit, lower ones get
    ///   messages (RabbitMQ's rule).
    pub(super) fn pick_consumer(&self, st: &State) -> Option<usize> {
        let n = st.consumers.len();
        if self.single_active {
            return st.consumers[0].has_credit().then_some(0);
        }
        let start = st.next_consumer % n;
        let mut order = (0..n).map(|k| (start + k) % n);
        if !st.prioritized {
            return order.find(|&i| st.consumers[i].has_credit());
        }
        let best = st
            .consumers
            .iter()
            .filter(|c| c.has_credit())
            .map(|c| c.priority)
            .max()?;
        order.find(|&i| st.consumers[i].priority == best && st.consumers[i].has_credit())
    }
}
