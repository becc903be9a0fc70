//! A persistent hash map (hash array mapped trie) and the keyed hash it uses.
//!
//! Every routing table in the crate is one of these. Cloning a map is one reference-count
//! increment; changing a clone copies only the nodes on the path to the changed entry
//! (at most 13 nodes of at most 32 slots), through `Arc::make_mut`, so the old version stays
//! valid for readers that still hold it. That is what lets a binding change at 100k bindings
//! cost microseconds instead of a copy of the whole table.

use std::sync::{Arc, OnceLock};

/// Bits of the hash consumed per trie level.
const BITS: u32 = 5;
const MASK: u64 = (1 << BITS) - 1;

/// Keys the map can hold. `Target` is the borrowed form used for lookups (`[u8]` for
/// `Arc<[u8]>`), so callers look up with a `&[u8]` slice of the wire bytes without allocating.
pub(crate) trait MapKey: Clone + Eq {
    type Target: ?Sized + Eq;
    fn target(&self) -> &Self::Target;
    fn hash_target(target: &Self::Target) -> u64;
}

impl MapKey for Arc<[u8]> {
    type Target = [u8];
    fn target(&self) -> &[u8] {
        self
    }
    fn hash_target(target: &[u8]) -> u64 {
        hash_bytes(target)
    }
}

impl MapKey for u64 {
    type Target = u64;
    fn target(&self) -> &u64 {
        self
    }
    fn hash_target(target: &u64) -> u64 {
        fold(*target ^ seed(), K1)
    }
}

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;
const K3: u64 = 0x1656_67b1_9e37_79f9;

/// Multiplies as 128 bits and folds the halves: cheap and mixes every input bit.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let r = u128::from(a).wrapping_mul(u128::from(b));
    (r as u64) ^ ((r >> 64) as u64)
}

/// A per-process random seed, so that names chosen by clients cannot be precomputed to
/// collide (collisions only degrade a lookup to a short linear scan, but there is no reason
/// to let anyone choose them).
#[inline]
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5741_5252_454e);
        h.finish() | 1
    })
}

/// Hash of a byte string: eight bytes per multiply, seeded.
#[inline]
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = seed() ^ fold(bytes.len() as u64, K3);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = fold(h ^ w, K1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = fold(h ^ u64::from_le_bytes(buf), K2);
    }
    fold(h, K1 ^ K2)
}

/// A persistent map. See the module docs.
pub(crate) struct PMap<K, V> {
    root: Option<Arc<Node<K, V>>>,
    len: usize,
}

struct Node<K, V> {
    /// Bit `i` is set when fragment `i` has a slot; slots are stored densely in fragment order.
    bitmap: u32,
    slots: Vec<Slot<K, V>>,
}

enum Slot<K, V> {
    Leaf(Leaf<K, V>),
    Sub(Arc<Node<K, V>>),
    /// Entries whose full 64-bit hashes are equal.
    Collision(Arc<Collision<K, V>>),
}

struct Leaf<K, V> {
    hash: u64,
    key: K,
    value: V,
}

struct Collision<K, V> {
    hash: u64,
    entries: Vec<(K, V)>,
}

impl<K, V> Default for PMap<K, V> {
    fn default() -> Self {
        PMap { root: None, len: 0 }
    }
}

impl<K, V> Clone for PMap<K, V> {
    fn clone(&self) -> Self {
        PMap {
            root: self.root.clone(),
            len: self.len,
        }
    }
}

impl<K: Clone, V: Clone> Clone for Node<K, V> {
    fn clone(&self) -> Self {
        Node {
            bitmap: self.bitmap,
            slots: self.slots.clone(),
        }
    }
}

impl<K: Clone, V: Clone> Clone for Slot<K, V> {
    fn clone(&self) -> Self {
        match self {
            Slot::Leaf(l) => Slot::Leaf(Leaf {
                hash: l.hash,
                key: l.key.clone(),
                value: l.value.clone(),
            }),
            Slot::Sub(n) => Slot::Sub(n.clone()),
            Slot::Collision(c) => Slot::Collision(c.clone()),
        }
    }
}

impl<K: Clone, V: Clone> Clone for Collision<K, V> {
    fn clone(&self) -> Self {
        Collision {
            hash: self.hash,
            entries: self.entries.clone(),
        }
    }
}

#[inline]
fn fragment_bit(hash: u64, shift: u32) -> u32 {
    1u32 << ((hash >> shift) & MASK)
}

#[inline]
fn slot_index(bitmap: u32, bit: u32) -> usize {
    (bitmap & (bit - 1)).count_ones() as usize
}

