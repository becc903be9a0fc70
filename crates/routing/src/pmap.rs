//! A persistent hash map (hash array mapped trie), the byte-string key it is usually keyed
//! by, and the keyed hash it uses.
//!
//! Every routing table in the crate is one of these. Cloning a map is one reference-count
//! increment; changing a clone copies only the nodes on the path to the changed entry
//! (at most 13 nodes of at most 32 slots, through `Arc::make_mut`), so the old version stays
//! valid for readers that still hold it. That is what lets a binding change at 100k bindings
//! cost microseconds instead of a copy of the whole table.
//!
//! Layout choices are for the read path, which is bound by cache misses: a node is one
//! allocation (`Arc<[Slot]>`, its bitmap kept in the parent slot), so each level costs one
//! pointer chase; keys of up to 22 bytes (routing keys, topic words, most names) are stored
//! inline in the slot, so comparing them touches no other memory.

use std::sync::{Arc, OnceLock};

/// Bits of the hash consumed per trie level.
const BITS: u32 = 5;
const MASK: u64 = (1 << BITS) - 1;

/// Keys the map can hold. `Target` is the borrowed form used for lookups (`[u8]` for
/// [`Key`]), so callers look up with a slice of the wire bytes without allocating.
pub(crate) trait MapKey: Clone + Eq {
    type Target: ?Sized + Eq;
    fn target(&self) -> &Self::Target;
    fn hash_target(target: &Self::Target) -> u64;
}

const INLINE: usize = 22;

/// An immutable byte string: inline up to 22 bytes, shared on the heap beyond.
#[derive(Clone)]
pub(crate) enum Key {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Arc<[u8]>),
}

