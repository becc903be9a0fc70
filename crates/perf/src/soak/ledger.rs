//! The soak's bookkeeping of every message id: what each publisher's confirms said about it and
//! how many times the consumers saw it, and the check that every confirmed message was
//! delivered exactly once.
//!
//! An id is the publisher's index in the high bits and its channel's publish sequence number
//! (the delivery tag of its confirm, from 1) in the low [`SEQ_BITS`]; it rides in the first 8
//! bytes of each body.

/// Bits of an id that hold the publish sequence number.
pub const SEQ_BITS: u32 = 40;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

const OPEN: u8 = 0;
const ACKED: u8 = 1;
const NACKED: u8 = 2;

/// The id of publisher `publisher`'s message number `seq`.
pub fn message_id(publisher: usize, seq: u64) -> u64 {
    ((publisher as u64) << SEQ_BITS) | (seq & SEQ_MASK)
}

/// One publisher's messages, indexed by sequence number - 1.
#[derive(Debug, Clone, Default)]
pub struct PublisherLedger {
    pub persistent: bool,
    states: Vec<u8>,
    /// Every sequence number below this index + 1 is settled.
    first_open: usize,
    pub acked: u64,
    pub nacked: u64,
}

impl PublisherLedger {
    pub fn new(persistent: bool) -> PublisherLedger {
        PublisherLedger {
            persistent,
            ..Default::default()
        }
    }

    /// Records one more publish; its sequence number.
    pub fn publish(&mut self) -> u64 {
        self.states.push(OPEN);
        self.states.len() as u64
    }

    pub fn sent(&self) -> u64 {
        self.states.len() as u64
    }

    /// Published and neither acked nor nacked yet.
    pub fn open(&self) -> u64 {
        self.sent() - self.acked - self.nacked
    }

    /// Applies a basic.ack (`nack == false`) or basic.nack; how many messages it settled.
    /// Tags that were never published or are already settled are ignored.
    pub fn settle(&mut self, tag: u64, multiple: bool, nack: bool) -> u64 {
        if tag == 0 || tag > self.sent() {
            return 0;
        }
        let last = tag as usize;
        let first = if multiple { self.first_open } else { last - 1 };
        let state = if nack { NACKED } else { ACKED };
        let mut n = 0;
        for s in &mut self.states[first.min(last)..last] {
            if *s == OPEN {
                *s = state;
                n += 1;
            }
        }
        while self.states.get(self.first_open).is_some_and(|s| *s != OPEN) {
            self.first_open += 1;
        }
        if nack {
            self.nacked += n;
        } else {
            self.acked += n;
        }
        n
    }
}

/// How many times each id was delivered (and settled: acked, or consumed with autoack).
#[derive(Debug, Clone, Default)]
pub struct Deliveries {
    counts: Vec<Vec<u8>>,
    /// Deliveries whose body carried no id of this run.
    pub foreign: u64,
    pub total: u64,
}

impl Deliveries {
    pub fn new(publishers: usize) -> Deliveries {
        Deliveries {
            counts: vec![Vec::new(); publishers],
            ..Default::default()
        }
    }

    pub fn record(&mut self, id: u64) {
        self.total += 1;
        let p = (id >> SEQ_BITS) as usize;
        let seq = (id & SEQ_MASK) as usize;
        match self.counts.get_mut(p) {
            Some(c) if seq > 0 => {
                if c.len() < seq {
                    c.resize(seq, 0);
                }
                c[seq - 1] = c[seq - 1].saturating_add(1);
            }
            _ => self.foreign += 1,
        }
    }

    /// Adds another consumer's deliveries to these.
    pub fn merge(&mut self, other: &Deliveries) {
        self.foreign += other.foreign;
        self.total += other.total;
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            if mine.len() < theirs.len() {
                mine.resize(theirs.len(), 0);
            }
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m = m.saturating_add(*t);
            }
        }
    }

    fn count(&self, publisher: usize, seq_index: usize) -> u8 {
        self.counts
            .get(publisher)
            .and_then(|c| c.get(seq_index))
            .copied()
            .unwrap_or(0)
    }
}