impl<K: MapKey, V: Clone> PMap<K, V> {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub(crate) fn get(&self, key: &K::Target) -> Option<&V> {
        // Empty maps are common (most trie nodes have no literal children): skip the hash.
        let mut node = self.root.as_deref()?;
        let hash = K::hash_target(key);
        let mut shift = 0;
        loop {
            let bit = fragment_bit(hash, shift);
            if node.bitmap & bit == 0 {
                return None;
            }
            match &node.slots[slot_index(node.bitmap, bit)] {
                Slot::Leaf(l) => {
                    return (l.hash == hash && l.key.target() == key).then_some(&l.value);
                }
                Slot::Sub(n) => {
                    node = n;
                    shift += BITS;
                }
                Slot::Collision(c) => {
                    if c.hash != hash {
                        return None;
                    }
                    return c
                        .entries
                        .iter()
                        .find(|(k, _)| k.target() == key)
                        .map(|(_, v)| v);
                }
            }
        }
    }

    pub(crate) fn contains_key(&self, key: &K::Target) -> bool {
        self.get(key).is_some()
    }

    /// A mutable reference to the value, copying the shared nodes on its path. Misses copy
    /// nothing.
    pub(crate) fn get_mut(&mut self, key: &K::Target) -> Option<&mut V> {
        if !self.contains_key(key) {
            return None;
        }
        let hash = K::hash_target(key);
        let mut node = Arc::make_mut(self.root.as_mut()?);
        let mut shift = 0;
        loop {
            let bit = fragment_bit(hash, shift);
            let idx = slot_index(node.bitmap, bit);
            let here = node;
            match &mut here.slots[idx] {
                Slot::Leaf(l) => return Some(&mut l.value),
                Slot::Sub(n) => {
                    node = Arc::make_mut(n);
                    shift += BITS;
                }
                Slot::Collision(c) => {
                    return Arc::make_mut(c)
                        .entries
                        .iter_mut()
                        .find(|(k, _)| k.target() == key)
                        .map(|(_, v)| v);
                }
            }
        }
    }

    /// Inserts or replaces; returns the previous value.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let hash = K::hash_target(key.target());
        let root = self.root.get_or_insert_with(|| {
            Arc::new(Node {
                bitmap: 0,
                slots: Vec::new(),
            })
        });
        let old = Arc::make_mut(root).insert(hash, 0, key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    pub(crate) fn remove(&mut self, key: &K::Target) -> Option<V> {
        if !self.contains_key(key) {
            return None;
        }
        let hash = K::hash_target(key);
        let root = self.root.as_mut()?;
        let removed = Arc::make_mut(root).remove(hash, 0, key);
        if removed.is_some() {
            self.len -= 1;
            if self.len == 0 {
                self.root = None;
            }
        }
        removed
    }

    /// Visits every entry (in hash order, which is arbitrary but stable for a given map).
    #[inline]
    pub(crate) fn for_each<'a>(&'a self, f: &mut impl FnMut(&'a K, &'a V)) {
        if let Some(root) = &self.root {
            root.for_each(f);
        }
    }

    pub(crate) fn values(&self) -> Vec<&V> {
        let mut out = Vec::with_capacity(self.len);
        self.for_each(&mut |_, v| out.push(v));
        out
    }
}

impl<K: MapKey, V: Clone> Node<K, V> {
    fn insert(&mut self, hash: u64, shift: u32, key: K, value: V) -> Option<V> {
        let bit = fragment_bit(hash, shift);
        let idx = slot_index(self.bitmap, bit);
        if self.bitmap & bit == 0 {
            self.slots
                .insert(idx, Slot::Leaf(Leaf { hash, key, value }));
            self.bitmap |= bit;
            return None;
        }
        match &mut self.slots[idx] {
            Slot::Sub(n) => return Arc::make_mut(n).insert(hash, shift + BITS, key, value),
            Slot::Leaf(l) if l.hash == hash && l.key == key => {
                return Some(std::mem::replace(&mut l.value, value));
            }
            Slot::Collision(c) if c.hash == hash => {
                let c = Arc::make_mut(c);
                if let Some(e) = c.entries.iter_mut().find(|(k, _)| *k == key) {
                    return Some(std::mem::replace(&mut e.1, value));
                }
                c.entries.push((key, value));
                return None;
            }
            _ => {}
        }
        // The slot holds a different hash (or the same hash with a different key): push both
        // down one level, or into a collision bucket when the hashes are identical.
        let placeholder = Slot::Sub(Arc::new(Node {
            bitmap: 0,
            slots: Vec::new(),
        }));
        let existing = std::mem::replace(&mut self.slots[idx], placeholder);
        let existing_hash = match &existing {
            Slot::Leaf(l) => l.hash,
            Slot::Collision(c) => c.hash,
            Slot::Sub(_) => unreachable!("sub-nodes are handled above"),
        };
        self.slots[idx] = if existing_hash == hash {
            let Slot::Leaf(l) = existing else {
                unreachable!("a collision with this hash is handled above")
            };
            Slot::Collision(Arc::new(Collision {
                hash,
                entries: vec![(l.key, l.value), (key, value)],
            }))
        } else {
            Slot::Sub(Arc::new(Node::pair(
                shift + BITS,
                existing,
                existing_hash,
                Slot::Leaf(Leaf { hash, key, value }),
                hash,
            )))
        };
        None
    }