impl Key {
    pub(crate) fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..bytes.len()].copy_from_slice(bytes);
            Key::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            Key::Heap(Arc::from(bytes))
        }
    }

    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..usize::from(*len)],
            Key::Heap(b) => b,
        }
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl std::ops::Deref for Key {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl MapKey for Key {
    type Target = [u8];
    #[inline]
    fn target(&self) -> &[u8] {
        self.as_bytes()
    }
    #[inline]
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

#[inline]
fn read_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

#[inline]
fn read_u32(b: &[u8]) -> u64 {
    u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Hash of a byte string: eight bytes per multiply, seeded. The tail is read with two
/// overlapping loads rather than copied into a buffer (the copy cost a store-forwarding
/// stall on every short key).
#[inline]
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    let mut h = seed() ^ fold(len as u64, K3);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        h = fold(h ^ read_u64(c), K1);
    }
    let rest = chunks.remainder();
    let n = rest.len();
    if n > 0 {
        let w = if n >= 4 {
            read_u32(rest) | (read_u32(&rest[n - 4..]) << 32)
        } else {
            u64::from(rest[0]) | (u64::from(rest[n / 2]) << 8) | (u64::from(rest[n - 1]) << 16)
        };
        h = fold(h ^ w, K2);
    }
    fold(h, K1 ^ K2)
}

/// A persistent map. See the module docs.
pub(crate) struct PMap<K, V> {
    bitmap: u32,
    root: Option<Arc<[Slot<K, V>]>>,
    len: usize,
}

enum Slot<K, V> {
    Leaf {
        hash: u64,
        key: K,
        value: V,
    },
    /// A child node: bit `i` of `bitmap` is set when fragment `i` has a slot; slots are
    /// stored densely in fragment order.
    Sub {
        bitmap: u32,
        slots: Arc<[Slot<K, V>]>,
    },
    /// Entries whose full 64-bit hashes are equal.
    Collision(Arc<Collision<K, V>>),
}

struct Collision<K, V> {
    hash: u64,
    entries: Vec<(K, V)>,
}

impl<K, V> Default for PMap<K, V> {
    fn default() -> Self {
        PMap {
            bitmap: 0,
            root: None,
            len: 0,
        }
    }
}

impl<K, V> Clone for PMap<K, V> {
    fn clone(&self) -> Self {
        PMap {
            bitmap: self.bitmap,
            root: self.root.clone(),
            len: self.len,
        }
    }
}

impl<K: Clone, V: Clone> Clone for Slot<K, V> {
    fn clone(&self) -> Self {
        match self {
            Slot::Leaf { hash, key, value } => Slot::Leaf {
                hash: *hash,
                key: key.clone(),
                value: value.clone(),
            },
            Slot::Sub { bitmap, slots } => Slot::Sub {
                bitmap: *bitmap,
                slots: slots.clone(),
            },
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

fn with_inserted<T: Clone>(slots: &[T], idx: usize, new: T) -> Arc<[T]> {
    slots[..idx]
        .iter()
        .cloned()
        .chain(std::iter::once(new))
        .chain(slots[idx..].iter().cloned())
        .collect()
}

fn with_removed<T: Clone>(slots: &[T], idx: usize) -> Arc<[T]> {
    slots[..idx]
        .iter()
        .chain(&slots[idx + 1..])
        .cloned()
        .collect()
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
        let mut slots: &[Slot<K, V>] = self.root.as_deref()?;
        let mut bitmap = self.bitmap;
        let hash = K::hash_target(key);
        let mut shift = 0;
        loop {
            let bit = fragment_bit(hash, shift);
            if bitmap & bit == 0 {
                return None;
            }
            match &slots[slot_index(bitmap, bit)] {
                Slot::Leaf {
                    hash: h,
                    key: k,
                    value,
                } => {
                    return (*h == hash && k.target() == key).then_some(value);
                }
                Slot::Sub {
                    bitmap: b,
                    slots: s,
                } => {
                    bitmap = *b;
                    slots = s;
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
        let mut bitmap = self.bitmap;
        let mut slots: &mut [Slot<K, V>] = Arc::make_mut(self.root.as_mut()?);
        let mut shift = 0;
        loop {
            let idx = slot_index(bitmap, fragment_bit(hash, shift));
            let here = slots;
            match &mut here[idx] {
                Slot::Leaf { value, .. } => return Some(value),
                Slot::Sub {
                    bitmap: b,
                    slots: s,
                } => {
                    bitmap = *b;
                    slots = Arc::make_mut(s);
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
        let old = match &mut self.root {
            None => {
                self.bitmap = fragment_bit(hash, 0);
                self.root = Some(Arc::from([Slot::Leaf { hash, key, value }]));
                None
            }
            Some(root) => node_insert(&mut self.bitmap, root, hash, 0, key, value),
        };
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
        let removed = node_remove(&mut self.bitmap, root, hash, 0, key);
        if removed.is_some() {
            self.len -= 1;
            if self.len == 0 {
                self.root = None;
                self.bitmap = 0;
            }
        }
        removed
    }

    /// Visits every entry (in hash order, which is arbitrary but stable for a given map).
    #[inline]
    pub(crate) fn for_each<'a>(&'a self, f: &mut impl FnMut(&'a K, &'a V)) {
        if let Some(root) = &self.root {
            node_for_each(root, f);
        }
    }

    pub(crate) fn values(&self) -> Vec<&V> {
        let mut out = Vec::with_capacity(self.len);
        self.for_each(&mut |_, v| out.push(v));
        out
    }
}

fn node_insert<K: MapKey, V: Clone>(
    bitmap: &mut u32,
    slots: &mut Arc<[Slot<K, V>]>,
    hash: u64,
    shift: u32,
    key: K,
    value: V,
) -> Option<V> {
    let bit = fragment_bit(hash, shift);
    let idx = slot_index(*bitmap, bit);
    if *bitmap & bit == 0 {
        *slots = with_inserted(slots, idx, Slot::Leaf { hash, key, value });
        *bitmap |= bit;
        return None;
    }
    let node = Arc::make_mut(slots);
    match &mut node[idx] {
        Slot::Sub {
            bitmap: b,
            slots: s,
        } => return node_insert(b, s, hash, shift + BITS, key, value),
        Slot::Leaf {
            hash: h,
            key: k,
            value: v,
        } if *h == hash && *k == key => {
            return Some(std::mem::replace(v, value));
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
    let placeholder = Slot::Collision(Arc::new(Collision {
        hash: 0,
        entries: Vec::new(),
    }));
    let existing = std::mem::replace(&mut node[idx], placeholder);
    let existing_hash = match &existing {
        Slot::Leaf { hash, .. } => *hash,
        Slot::Collision(c) => c.hash,
        Slot::Sub { .. } => unreachable!("sub-nodes are handled above"),
    };
    node[idx] = if existing_hash == hash {
        let Slot::Leaf {
            key: k, value: v, ..
        } = existing
        else {
            unreachable!("a collision with this hash is handled above")
        };
        Slot::Collision(Arc::new(Collision {
            hash,
            entries: vec![(k, v), (key, value)],
        }))
    } else {
        pair(
            shift + BITS,
            existing,
            existing_hash,
            Slot::Leaf { hash, key, value },
            hash,
        )
    };
    None
}

/// A sub-node holding two slots whose hashes differ.
fn pair<K, V>(shift: u32, a: Slot<K, V>, ha: u64, b: Slot<K, V>, hb: u64) -> Slot<K, V> {
    let (ba, bb) = (fragment_bit(ha, shift), fragment_bit(hb, shift));
    if ba == bb {
        return Slot::Sub {
            bitmap: ba,
            slots: Arc::from([pair(shift + BITS, a, ha, b, hb)]),
        };
    }
    let slots: Arc<[Slot<K, V>]> = if ba < bb {
        Arc::from([a, b])
    } else {
        Arc::from([b, a])
    };
    Slot::Sub {
        bitmap: ba | bb,
        slots,
    }
}

fn node_remove<K: MapKey, V: Clone>(
    bitmap: &mut u32,
    slots: &mut Arc<[Slot<K, V>]>,
    hash: u64,
    shift: u32,
    key: &K::Target,
) -> Option<V> {
    let bit = fragment_bit(hash, shift);
    if *bitmap & bit == 0 {
        return None;
    }
    let idx = slot_index(*bitmap, bit);
    enum After<S> {
        Keep,
        Drop,
        Replace(S),
    }
    let (removed, after) = match &mut Arc::make_mut(slots)[idx] {
        Slot::Leaf {
            hash: h,
            key: k,
            value,
        } => {
            if *h != hash || k.target() != key {
                return None;
            }
            (value.clone(), After::Drop)
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
                    v,
                    After::Replace(Slot::Leaf {
                        hash,
                        key: k,
                        value: v1,
                    }),
                )
            } else {
                (v, After::Keep)
            }
        }
        Slot::Sub {
            bitmap: b,
            slots: s,
        } => {
            let v = node_remove(b, s, hash, shift + BITS, key)?;
            // Keep the trie canonical: a sub-node left with a single leaf or collision is
            // pulled up, and an empty one disappears, so lookups stay short after removals.
            match s.len() {
                0 => (v, After::Drop),
                1 if !matches!(s[0], Slot::Sub { .. }) => (v, After::Replace(s[0].clone())),
                _ => (v, After::Keep),
            }
        }
    };
    match after {
        After::Keep => {}
        After::Replace(slot) => Arc::make_mut(slots)[idx] = slot,
        After::Drop => {
            *slots = with_removed(slots, idx);
            *bitmap &= !bit;
        }
    }
    Some(removed)
}

fn node_for_each<'a, K, V>(slots: &'a [Slot<K, V>], f: &mut impl FnMut(&'a K, &'a V)) {
    for slot in slots {
        match slot {
            Slot::Leaf { key, value, .. } => f(key, value),
            Slot::Sub { slots, .. } => node_for_each(slots, f),
            Slot::Collision(c) => {
                for (k, v) in &c.entries {
                    f(k, v);
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

    fn key(s: &str) -> Key {
        Key::new(s.as_bytes())
    }

    #[test]
    fn insert_get_remove_bytes() {
        let mut m: PMap<Key, u32> = PMap::new();
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
        let long = "x".repeat(100);
        m.insert(key(&long), 1);
        m.insert(key(""), 2);
        assert_eq!(m.get(long.as_bytes()), Some(&1));
        assert_eq!(m.get(b""), Some(&2));
        assert_eq!(m.get(&long.as_bytes()[..99]), None);
    }

    #[test]
    fn old_versions_are_unchanged_by_later_writes() {
        let mut m: PMap<Key, u32> = PMap::new();
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
            Forced {
                id: 4,
                hash: 42 | (1 << 62),
            },
            Forced {
                id: 5,
                hash: 42 | (1 << 63),
            },
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

    #[test]
    fn hash_distinguishes_short_keys() {
        let mut seen = std::collections::HashSet::new();
        let mut n = 0;
        for len in 0..12usize {
            for b in [0u8, 1, b'a', b'.', 255] {
                for pos in 0..len {
                    let mut k = vec![b'x'; len];
                    k[pos] = b;
                    seen.insert(hash_bytes(&k));
                    n += 1;
                }
            }
        }
        // All these inputs are distinct; so must their hashes be.
        assert_eq!(seen.len(), n);
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
