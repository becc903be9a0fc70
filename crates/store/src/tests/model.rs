//! Model-based test: random sequences of declare, enqueue (to 1–3 queues), ack (in and out of
//! order), delivery counts, purge, delete, definitions, access records (vhosts, users,
//! permissions), vhost deletion (which cascades) and crash-and-reopen, run against real
//! RocksDB and checked against a plain in-memory model. Commands go one per request or
//! several per request, awaited one by one or all at once, so batches mix them every way.

use super::{open, tempdir};
use crate::*;
use bytes::Bytes;
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::{BTreeMap, BTreeSet};

const SLOTS: usize = 3;
/// Slot `i` (and exchange, binding and record `n`) lives in `VHOSTS[i % 2]`.
const VHOSTS: [&str; 2] = ["/", "v"];

fn vhost_of(i: usize) -> String {
    VHOSTS[i % VHOSTS.len()].to_string()
}

/// Access record kinds, as the model names them.
const RECORD_KINDS: u8 = 4;

#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        targets: Vec<usize>,
        len: usize,
    },
    Ack {
        slot: usize,
        picks: Vec<Index>,
    },
    Deliver {
        slot: usize,
        pick: Index,
        count: u32,
    },
    Purge {
        slot: usize,
        keep: Vec<Index>,
    },
    Delete {
        slot: usize,
    },
    Declare {
        slot: usize,
    },
    Exchange {
        n: u8,
        delete: bool,
    },
    Binding {
        n: u8,
        delete: bool,
    },
    /// A vhost (kind 0), user (1), permissions (2) or topic permissions (3) record.
    Record {
        kind: u8,
        n: u8,
        delete: bool,
    },
    DeleteVhost {
        n: usize,
    },
}