    /// A node holding two slots whose hashes differ.
    fn pair(shift: u32, a: Slot<K, V>, ha: u64, b: Slot<K, V>, hb: u64) -> Self {
        let (ba, bb) = (fragment_bit(ha, shift), fragment_bit(hb, shift));
        if ba == bb {
            return Node {
                bitmap: ba,
                slots: vec![Slot::Sub(Arc::new(Node::pair(shift + BITS, a, ha, b, hb)))],
            };
        }
        let slots = if ba < bb { vec![a, b] } else { vec![b, a] };
        Node {
            bitmap: ba | bb,
            slots,
        }
    }

    fn remove(&mut self, hash: u64, shift: u32, key: &K::Target) -> Option<V> {
        let bit = fragment_bit(hash, shift);
        if self.bitmap & bit == 0 {
            return None;
        }
        let idx = slot_index(self.bitmap, bit);
        let (removed, replace_with) = match &mut self.slots[idx] {
            Slot::Leaf(l) => {
                if l.hash != hash || l.key.target() != key {
                    return None;
                }
                (None, None)
            }
            Slot::Collision(c) => {
                if c.hash != hash {
                    return None;
                }
                let c = Arc::make_mut(c);
                let pos = c.entries.iter().position(|(k, _)| k.target() == key)?;
                let (_, v) = c.entries.remove(pos);
                if c.entries.len() == 1 {
                    let (k, v1) = c.entries.pop().expect("one entry left");
                    (
                        Some(v),
                        Some(Slot::Leaf(Leaf {
                            hash,
                            key: k,
                            value: v1,
                        })),
                    )
                } else {
                    return Some(v);
                }
            }
            Slot::Sub(n) => {
                let sub = Arc::make_mut(n);
                let v = sub.remove(hash, shift + BITS, key)?;
                // Keep the trie canonical: a sub-node left with a single leaf or collision is
                // pulled up, and an empty one disappears, so lookups stay short after removals.
                match sub.slots.len() {
                    0 => (Some(v), None),
                    1 if !matches!(sub.slots[0], Slot::Sub(_)) => {
                        let only = sub.slots.pop().expect("one slot");
                        (Some(v), Some(only))
                    }
                    _ => return Some(v),
                }
            }
        };
        match (removed, replace_with) {
            (Some(v), Some(slot)) => {
                self.slots[idx] = slot;
                Some(v)
            }
            (Some(v), None) => {
                self.slots.remove(idx);
                self.bitmap &= !bit;
                Some(v)
            }
            (None, _) => {
                // The leaf itself is the removed entry.
                let Slot::Leaf(l) = self.slots.remove(idx) else {
                    unreachable!("checked to be the matching leaf")
                };
                self.bitmap &= !bit;
                Some(l.value)
            }
        }
    }

