//! The model the queue is checked against: plain maps of ready and unacked messages and of
//! consumers with their credit, updated by each operation the way RabbitMQ's classic queue
//! behaves (priority order, round-robin among the highest-priority consumers with credit,
//! expiry at the head, drop-head over a length limit).

use super::{Overflow, Setup};
use crate::dead_letter::Reason;
use proptest::sample::Index;
use std::collections::{BTreeMap, BTreeSet};

/// A message in the model; `id` is also its body.
#[derive(Debug, Clone)]
pub(super) struct MMsg {
    pub(super) id: u64,
    pub(super) seq: u64,
    pub(super) priority: u8,
    /// Virtual ms (since the case began) after which it is expired; `None`: never.
    pub(super) expires_at: Option<u64>,
    pub(super) delivered: bool,
    /// The consumer it went to (index into `consumers`), `None` for basic.get.
    pub(super) holder: Option<usize>,
}

#[derive(Debug)]
pub(super) struct MConsumer {
    pub(super) tag: String,
    pub(super) prefetch: u32,
    pub(super) used: u32,
    pub(super) priority: i64,
}

#[derive(Debug, Default)]
pub(super) struct Model {
    pub(super) setup: Option<Setup>,
    pub(super) next_seq: u64,
    pub(super) now: u64,
    /// Ready messages by (priority descending, seq): the order they leave in.
    pub(super) ready: BTreeMap<(std::cmp::Reverse<u8>, u64), MMsg>,
    pub(super) unacked: BTreeMap<u64, MMsg>,
    /// Every consumer ever added (cancelled ones stay, for their unacked messages' credit).
    pub(super) all: Vec<MConsumer>,
    /// Live consumers, as indexes into `all`, in registration order.
    pub(super) live: Vec<usize>,
    pub(super) next_consumer: usize,
    pub(super) channel_used: u32,
    /// (consumer tag, id, redelivered) in the order the queue must hand them out.
    pub(super) delivered: Vec<(String, u64, bool)>,
    pub(super) dead: Vec<(u64, Reason)>,
}

impl Model {
    pub(super) fn setup(&self) -> &Setup {
        self.setup.as_ref().unwrap()
    }

    pub(super) fn expire_head(&mut self) {
        while let Some((_, head)) = self.ready.first_key_value() {
            match head.expires_at {
                Some(at) if at < self.now => {
                    let (_, m) = self.ready.pop_first().unwrap();
                    self.die(m.id, Reason::Expired);
                }
                _ => break,
            }
        }
    }

    pub(super) fn die(&mut self, id: u64, reason: Reason) {
        if self.setup().dead_letter {
            self.dead.push((id, reason));
        }
    }

    pub(super) fn has_credit(&self, c: usize) -> bool {
        let c = &self.all[c];
        let limit = self.setup().channel_prefetch;
        (c.prefetch == 0 || c.used < c.prefetch) && (limit == 0 || self.channel_used < limit)
    }

    /// Highest consumer priority among those with credit; round-robin among them.
    pub(super) fn pick(&self) -> Option<usize> {
        let n = self.live.len();
        let best = (0..n)
            .filter(|&i| self.has_credit(self.live[i]))
            .map(|i| self.all[self.live[i]].priority)
            .max()?;
        let start = self.next_consumer % n;
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.all[self.live[i]].priority == best && self.has_credit(self.live[i]))
    }

    pub(super) fn dispatch(&mut self) {
        self.expire_head();
        while !self.ready.is_empty() && !self.live.is_empty() {
            let Some(i) = self.pick() else { break };
            self.expire_head();
            let Some((_, mut m)) = self.ready.pop_first() else {
                break;
            };
            self.next_consumer = (i + 1) % self.live.len();
            let c = self.live[i];
            self.all[c].used += 1;
            self.channel_used += 1;
            self.delivered
                .push((self.all[c].tag.clone(), m.id, m.delivered));
            m.delivered = true;
            m.holder = Some(c);
            self.unacked.insert(m.seq, m);
        }
    }

    pub(super) fn drop_head_over_limit(&mut self) {
        let s = self.setup();
        if s.overflow != Overflow::DropHead {
            return;
        }
        let Some(max) = s.max_length else { return };
        while self.ready.len() as u64 > max {
            let (_, m) = self.ready.pop_first().unwrap();
            self.die(m.id, Reason::MaxLen);
        }
    }

    pub(super) fn publish(&mut self, id: u64, priority: u8, ttl: Option<u64>) -> bool {
        let s = self.setup().clone();
        if s.overflow != Overflow::DropHead
            && s.max_length
                .is_some_and(|max| self.ready.len() as u64 + 1 > max)
        {
            if s.overflow == Overflow::RejectPublishDlx {
                self.die(id, Reason::MaxLen);
            }
            return false;
        }
        let priority = s.max_priority.map_or(0, |max| priority.min(max));
        let seq = self.next_seq;
        self.next_seq += 1;
        let m = MMsg {
            id,
            seq,
            priority,
            expires_at: ttl.map(|t| self.now + t),
            delivered: false,
            holder: None,
        };
        self.ready.insert((std::cmp::Reverse(priority), seq), m);
        self.dispatch();
        self.drop_head_over_limit();
        true
    }

    /// Takes the unacked messages `picks` select, returning their credit as the connection
    /// does before it settles them.
    pub(super) fn take_unacked(&mut self, picks: &[Index]) -> Vec<MMsg> {
        let seqs: BTreeSet<u64> = if self.unacked.is_empty() {
            BTreeSet::new()
        } else {
            let keys: Vec<u64> = self.unacked.keys().copied().collect();
            picks.iter().map(|p| keys[p.index(keys.len())]).collect()
        };
        let out: Vec<MMsg> = seqs
            .iter()
            .map(|s| self.unacked.remove(s).unwrap())
            .collect();
        for m in &out {
            if let Some(c) = m.holder {
                self.all[c].used -= 1;
                self.channel_used -= 1;
            }
        }
        out
    }
}