#[derive(Debug, Clone)]
enum Step {
    /// Ops submitted together in one request or as separate requests awaited at the end.
    Ops {
        ops: Vec<Op>,
        one_request: bool,
        durable: bool,
    },
    /// Drop the store without a clean close and reopen it.
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..SLOTS;
    prop_oneof![
        6 => (proptest::sample::subsequence((0..SLOTS).collect::<Vec<_>>(), 1..=SLOTS), 0..300usize)
            .prop_map(|(targets, len)| Op::Enqueue { targets, len }),
        4 => (slot.clone(), proptest::collection::vec(any::<Index>(), 1..4))
            .prop_map(|(slot, picks)| Op::Ack { slot, picks }),
        2 => (slot.clone(), any::<Index>(), 1..5u32)
            .prop_map(|(slot, pick, count)| Op::Deliver { slot, pick, count }),
        1 => (slot.clone(), proptest::collection::vec(any::<Index>(), 0..3))
            .prop_map(|(slot, keep)| Op::Purge { slot, keep }),
        1 => slot.clone().prop_map(|slot| Op::Delete { slot }),
        2 => slot.prop_map(|slot| Op::Declare { slot }),
        1 => (0..3u8, any::<bool>()).prop_map(|(n, delete)| Op::Exchange { n, delete }),
        1 => (0..3u8, any::<bool>()).prop_map(|(n, delete)| Op::Binding { n, delete }),
        2 => (0..RECORD_KINDS, 0..4u8, any::<bool>())
            .prop_map(|(kind, n, delete)| Op::Record { kind, n, delete }),
        1 => (0..VHOSTS.len()).prop_map(|n| Op::DeleteVhost { n }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (proptest::collection::vec(op(), 1..5), any::<bool>(), any::<bool>())
            .prop_map(|(ops, one_request, durable)| Step::Ops { ops, one_request, durable }),
        1 => Just(Step::Crash),
    ]
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    message: MessageId,
    count: u32,
    body: Bytes,
}

#[derive(Debug)]
struct MQueue {
    id: QueueId,
    vhost: String,
    name: String,
    next_seq: Seq,
    entries: BTreeMap<Seq, Entry>,
}

#[derive(Debug, Default)]
struct Model {
    slots: [Option<MQueue>; SLOTS],
    exchanges: BTreeMap<(String, String), Bytes>,
    bindings: BTreeMap<(String, Bytes), Bytes>,
    /// (kind, vhost, name) → definition.
    records: BTreeMap<(u8, String, String), Bytes>,
    generation: u32,
}

fn pick(entries: &BTreeMap<Seq, Entry>, i: &Index) -> Option<Seq> {
    if entries.is_empty() {
        None
    } else {
        entries.keys().nth(i.index(entries.len())).copied()
    }
}

impl Model {
    /// Applies `op` to the model and returns the command that does the same to the store.
    fn command(&mut self, store: &Store, op: &Op) -> Option<Command> {
        match op {
            Op::Enqueue { targets, len } => {
                let message = store.allocate_message_id();
                let body = Bytes::from(vec![(message % 251) as u8; *len]);
                let mut t = Vec::new();
                for &s in targets {
                    if let Some(q) = &mut self.slots[s] {
                        let seq = q.next_seq;
                        q.next_seq += 1;
                        q.entries.insert(
                            seq,
                            Entry {
                                message,
                                count: 0,
                                body: body.clone(),
                            },
                        );
                        t.push((q.id, seq));
                    }
                }
                Some(Command::Enqueue {
                    message,
                    body,
                    targets: t,
                })
            }
            Op::Ack { slot, picks } => {
                let q = self.slots[*slot].as_mut()?;
                let mut seqs = Vec::new();
                for i in picks {
                    if let Some(seq) = pick(&q.entries, i) {
                        q.entries.remove(&seq);
                        seqs.push(seq);
                    }
                }
                Some(Command::Ack { queue: q.id, seqs })
            }
            Op::Deliver {
                slot,
                pick: i,
                count,
            } => {
                let q = self.slots[*slot].as_mut()?;
                let seq = pick(&q.entries, i)?;
                q.entries.get_mut(&seq).unwrap().count = *count;
                Some(Command::SetDeliveryCount {
                    queue: q.id,
                    seq,
                    count: *count,
                })
            }
            Op::Purge { slot, keep } => {
                let q = self.slots[*slot].as_mut()?;
                let keep: BTreeSet<Seq> = keep.iter().filter_map(|i| pick(&q.entries, i)).collect();
                q.entries.retain(|s, _| keep.contains(s));
                Some(Command::Purge {
                    queue: q.id,
                    keep: keep.into_iter().collect(),
                })
            }
            Op::Delete { slot } => {
                let q = self.slots[*slot].take()?;
                Some(Command::DeleteQueue { queue: q.id })
            }
            Op::Declare { slot } => {
                if let Some(q) = &self.slots[*slot] {
                    // Redeclare: same id, messages kept.
                    return Some(Command::DeclareQueue {
                        vhost: q.vhost.clone(),
                        name: q.name.clone(),
                        queue: q.id,
                        def: Bytes::from(q.name.clone()),
                    });
                }
                self.generation += 1;
                let name = format!("q{slot}");
                let q = MQueue {
                    id: store.allocate_queue_id(),
                    vhost: vhost_of(*slot),
                    name: name.clone(),
                    next_seq: 0,
                    entries: BTreeMap::new(),
                };
                let cmd = Command::DeclareQueue {
                    vhost: q.vhost.clone(),
                    name: name.clone(),
                    queue: q.id,
                    def: Bytes::from(name),
                };
                self.slots[*slot] = Some(q);
                Some(cmd)
            }
            Op::Exchange { n, delete } => {
                let (vhost, name) = (vhost_of(*n as usize), format!("x{n}"));
                if *delete {
                    self.exchanges.remove(&(vhost.clone(), name.clone()));
                    Some(Command::DeleteExchange { vhost, name })
                } else {
                    let def = Bytes::from(format!("def{}", self.generation));
                    self.exchanges
                        .insert((vhost.clone(), name.clone()), def.clone());
                    Some(Command::DeclareExchange { vhost, name, def })
                }
            }
            Op::Binding { n, delete } => {
                let (vhost, key) = (vhost_of(*n as usize), Bytes::from(vec![b'b', *n]));
                if *delete {
                    self.bindings.remove(&(vhost.clone(), key.clone()));
                    Some(Command::Unbind { vhost, key })
                } else {
                    self.bindings
                        .insert((vhost.clone(), key.clone()), Bytes::from_static(b"args"));
                    Some(Command::Bind {
                        vhost,
                        key,
                        def: Bytes::from_static(b"args"),
                    })
                }
            }
            Op::Record { kind, n, delete } => Some(self.record(*kind, *n, *delete)),
            Op::DeleteVhost { n } => Some(self.delete_vhost(vhost_of(*n))),
        }
    }