    fn for_each<'a>(&'a self, f: &mut impl FnMut(&'a K, &'a V)) {
        for slot in &self.slots {
            match slot {
                Slot::Leaf(l) => f(&l.key, &l.value),
                Slot::Sub(n) => n.for_each(f),
                Slot::Collision(c) => {
                    for (k, v) in &c.entries {
                        f(k, v);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// A key whose hash the test chooses, to force collisions and deep splits.
    #[derive(Clone, PartialEq, Eq, Debug)]
    struct Forced {
        id: u32,
        hash: u64,
    }

    impl MapKey for Forced {
        type Target = Forced;
        fn target(&self) -> &Forced {
            self
        }
        fn hash_target(t: &Forced) -> u64 {
            t.hash
        }
    }

    fn key(s: &str) -> Arc<[u8]> {
        Arc::from(s.as_bytes())
    }

    #[test]
    fn insert_get_remove_bytes() {
        let mut m: PMap<Arc<[u8]>, u32> = PMap::new();
        for i in 0..2000u32 {
            assert_eq!(m.insert(key(&format!("k{i}")), i), None);
        }
        assert_eq!(m.len(), 2000);
        assert_eq!(m.insert(key("k7"), 70), Some(7));
        assert_eq!(m.get(b"k7"), Some(&70));
        assert_eq!(m.get(b"nope"), None);
        for i in 0..2000u32 {
            assert!(m.remove(format!("k{i}").as_bytes()).is_some());
        }
        assert!(m.is_empty());
        assert!(m.root.is_none());
    }

    #[test]
    fn old_versions_are_unchanged_by_later_writes() {
        let mut m: PMap<Arc<[u8]>, u32> = PMap::new();
        for i in 0..500u32 {
            m.insert(key(&i.to_string()), i);
        }
        let snapshot = m.clone();
        for i in 0..250u32 {
            m.remove(i.to_string().as_bytes());
        }
        *m.get_mut(b"300").unwrap() = 3;
        assert_eq!(snapshot.len(), 500);
        assert_eq!(snapshot.get(b"0"), Some(&0));
        assert_eq!(snapshot.get(b"300"), Some(&300));
        assert_eq!(m.get(b"300"), Some(&3));
        assert_eq!(m.get(b"0"), None);
    }

    #[test]
    fn full_hash_collisions_and_deep_splits() {
        let mut m: PMap<Forced, u32> = PMap::new();
        // Three keys with one hash, two more that share all but the top bits.
        let ks = [
            Forced { id: 1, hash: 42 },
            Forced { id: 2, hash: 42 },
            Forced { id: 3, hash: 42 },
            Forced { id: 4, hash: 42 | (1 << 62) },
            Forced { id: 5, hash: 42 | (1 << 63) },
        ];
        for (i, k) in ks.iter().enumerate() {
            assert_eq!(m.insert(k.clone(), i as u32), None);
        }
        for (i, k) in ks.iter().enumerate() {
            assert_eq!(m.get(k), Some(&(i as u32)));
        }
        assert_eq!(m.get(&Forced { id: 9, hash: 42 }), None);
        assert_eq!(m.remove(&ks[1]), Some(1));
        assert_eq!(m.remove(&ks[0]), Some(0));
        assert_eq!(m.get(&ks[2]), Some(&2));
        assert_eq!(m.remove(&ks[3]), Some(3));
        assert_eq!(m.get(&ks[4]), Some(&4));
        assert_eq!(m.len(), 2);
        let mut seen = Vec::new();
        m.for_each(&mut |k, _| seen.push(k.id));
        seen.sort_unstable();
        assert_eq!(seen, vec![3, 5]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32, u32),
        Remove(u32),
        Update(u32, u32),
        Snapshot,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..64u32, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            (0..64u32).prop_map(Op::Remove),
            (0..64u32, any::<u32>()).prop_map(|(k, v)| Op::Update(k, v)),
            Just(Op::Snapshot),
        ]
    }

    proptest! {
        /// The map behaves like `HashMap`, also with a hash that collides a lot (hash = id % 5
        /// puts many keys in collision buckets and the rest on shared paths), and earlier
        /// snapshots keep their contents.
        #[test]
        fn behaves_like_a_hashmap(ops in proptest::collection::vec(op(), 0..200), modulo in 1u64..8) {
            let mut m: PMap<Forced, u32> = PMap::new();
            let mut model: HashMap<u32, u32> = HashMap::new();
            let mut snapshots: Vec<(PMap<Forced, u32>, HashMap<u32, u32>)> = Vec::new();
            let k = |id: u32| Forced { id, hash: (u64::from(id) % modulo).rotate_right(3) };
            for op in ops {
                match op {
                    Op::Insert(id, v) => prop_assert_eq!(m.insert(k(id), v), model.insert(id, v)),
                    Op::Remove(id) => prop_assert_eq!(m.remove(&k(id)), model.remove(&id)),
                    Op::Update(id, v) => {
                        let got = m.get_mut(&k(id)).map(|x| { *x = v; });
                        let want = model.get_mut(&id).map(|x| { *x = v; });
                        prop_assert_eq!(got, want);
                    }
                    Op::Snapshot => snapshots.push((m.clone(), model.clone())),
                }
                prop_assert_eq!(m.len(), model.len());
            }
            snapshots.push((m, model));
            for (m, model) in snapshots {
                let mut entries = Vec::new();
                m.for_each(&mut |k, v| entries.push((k.id, *v)));
                entries.sort_unstable();
                let mut want: Vec<_> = model.into_iter().collect();
                want.sort_unstable();
                prop_assert_eq!(entries, want);
            }
        }
    }
}
