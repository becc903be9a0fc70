//! The on-disk layout: column family names, key formats and value formats (docs/storage.md
//! describes the same). All integers are big-endian so that RocksDB's bytewise order is
//! numeric order and a queue's entries iterate by sequence.

use crate::command::{MessageId, QueueId, Seq};

/// Definitions (exchanges, queues, bindings, vhosts, users, permissions) and the store's own
/// metadata.
pub const CF_DEFS: &str = "defs";
/// Message id → message bytes, stored once however many queues hold the message.
pub const CF_MSGS: &str = "msgs";
/// Queue id ‖ seq → message id, flags, delivery count.
pub const CF_QIDX: &str = "qidx";
/// Runtime queue id ‖ seq → message bytes: bodies paged out under memory pressure, wiped at
/// every open (`transient.rs`). The column family of the transient area's own database, in
/// [`TRANSIENT_DIR`]; stores written before that had it in the main database, where an open
/// drops it.
pub const CF_TRANSIENT: &str = "transient";
/// The transient area's database: this directory inside the data directory.
pub const TRANSIENT_DIR: &str = "transient";

/// The on-disk format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// First byte of every value we write, so a later format can tell old values apart.
pub const VALUE_VERSION: u8 = 1;

/// Kinds of definition, the first byte of a `defs` key. Append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DefKind {
    /// The store's own metadata (format marker).
    Meta = 0,
    Exchange = 1,
    Queue = 2,
    Binding = 3,
    /// Key `vhost` = the vhost's name, empty name.
    Vhost = 4,
    /// Key vhost empty, name = the user's name.
    User = 5,
    /// Key `vhost` = the vhost, name = the user.
    Permission = 6,
    /// Key `vhost` = the vhost, name = the user; one record holds every exchange's.
    TopicPermission = 7,
    /// Key `vhost` = the vhost, name = the policy's.
    Policy = 8,
    OperatorPolicy = 9,
}

impl DefKind {
    /// The kinds whose records belong to one vhost (a vhost's deletion removes them all).
    pub const IN_VHOST: [DefKind; 8] = [
        DefKind::Exchange,
        DefKind::Queue,
        DefKind::Binding,
        DefKind::Vhost,
        DefKind::Permission,
        DefKind::TopicPermission,
        DefKind::Policy,
        DefKind::OperatorPolicy,
    ];
}

impl DefKind {
    fn from_u8(b: u8) -> Option<DefKind> {
        Some(match b {
            0 => DefKind::Meta,
            1 => DefKind::Exchange,
            2 => DefKind::Queue,
            3 => DefKind::Binding,
            4 => DefKind::Vhost,
            5 => DefKind::User,
            6 => DefKind::Permission,
            7 => DefKind::TopicPermission,
            8 => DefKind::Policy,
            9 => DefKind::OperatorPolicy,
            _ => return None,
        })
    }
}

/// The `defs` key of the format marker.
pub fn meta_format_key() -> Vec<u8> {
    def_key(DefKind::Meta, "", b"format")
}

/// The format marker's value: a magic string and the format version.
pub fn meta_format_value() -> Vec<u8> {
    let mut v = b"warren-store".to_vec();
    v.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    v
}

/// Parses the format marker; `None` if it is not ours.
pub fn parse_meta_format(v: &[u8]) -> Option<u32> {
    let rest = v.strip_prefix(b"warren-store")?;
    Some(u32::from_be_bytes(rest.try_into().ok()?))
}

/// `kind:u8 ‖ vhost_len:u16 ‖ vhost ‖ name`.
pub fn def_key(kind: DefKind, vhost: &str, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + vhost.len() + name.len());
    k.push(kind as u8);
    let vlen = u16::try_from(vhost.len()).expect("vhost name longer than 65535 bytes");
    k.extend_from_slice(&vlen.to_be_bytes());
    k.extend_from_slice(vhost.as_bytes());
    k.extend_from_slice(name);
    k
}

/// The range `[start, end)` of every `defs` key of `kind` in `vhost` (for a vhost's deletion).
pub fn vhost_range(kind: DefKind, vhost: &str) -> (Vec<u8>, Vec<u8>) {
    let start = def_key(kind, vhost, b"");
    // The prefix's successor: bump the last byte that can be bumped, drop what follows. The
    // kind byte is below 0xff, so there always is one.
    let mut end = start.clone();
    while end.last() == Some(&0xff) {
        end.pop();
    }
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    (start, end)
}

/// Splits a `defs` key into (kind, vhost, name).
pub fn parse_def_key(k: &[u8]) -> Option<(DefKind, String, &[u8])> {
    let kind = DefKind::from_u8(*k.first()?)?;
    let vlen = u16::from_be_bytes(k.get(1..3)?.try_into().ok()?) as usize;
    let vhost = std::str::from_utf8(k.get(3..3 + vlen)?).ok()?.to_owned();
    Some((kind, vhost, &k[3 + vlen..]))
}

/// Exchange and binding values: `version ‖ def`.
pub fn def_value(def: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + def.len());
    v.push(VALUE_VERSION);
    v.extend_from_slice(def);
    v
}

pub fn parse_def_value(v: &[u8]) -> Option<&[u8]> {
    match v.split_first()? {
        (&VALUE_VERSION, rest) => Some(rest),
        _ => None,
    }
}

/// Queue values: `version ‖ queue id:u64 ‖ def`.
pub fn queue_value(queue: QueueId, def: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(9 + def.len());
    v.push(VALUE_VERSION);
    v.extend_from_slice(&queue.to_be_bytes());
    v.extend_from_slice(def);
    v
}

