//! Tests of the confirm tracker: unit tests, and a proptest that plays the connection's use
//! of it (publishes, refusals, read batches that submit a store write or not, writes
//! resolving in submission order, ok or failed) and checks the confirm rules on every frame.

use super::{ConfirmTracker, Settlement};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

fn ack(tag: u64, multiple: bool) -> Option<Settlement> {
    Some(Settlement {
        tag,
        multiple,
        ack: true,
    })
}

#[test]
fn acks_a_range_once_with_multiple_only_past_one() {
    let mut t = ConfirmTracker::default();
    assert_eq!(t.unsettled_upto(), None);
    assert_eq!((t.publish(), t.publish()), (1, 2));
    assert_eq!(t.unsettled_upto(), Some(2));
    assert_eq!(t.settle_upto(2, true), ack(2, true));
    assert_eq!(t.settle_upto(2, true), None, "settled once");
    assert_eq!(t.unsettled_upto(), None);
    t.publish();
    assert_eq!(t.settle_upto(3, true), ack(3, false));
    assert_eq!(t.settle_upto(4, true), None, "not published yet");
}

#[test]
fn a_refused_publish_is_nacked_alone_and_not_acked_again_on_its_own() {
    let mut t = ConfirmTracker::default();
    t.publish();
    let nack = t.refuse_last();
    assert_eq!((nack.tag, nack.multiple, nack.ack), (1, false, false));
    assert_eq!(
        t.settle_upto(1, true),
        None,
        "only the refused one in range"
    );
    t.publish();
    t.refuse_last();
    t.publish();
    assert_eq!(
        t.settle_upto(3, true),
        ack(3, true),
        "a multiple ack may span a publish nacked on its own, as RabbitMQ's does"
    );
}

#[test]
fn a_failed_store_write_nacks_its_range() {
    let mut t = ConfirmTracker::default();
    t.publish();
    t.publish();
    let nack = t.settle_upto(2, false).unwrap();
    assert_eq!((nack.tag, nack.multiple, nack.ack), (2, true, false));
}

#[derive(Debug, Clone)]
enum Op {
    /// A confirmable publish in the current read batch; `persistent`: it waits on the
    /// batch's store write; `refused`: a queue refused it (x-overflow reject-publish).
    Publish { persistent: bool, refused: bool },
    /// The read batch ends (`finish_confirms`).
    EndBatch,
    /// The read batch ends, then the oldest outstanding store write resolves (`persisted`).
    Resolve { ok: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), prop::bool::weighted(0.15))
            .prop_map(|(persistent, refused)| Op::Publish { persistent, refused }),
        2 => Just(Op::EndBatch),
        2 => prop::bool::weighted(0.8).prop_map(|ok| Op::Resolve { ok }),
    ]
}

/// The connection's side, as confirms.rs drives the tracker, recording every frame.
#[derive(Default)]
struct Harness {
    t: ConfirmTracker,
    /// The current batch has a store write to wait for.
    batch_writes: bool,
    /// Writes in flight, oldest first: (write id, the range due when it resolves).
    writes: VecDeque<(usize, Option<u64>)>,
    next_write: usize,
    /// Per publish seq: the write it waits on (its batch's, if the batch had one).
    write_of: BTreeMap<u64, Option<usize>>,
    refused: Vec<u64>,
    /// Resolved writes and whether they succeeded.
    resolved: BTreeMap<usize, bool>,
    /// Publishes whose batch ended (only those may be settled by a batch's end).
    batch_start: u64,
    frames: Vec<Settlement>,
    /// The client's view: frames checked so far, publishes not settled yet, refused publishes
    /// nacked on their own that no range frame has spanned yet, and how each seq was settled.
    checked: usize,
    unsettled: BTreeSet<u64>,
    refused_uncovered: BTreeSet<u64>,
    outcome: BTreeMap<u64, bool>,
}

