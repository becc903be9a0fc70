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

#[cfg(test)]
mod credit_tests {
    //! Prefetch credit as dispatch takes it: per-consumer and channel (global qos) credit with
    //! the connection's delivery window, taken all or nothing, returned on ack (credit) and on
    //! write-out (window), and whether a return reopened a closed window.

    use super::Consumer;
    use crate::credit::Credit;
    use crate::queue::delivery::ConnEvent;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use std::sync::Arc;
    use warren_codec::ShortStr;

    fn consumer(
        prefetch: u32,
        no_ack: bool,
        channel: &Arc<Credit>,
        window: &Arc<Credit>,
    ) -> Consumer {
        let (tx, _) = tokio::sync::mpsc::unbounded_channel::<ConnEvent>();
        Consumer {
            tag: ShortStr::from_static("c"),
            connection: 1,
            channel: 1,
            no_ack,
            exclusive: false,
            tx,
            credit: Credit::new(prefetch),
            channel_credit: channel.clone(),
            priority: 0,
            window: window.clone(),
        }
    }

    #[test]
    fn a_full_window_stops_every_consumer_and_its_return_reopens_it() {
        let (channel, window) = (Credit::new(3), Credit::new(1_000));
        let a = consumer(2, false, &channel, &window);
        let b = consumer(0, true, &channel, &window);
        assert!(a.try_take_credit(600) && a.has_credit());
        assert!(
            a.try_take_credit(600),
            "under the window: one more, however large"
        );
        assert!(
            !a.has_credit() && !b.has_credit(),
            "window full (and a's prefetch)"
        );
        assert!(
            !b.try_take_credit(1),
            "no-ack consumers wait for the window too"
        );
        assert!(!window.give_back(100), "still over the limit");
        assert!(
            window.give_back(600),
            "back under: the connection kicks its queues"
        );
        assert!(
            b.try_take_credit(1) && !a.try_take_credit(1),
            "a is out of prefetch"
        );
        assert!(a.credit.give_back(1), "an ack reopens a's prefetch");
        assert!(a.try_take_credit(1));
    }

    #[test]
    fn a_failed_take_returns_what_it_took() {
        let (channel, window) = (Credit::new(1), Credit::new(10));
        let a = consumer(5, false, &channel, &window);
        assert!(window.try_take(10));
        assert!(!a.try_take_credit(1), "the window is full");
        assert_eq!(a.credit.limit(), 5);
        assert!(
            a.credit.has_room() && channel.has_room(),
            "credit given back"
        );
        window.give_back(10);
        assert!(a.try_take_credit(1));
        assert!(!a.try_take_credit(1), "the channel's prefetch of 1 is used");
        assert!(
            a.credit.try_take(4) && !a.credit.has_room(),
            "the failed take returned its 1"
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Take { consumer: Index, cost: u32 },
        Ack { pick: Index },
        WriteOut { pick: Index },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (any::<Index>(), 1u32..400).prop_map(|(consumer, cost)| Op::Take { consumer, cost }),
            2 => any::<Index>().prop_map(|pick| Op::Ack { pick }),
            2 => any::<Index>().prop_map(|pick| Op::WriteOut { pick }),
        ]
    }

    /// Whether a credit with `limit` and `used` has room (0: unlimited).
    fn room(limit: u32, used: u32) -> bool {
        limit == 0 || used < limit
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn credit_and_window_follow_their_counts(
            prefetches in prop::collection::vec((0u32..4, any::<bool>()), 1..4),
            channel_limit in 0u32..5,
            window_limit in 1u32..1_000,
            ops in prop::collection::vec(op(), 1..60),
        ) {
            let (channel, window) = (Credit::new(channel_limit), Credit::new(window_limit));
            let consumers: Vec<Consumer> = prefetches
                .iter()
                .map(|&(p, no_ack)| consumer(p, no_ack, &channel, &window))
                .collect();
            let mut used = vec![0u32; consumers.len()];
            let (mut channel_used, mut window_used) = (0u32, 0u32);
            // Deliveries: (consumer, cost, acked, written out).
            let mut out: Vec<(usize, u32, bool, bool)> = Vec::new();
            for op in ops {
                match op {
                    Op::Take { consumer, cost } => {
                        let i = consumer.index(consumers.len());
                        let c = &consumers[i];
                        let expect = room(window_limit, window_used)
                            && (c.no_ack
                                || (room(prefetches[i].0, used[i])
                                    && room(channel_limit, channel_used)));
                        prop_assert_eq!(c.has_credit(), expect);
                        prop_assert_eq!(c.try_take_credit(cost), expect);
                        if expect {
                            window_used += cost;
                            if !c.no_ack {
                                used[i] += 1;
                                channel_used += 1;
                            }
                            out.push((i, cost, c.no_ack, false));
                        }
                    }
                    Op::Ack { pick } => {
                        let open: Vec<usize> = (0..out.len()).filter(|&k| !out[k].2).collect();
                        if open.is_empty() { continue; }
                        let k = open[pick.index(open.len())];
                        let i = out[k].0;
                        out[k].2 = true;
                        let closed = !room(prefetches[i].0, used[i]);
                        prop_assert_eq!(consumers[i].credit.give_back(1), closed);
                        used[i] -= 1;
                        let closed = !room(channel_limit, channel_used);
                        prop_assert_eq!(channel.give_back(1), closed);
                        channel_used -= 1;
                    }
                    Op::WriteOut { pick } => {
                        let open: Vec<usize> = (0..out.len()).filter(|&k| !out[k].3).collect();
                        if open.is_empty() { continue; }
                        let k = open[pick.index(open.len())];
                        out[k].3 = true;
                        let cost = out[k].1;
                        let reopened = window_used >= window_limit
                            && window_used - cost < window_limit;
                        prop_assert_eq!(window.give_back(cost), reopened, "window reopened");
                        window_used -= cost;
                    }
                }
                prop_assert_eq!(window.has_room(), room(window_limit, window_used));
                prop_assert_eq!(channel.has_room(), room(channel_limit, channel_used));
            }
        }
    }
}