pub fn parse_queue_value(v: &[u8]) -> Option<(QueueId, &[u8])> {
    let rest = parse_def_value(v)?;
    let id = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    Some((id, &rest[8..]))
}

/// `msgs` key: the message id.
pub fn msg_key(id: MessageId) -> [u8; 8] {
    id.to_be_bytes()
}

pub fn parse_msg_key(k: &[u8]) -> Option<MessageId> {
    Some(u64::from_be_bytes(k.try_into().ok()?))
}

/// `msgs` value: `version ‖ message bytes`.
pub fn msg_value(body: &[u8]) -> Vec<u8> {
    def_value(body)
}

/// `qidx` key: `queue id:u64 ‖ seq:u64`.
pub fn idx_key(queue: QueueId, seq: Seq) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&queue.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// An exclusive upper bound above every `qidx` key of `queue` (no overflow at `u64::MAX`).
pub fn idx_queue_end(queue: QueueId) -> [u8; 17] {
    let mut k = [0xffu8; 17];
    k[..8].copy_from_slice(&queue.to_be_bytes());
    k[16] = 0;
    k
}

pub fn parse_idx_key(k: &[u8]) -> Option<(QueueId, Seq)> {
    if k.len() != 16 {
        return None;
    }
    Some((
        u64::from_be_bytes(k[..8].try_into().ok()?),
        u64::from_be_bytes(k[8..].try_into().ok()?),
    ))
}

/// Flag bit: the message was enqueued to more than one queue (its references are counted).
pub const FLAG_SHARED: u8 = 1;

/// What a `qidx` entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexValue {
    pub message: MessageId,
    pub shared: bool,
    pub delivery_count: u32,
}

impl IndexValue {
    /// `version ‖ flags:u8 ‖ message id:u64 ‖ delivery count:u32` (14 bytes).
    pub fn encode(&self) -> [u8; 14] {
        let mut v = [0u8; 14];
        v[0] = VALUE_VERSION;
        v[1] = if self.shared { FLAG_SHARED } else { 0 };
        v[2..10].copy_from_slice(&self.message.to_be_bytes());
        v[10..14].copy_from_slice(&self.delivery_count.to_be_bytes());
        v
    }

    pub fn decode(v: &[u8]) -> Option<IndexValue> {
        if v.len() != 14 || v[0] != VALUE_VERSION || v[1] & !FLAG_SHARED != 0 {
            return None;
        }
        Some(IndexValue {
            shared: v[1] & FLAG_SHARED != 0,
            message: u64::from_be_bytes(v[2..10].try_into().ok()?),
            delivery_count: u32::from_be_bytes(v[10..14].try_into().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn idx_keys_sort_by_queue_then_seq(a in any::<(u64, u64)>(), b in any::<(u64, u64)>()) {
            prop_assert_eq!(idx_key(a.0, a.1).cmp(&idx_key(b.0, b.1)), a.cmp(&b));
            prop_assert_eq!(parse_idx_key(&idx_key(a.0, a.1)), Some(a));
            prop_assert!(idx_key(a.0, a.1).as_slice() < idx_queue_end(a.0).as_slice());
            if a.0 < u64::MAX {
                prop_assert!(idx_queue_end(a.0).as_slice() < idx_key(a.0 + 1, 0).as_slice());
            }
        }

        #[test]
        fn index_value_round_trips(message in any::<u64>(), shared in any::<bool>(), n in any::<u32>()) {
            let v = IndexValue { message, shared, delivery_count: n };
            prop_assert_eq!(IndexValue::decode(&v.encode()), Some(v));
        }

        #[test]
        fn def_keys_round_trip(vhost in "[a-z/]{0,10}", name in proptest::collection::vec(any::<u8>(), 0..10)) {
            let k = def_key(DefKind::Binding, &vhost, &name);
            let (kind, v, n) = parse_def_key(&k).unwrap();
            prop_assert_eq!(kind, DefKind::Binding);
            prop_assert_eq!(v, vhost);
            prop_assert_eq!(n, name.as_slice());
        }
    }

    proptest! {
        #[test]
        fn vhost_ranges_hold_exactly_their_vhost(
            vhost in proptest::collection::vec(any::<u8>(), 0..4),
            other in proptest::collection::vec(any::<u8>(), 0..4),
            name in proptest::collection::vec(any::<u8>(), 0..6),
        ) {
            // Raw bytes (with 0xff) stand in for names: the range works on bytes.
            let v = String::from_utf8_lossy(&vhost).into_owned();
            let o = String::from_utf8_lossy(&other).into_owned();
            let (start, end) = vhost_range(DefKind::Queue, &v);
            let inside = |k: &[u8]| start.as_slice() <= k && k < end.as_slice();
            prop_assert!(inside(&def_key(DefKind::Queue, &v, &name)));
            prop_assert!(!inside(&def_key(DefKind::Exchange, &v, &name)));
            prop_assert!(!inside(&def_key(DefKind::Permission, &v, &name)));
            prop_assert_eq!(inside(&def_key(DefKind::Queue, &o, &name)), o == v);
        }
    }

    #[test]
    fn queue_value_and_meta_round_trip() {
        let v = queue_value(42, b"def");
        assert_eq!(parse_queue_value(&v), Some((42, &b"def"[..])));
        assert_eq!(
            parse_meta_format(&meta_format_value()),
            Some(FORMAT_VERSION)
        );
        assert_eq!(parse_meta_format(b"something else"), None);
        assert_eq!(IndexValue::decode(&[9; 14]), None);
    }
}