/// The check of one class of messages (transient or persistent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    pub published: u64,
    pub confirmed: u64,
    pub nacked: u64,
    /// Published but never settled (still in flight, or unread by a blocked broker, at the end).
    pub unconfirmed: u64,
    /// Confirmed and delivered exactly once.
    pub confirmed_once: u64,
    /// Confirmed and never delivered.
    pub lost: u64,
    /// Ids delivered more than once (any confirm state).
    pub duplicated: u64,
    /// Unconfirmed ones that were delivered anyway (allowed: the confirm was still on its way).
    pub unconfirmed_delivered: u64,
    /// Deliveries of ids above any sequence number published (should be impossible).
    pub never_published: u64,
}

/// Checks every published id of the publishers with `persistent` against the deliveries.
pub fn verify(pubs: &[PublisherLedger], got: &Deliveries, persistent: bool) -> Verdict {
    let mut v = Verdict::default();
    for (p, l) in pubs.iter().enumerate() {
        if l.persistent != persistent {
            continue;
        }
        v.published += l.sent();
        v.confirmed += l.acked;
        v.nacked += l.nacked;
        v.unconfirmed += l.open();
        for (i, state) in l.states.iter().enumerate() {
            let n = got.count(p, i);
            if n > 1 {
                v.duplicated += 1;
            }
            match (*state, n) {
                (ACKED, 0) => v.lost += 1,
                (ACKED, 1) => v.confirmed_once += 1,
                (OPEN, 1..) => v.unconfirmed_delivered += 1,
                _ => {}
            }
        }
        let extra = got
            .counts
            .get(p)
            .map_or(&[][..], |c| c.get(l.states.len()..).unwrap_or(&[]));
        v.never_published += extra.iter().filter(|n| **n > 0).count() as u64;
    }
    v
}

/// The first `limit` confirmed ids that were never delivered, for a report to name.
pub fn lost_ids(pubs: &[PublisherLedger], got: &Deliveries, limit: usize) -> Vec<u64> {
    pubs.iter()
        .enumerate()
        .flat_map(|(p, l)| {
            l.states
                .iter()
                .enumerate()
                .filter(move |(i, s)| **s == ACKED && got.count(p, *i) == 0)
                .map(move |(i, _)| message_id(p, i as u64 + 1))
        })
        .take(limit)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_publisher_and_sequence() {
        let mut d = Deliveries::new(3);
        d.record(message_id(2, 5));
        d.record(message_id(2, 5));
        d.record(message_id(7, 1));
        d.record(message_id(0, 0));
        assert_eq!((d.count(2, 4), d.foreign, d.total), (2, 2, 4));
    }

    #[test]
    fn settles_single_and_multiple_confirms() {
        let mut l = PublisherLedger::new(true);
        for _ in 0..6 {
            l.publish();
        }
        assert_eq!(l.settle(2, false, false), 1);
        assert_eq!(l.settle(3, true, false), 2);
        assert_eq!(l.settle(3, true, false), 0);
        assert_eq!(l.settle(5, false, true), 1);
        assert_eq!(l.settle(99, false, false), 0);
        assert_eq!((l.acked, l.nacked, l.open()), (3, 1, 2));
        assert_eq!(l.settle(6, true, false), 2);
        assert_eq!((l.acked, l.nacked, l.open()), (5, 1, 0));
    }

    #[test]
    fn verdict_counts_losses_duplicates_and_late_confirms() {
        let mut l = PublisherLedger::new(false);
        for _ in 0..5 {
            l.publish();
        }
        l.settle(3, true, false); // 1..=3 confirmed, 4 and 5 open
        let mut d = Deliveries::new(2);
        d.record(message_id(0, 1));
        d.record(message_id(0, 2));
        d.record(message_id(0, 2));
        d.record(message_id(0, 5));
        d.record(message_id(0, 9));
        let pubs = [l, PublisherLedger::new(true)];
        let v = verify(&pubs, &d, false);
        assert_eq!(
            v,
            Verdict {
                published: 5,
                confirmed: 3,
                nacked: 0,
                unconfirmed: 2,
                confirmed_once: 1,
                lost: 1,
                duplicated: 1,
                unconfirmed_delivered: 1,
                never_published: 1,
            }
        );
        assert_eq!(verify(&pubs, &d, true), Verdict::default());
    }

    #[test]
    fn merging_adds_counts() {
        let mut a = Deliveries::new(1);
        a.record(message_id(0, 1));
        let mut b = Deliveries::new(1);
        b.record(message_id(0, 1));
        b.record(message_id(0, 3));
        a.merge(&b);
        assert_eq!((a.count(0, 0), a.count(0, 2), a.total), (2, 1, 3));
    }
}
