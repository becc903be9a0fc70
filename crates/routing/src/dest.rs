//! Binding destinations and the destination sets stored at each match point.
//!
//! A match point (a direct routing key, a fanout exchange, a topic trie node) keeps each
//! destination once, with the number of bindings that put it there. RabbitMQ keys a binding on
//! source + destination + key + arguments, so the same queue can be bound twice with the same
//! key and different arguments; counting instead of listing keeps the set free of duplicates,
//! which lets routing skip most dedup work, and lets one unbind leave the other binding alive.

use crate::pmap::{Key, PMap};

/// Where a binding delivers.
pub(crate) enum Dest<Q> {
    Queue { id: u32, handle: Q },
    Exchange { id: u32, name: Key },
}

impl<Q: Clone> Clone for Dest<Q> {
    fn clone(&self) -> Self {
        match self {
            Dest::Queue { id, handle } => Dest::Queue {
                id: *id,
                handle: handle.clone(),
            },
            Dest::Exchange { id, name } => Dest::Exchange {
                id: *id,
                name: name.clone(),
            },
        }
    }
}

impl<Q> Dest<Q> {
    /// Queue and exchange ids are allocated separately; the key keeps them apart.
    pub(crate) fn key(&self) -> u64 {
        match self {
            Dest::Queue { id, .. } => queue_key(*id),
            Dest::Exchange { id, .. } => exchange_key(*id),
        }
    }
}

pub(crate) fn queue_key(id: u32) -> u64 {
    u64::from(id)
}

pub(crate) fn exchange_key(id: u32) -> u64 {
    (1 << 32) | u64::from(id)
}

pub(crate) struct DestEntry<Q> {
    pub(crate) dest: Dest<Q>,
    /// Bindings (distinct by key/arguments) that route here to this destination.
    count: u32,
}

impl<Q: Clone> Clone for DestEntry<Q> {
    fn clone(&self) -> Self {
        DestEntry {
            dest: self.dest.clone(),
            count: self.count,
        }
    }
}

/// The set of destinations at one match point. Most points have a single destination
/// (one queue per routing key, one per topic pattern), which is kept inline: no allocation,
/// and no pointer to chase when routing.
#[derive(Default)]
pub(crate) enum DestSet<Q> {
    #[default]
    Empty,
    One(DestEntry<Q>),
    Many(PMap<u64, DestEntry<Q>>),
}

impl<Q: Clone> Clone for DestSet<Q> {
    fn clone(&self) -> Self {
        match self {
            DestSet::Empty => DestSet::Empty,
            DestSet::One(e) => DestSet::One(e.clone()),
            DestSet::Many(m) => DestSet::Many(m.clone()),
        }
    }
}

impl<Q: Clone> DestSet<Q> {
    pub(crate) fn add(&mut self, dest: &Dest<Q>) {
        let key = dest.key();
        let fresh = DestEntry {
            dest: dest.clone(),
            count: 1,
        };
        match self {
            DestSet::Empty => *self = DestSet::One(fresh),
            DestSet::One(e) if e.dest.key() == key => e.count += 1,
            DestSet::One(e) => {
                let mut m = PMap::new();
                m.insert(e.dest.key(), e.clone());
                m.insert(key, fresh);
                *self = DestSet::Many(m);
            }
            DestSet::Many(m) => match m.get_mut(&key) {
                Some(e) => e.count += 1,
                None => {
                    m.insert(key, fresh);
                }
            },
        }
    }

    /// Drops one binding's worth of `key`.
    pub(crate) fn remove(&mut self, key: u64) {
        match self {
            DestSet::Empty => {}
            DestSet::One(e) => {
                if e.dest.key() == key {
                    e.count -= 1;
                    if e.count == 0 {
                        *self = DestSet::Empty;
                    }
                }
            }
            DestSet::Many(m) => {
                let Some(e) = m.get_mut(&key) else {
                    return;
                };
                e.count -= 1;
                if e.count == 0 {
                    m.remove(&key);
                }
                if m.len() == 1 {
                    let mut only = None;
                    m.for_each(&mut |_, e| only = Some(e.clone()));
                    *self = only.map_or(DestSet::Empty, DestSet::One);
                }
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, DestSet::Empty)
    }

    #[inline]
    pub(crate) fn for_each<'a>(&'a self, f: &mut impl FnMut(&'a Dest<Q>)) {
        match self {
            DestSet::Empty => {}
            DestSet::One(e) => f(&e.dest),
            DestSet::Many(m) => m.for_each(&mut |_, e| f(&e.dest)),
        }
    }
}
