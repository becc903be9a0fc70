//! A connection's message counts for the current turn, kept in plain integers and added to its
//! vhost's shared counters (and its exchanges') once per turn. Every consumer of a vhost bumps
//! the same delivery counters: bumped per message they made the cores take turns with one
//! cache line (fanout-10 lost throughput to it); per turn it is a handful of adds for a batch.

use crate::stats::MessageCounters;
use crate::vhost::Vhost;
use warren_codec::ShortStr;

/// Counts not yet in the vhost's counters.
#[derive(Debug, Default)]
pub(super) struct Tally {
    received: u64,
    received_confirm: u64,
    routed: u64,
    dropped: u64,
    returned: u64,
    confirmed: u64,
    consume_auto_ack: u64,
    consume_manual_ack: u64,
    get_auto_ack: u64,
    get_manual_ack: u64,
    get_empty: u64,
    redelivered: u64,
    acknowledged: u64,
    /// (exchange, messages published into it, copies routed to queues); a publisher mostly
    /// uses one exchange, so this stays a one-entry list.
    exchanges: Vec<(ShortStr, u64, u64)>,
    any: bool,
}

impl Tally {
    pub(super) fn received(&mut self, confirm: bool) {
        self.received += 1;
        self.received_confirm += u64::from(confirm);
        self.any = true;
    }

    /// A publish to `exchange` that reached `queues` queues (0: unroutable; `returned` if it was
    /// mandatory).
    pub(super) fn routed(&mut self, exchange: &ShortStr, queues: usize, returned: bool) {
        match (queues, returned) {
            (0, true) => self.returned += 1,
            (0, false) => self.dropped += 1,
            _ => self.routed += 1,
        }
        match self.exchanges.iter_mut().find(|(x, _, _)| x == exchange) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += queues as u64;
            }
            None => self.exchanges.push((exchange.clone(), 1, queues as u64)),
        }
        self.any = true;
    }

    pub(super) fn confirmed(&mut self, n: u64) {
        self.confirmed += n;
        self.any = true;
    }

    pub(super) fn delivered(&mut self, get: bool, no_ack: bool, redelivered: bool) {
        match (get, no_ack) {
            (false, true) => self.consume_auto_ack += 1,
            (false, false) => self.consume_manual_ack += 1,
            (true, true) => self.get_auto_ack += 1,
            (true, false) => self.get_manual_ack += 1,
        }
        self.redelivered += u64::from(redelivered);
        self.any = true;
    }

    pub(super) fn get_empty(&mut self) {
        self.get_empty += 1;
        self.any = true;
    }

    pub(super) fn acknowledged(&mut self, n: u64) {
        self.acknowledged += n;
        self.any = true;
    }

    /// Adds what was counted to `vhost`'s counters and starts over.
    pub(super) fn flush(&mut self, vhost: &Vhost) {
        if !std::mem::take(&mut self.any) {
            return;
        }
        add_to(&vhost.counters, self);
        for (exchange, published, routed) in self.exchanges.drain(..) {
            vhost.count_exchange(&exchange, published, routed);
        }
        let exchanges = std::mem::take(&mut self.exchanges);
        *self = Tally {
            exchanges,
            ..Tally::default()
        };
    }
}

fn add_to(c: &MessageCounters, t: &Tally) {
    let (p, d) = (&c.publish, &c.deliver);
    for (counter, n) in [
        (&p.received, t.received),
        (&p.received_confirm, t.received_confirm),
        (&p.routed, t.routed),
        (&p.unroutable_dropped, t.dropped),
        (&p.unroutable_returned, t.returned),
        (&p.confirmed, t.confirmed),
        (&d.consume_auto_ack, t.consume_auto_ack),
        (&d.consume_manual_ack, t.consume_manual_ack),
        (&d.get_auto_ack, t.get_auto_ack),
        (&d.get_manual_ack, t.get_manual_ack),
        (&d.get_empty, t.get_empty),
        (&d.redelivered, t.redelivered),
        (&d.acknowledged, t.acknowledged),
    ] {
        if n != 0 {
            counter.bump(n);
        }
    }
}