impl Harness {
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Publish {
                persistent,
                refused,
            } => {
                let seq = self.t.publish();
                self.batch_writes |= persistent;
                self.write_of.insert(seq, None);
                self.unsettled.insert(seq);
                if refused {
                    self.refused.push(seq);
                    let nack = self.t.refuse_last();
                    self.frames.push(nack);
                }
            }
            Op::EndBatch => self.end_batch(),
            Op::Resolve { ok } => {
                // The connection handles a store reply between read batches only.
                self.end_batch();
                let Some((id, due)) = self.writes.pop_front() else {
                    return;
                };
                self.resolved.insert(id, ok);
                if let Some(upto) = due {
                    self.frames.extend(self.t.settle_upto(upto, ok));
                }
                self.settle_all_if_idle();
            }
        }
    }

    fn end_batch(&mut self) {
        let batch: Vec<u64> = self
            .write_of
            .range(self.batch_start..)
            .map(|(&s, _)| s)
            .collect();
        self.batch_start = self.write_of.keys().next_back().map_or(0, |s| s + 1);
        if std::mem::take(&mut self.batch_writes) {
            let id = self.next_write;
            self.next_write += 1;
            for s in batch {
                self.write_of.insert(s, Some(id));
            }
            self.writes.push_back((id, self.t.unsettled_upto()));
        } else {
            self.settle_all_if_idle();
        }
    }

    fn settle_all_if_idle(&mut self) {
        if self.writes.is_empty() {
            if let Some(upto) = self.t.unsettled_upto() {
                self.frames.extend(self.t.settle_upto(upto, true));
            }
        }
    }

    /// Checks the frames sent since the last check, as a client settles them: each settles
    /// something still unsettled, `multiple` only spanning more than one publish, acks only
    /// after the store write a publish waited on succeeded, nacks when it failed; and (`done`)
    /// every publish settled exactly once, refused ones by their own nack.
    fn check(&mut self, done: bool) {
        while let Some(&f) = self.frames.get(self.checked) {
            self.checked += 1;
            self.check_frame(f);
        }
        if done {
            assert!(
                self.unsettled.is_empty(),
                "left unsettled: {:?}",
                self.unsettled
            );
            let all: Vec<u64> = self.write_of.keys().copied().collect();
            assert_eq!(self.outcome.keys().copied().collect::<Vec<_>>(), all);
            for s in &self.refused {
                assert!(!self.outcome[s], "refused seq {s} nacked");
            }
        }
    }

    fn check_frame(&mut self, f: Settlement) {
        if !f.ack && !f.multiple && self.refused.contains(&f.tag) && self.unsettled.remove(&f.tag) {
            self.refused_uncovered.insert(f.tag);
            assert!(self.outcome.insert(f.tag, false).is_none());
            return;
        }
        let covered: Vec<u64> = if f.multiple {
            self.unsettled.range(..=f.tag).copied().collect()
        } else {
            self.unsettled.get(&f.tag).into_iter().copied().collect()
        };
        assert!(!covered.is_empty(), "{f:?} settles nothing");
        // The tag is the last publish covered, or one nacked on its own just before.
        assert!(
            covered.last() == Some(&f.tag) || self.refused_uncovered.contains(&f.tag),
            "{f:?}: tag"
        );
        if f.multiple {
            assert!(
                covered.len() > 1 || self.refused_uncovered.range(..=f.tag).next().is_some(),
                "{f:?}: multiple for one publish"
            );
        }
        for s in covered {
            self.unsettled.remove(&s);
            assert!(
                self.outcome.insert(s, f.ack).is_none(),
                "seq {s} settled twice"
            );
            assert!(
                !self.refused.contains(&s),
                "refused seq {s} settled by {f:?}"
            );
            if let Some(Some(w)) = self.write_of.get(&s) {
                let ok = self.resolved.get(w);
                assert!(ok.is_some(), "seq {s} settled before its write resolved");
                assert_eq!(
                    ok,
                    Some(&f.ack),
                    "seq {s}: write ok {ok:?}, settled by {f:?}"
                );
            }
        }
        self.refused_uncovered.retain(|&s| s > f.tag);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_publish_is_settled_once_and_only_after_its_write(
        ops in prop::collection::vec(op(), 0..60),
    ) {
        let mut h = Harness::default();
        for op in &ops {
            h.apply(op);
            h.check(false);
        }
        h.apply(&Op::EndBatch);
        while !h.writes.is_empty() {
            h.apply(&Op::Resolve { ok: true });
        }
        h.check(true);
    }
}
