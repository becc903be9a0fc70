//! Binding destinations and the destination sets stored at each match point.
//!
//! A match point (a direct routing key, a fanout exchange, a topic trie node) keeps each
//! destination once, with the number of bindings that put it there. RabbitMQ keys a binding on
//! source + destination + key + arguments, so the same queue can be bound twice with the same
//! key and different arguments; counting instead of listing keeps the set free of duplicates,
//! which lets routing skip most dedup work, and lets one unbind leave the other binding alive.

use crate::pmap::PMap;
use std::sync::Arc;

/// Where a binding delivers.
pub(crate) enum Dest<Q> {
    Queue { id: u32, handle: Q },
    Exchange { id: u32, name: Arc<[u8]> },
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

/// The set of destinations at one match point.
pub(crate) struct DestSet<Q> {
    map: PMap<u64, DestEntry<Q>>,
}

impl<Q> Default for DestSet<Q> {
    fn default() -> Self {
        DestSet {
            map: PMap::default(),
        }
    }
}

impl<Q> Clone for DestSet<Q> {
    fn clone(&self) -> Self {
        DestSet {
            map: self.map.clone(),
        }
    }
}

impl<Q: Clone> DestSet<Q> {
    pub(crate) fn add(&mut self, dest: &Dest<Q>) {
        let key = dest.key();
        match self.map.get_mut(&key) {
            Some(e) => e.count += 1,
            None => {
                self.map.insert(
                    key,
                    DestEntry {
                        dest: dest.clone(),
                        count: 1,
                    },
                );
            }
        }
    }

    /// Drops one binding's worth; returns true when the destination left the set.
    pub(crate) fn remove(&mut self, key: u64) -> bool {
        let Some(e) = self.map.get_mut(&key) else {
            return false;
        };
        e.count -= 1;
        if e.count == 0 {
            self.map.remove(&key);
            true
        } else {
            false
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    #[inline]
    pub(crate) fn for_each<'a>(&'a self, f: &mut impl FnMut(&'a Dest<Q>)) {
        self.map.for_each(&mut |_, e| f(&e.dest));
    }
}