    /// Everything in `vhost` goes, as the store's cascade takes it.
    fn delete_vhost(&mut self, vhost: String) -> Command {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|q| q.vhost == vhost) {
                *slot = None;
            }
        }
        self.exchanges.retain(|(v, _), _| *v != vhost);
        self.bindings.retain(|(v, _), _| *v != vhost);
        // Users belong to no vhost; every other record kind is the vhost's.
        self.records.retain(|(k, v, _), _| *k == 1 || *v != vhost);
        Command::DeleteVhost { name: vhost }
    }

    /// An access record put or delete: `n` picks the vhost and the user.
    fn record(&mut self, kind: u8, n: u8, delete: bool) -> Command {
        let user = format!("u{}", n / 2);
        let vhost = match kind {
            0 => vhost_of(n as usize),
            1 => String::new(),
            _ => vhost_of(n as usize),
        };
        let name = match kind {
            0 => String::new(),
            _ => user.clone(),
        };
        if kind == 0 && delete {
            // A vhost's record alone cannot be deleted: DeleteVhost takes all of it.
            return self.delete_vhost(vhost);
        }
        let def = Bytes::from(format!("rec{kind}-{}", self.generation));
        self.generation += 1;
        let key = (kind, vhost.clone(), name.clone());
        if delete {
            self.records.remove(&key);
        } else {
            self.records.insert(key, def.clone());
        }
        match (kind, delete) {
            (0, _) => Command::PutVhost { name: vhost, def },
            (1, false) => Command::PutUser { name: user, def },
            (1, true) => Command::DeleteUser { name: user },
            (2, false) => Command::SetPermissions { vhost, user, def },
            (2, true) => Command::ClearPermissions { vhost, user },
            (_, false) => Command::SetTopicPermissions { vhost, user, def },
            (_, true) => Command::ClearTopicPermissions { vhost, user },
        }
    }

    fn check_recovered(&self, rec: &Recovered) {
        let mut expected: Vec<_> = self
            .slots
            .iter()
            .flatten()
            .map(|q| {
                (
                    q.id,
                    q.name.clone(),
                    q.entries.len() as u64,
                    q.entries.keys().next().copied(),
                    q.entries.keys().next_back().copied(),
                )
            })
            .collect();
        expected.sort();
        let got: Vec<_> = rec
            .queues
            .iter()
            .map(|q| (q.id, q.name.clone(), q.messages, q.first_seq, q.last_seq))
            .collect();
        assert_eq!(got, expected);
        let exchanges: BTreeMap<_, _> = rec
            .exchanges
            .iter()
            .map(|e| ((e.vhost.clone(), e.name.clone()), e.def.clone()))
            .collect();
        assert_eq!(exchanges, self.exchanges);
        let bindings: BTreeMap<_, _> = rec
            .bindings
            .iter()
            .map(|b| ((b.vhost.clone(), b.key.clone()), b.def.clone()))
            .collect();
        assert_eq!(bindings, self.bindings);
        let mut records = BTreeMap::new();
        for v in &rec.vhosts {
            records.insert((0, v.name.clone(), String::new()), v.def.clone());
        }
        for u in &rec.users {
            records.insert((1, String::new(), u.name.clone()), u.def.clone());
        }
        for (kind, grants) in [(2, &rec.permissions), (3, &rec.topic_permissions)] {
            for g in grants {
                records.insert((kind, g.vhost.clone(), g.user.clone()), g.def.clone());
            }
        }
        assert_eq!(records, self.records);
        assert_eq!(rec.messages, self.live_messages().len() as u64);
        assert_eq!(rec.orphan_entries, 0);
    }

    fn live_messages(&self) -> BTreeSet<MessageId> {
        self.slots
            .iter()
            .flatten()
            .flat_map(|q| q.entries.values().map(|e| e.message))
            .collect()
    }

    fn check_store(&self, store: &Store) {
        for q in self.slots.iter().flatten() {
            // Page through in small pages, as the server will.
            let mut got = BTreeMap::new();
            let mut after = None;
            loop {
                let page = store.read_queue(q.id, after, 2).unwrap();
                let Some(last) = page.last() else { break };
                after = Some(last.seq);
                for e in page {
                    got.insert(
                        e.seq,
                        Entry {
                            message: e.message_id,
                            count: e.delivery_count,
                            body: e.message,
                        },
                    );
                }
            }
            assert_eq!(got, q.entries, "queue {}", q.name);
        }
        let stored: BTreeSet<_> = store.debug_message_ids().unwrap().into_iter().collect();
        assert_eq!(stored, self.live_messages(), "stored messages (refcounts)");
    }
}

fn run(steps: Vec<Step>) {
    let dir = tempdir();
    let (mut store, rec) = open(dir.path());
    let mut model = Model::default();
    model.check_recovered(&rec);
    for step in steps {
        match step {
            Step::Crash => {
                drop(store);
                let (s, rec) = open(dir.path());
                store = s;
                model.check_recovered(&rec);
                model.check_store(&store);
            }
            Step::Ops {
                ops,
                one_request,
                durable,
            } => {
                let cmds: Vec<Command> = ops
                    .iter()
                    .filter_map(|op| model.command(&store, op))
                    .collect();
                if one_request {
                    store.submit_blocking(cmds, durable).unwrap();
                } else {
                    let replies: Vec<_> = cmds
                        .into_iter()
                        .map(|c| store.submit(vec![c], durable))
                        .collect();
                    for r in replies {
                        r.blocking_recv().unwrap().unwrap();
                    }
                }
            }
        }
    }
    model.check_store(&store);
    assert_eq!(
        store.stats().ignored,
        0,
        "the model only sends valid commands"
    );
    drop(store);
    let (store, rec) = open(dir.path());
    model.check_recovered(&rec);
    model.check_store(&store);
}

proptest! {
    // 24 cases keep the debug suite fast; `PROPTEST_CASES=500` (release) for a deeper run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]

    #[test]
    fn store_matches_model(
        steps in proptest::collection::vec(step(), 1..30)
            .prop_map(|mut s| { s.insert(0, Step::Ops {
                ops: (0..SLOTS).map(|slot| Op::Declare { slot }).collect(),
                one_request: true,
                durable: true,
            }); s })
    ) {
        run(steps);
    }
}
