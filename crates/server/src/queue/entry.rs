//! A queued message's 24-byte entry: its seq, its packed expiry, priority, stored flag
//! and delivery count, and its body (or, while paged out, the body's length); and the
//! property-flag peek that reads a message's priority without decoding its properties.

use super::Queue;
use crate::message::{Message, Slot};

/// How many bits of an entry's packed word hold its expiry time (ms since the epoch: enough
/// until the year 2527; later expiries are clamped).
const EXPIRY_BITS: u32 = 44;
/// `Entry::expires_at` of a recovered entry whose body (and so publish time) is not read yet.
pub(super) const EXPIRY_UNKNOWN: u64 = (1 << EXPIRY_BITS) - 1;
const PRIORITY_SHIFT: u32 = EXPIRY_BITS;
const STORED_BIT: u64 = 1 << (PRIORITY_SHIFT + 8);
const DELIVERIES_SHIFT: u32 = PRIORITY_SHIFT + 9;
/// Delivery counts saturate here (11 bits): only "more than zero" (the redelivered flag) is
/// ever read back, and the store is told the saturated count.
const MAX_DELIVERIES: u64 = (1 << (64 - DELIVERIES_SHIFT)) - 1;

/// One message in a queue. 24 bytes: the ready list holds one per queued message, so its size
/// is part of every queued message's memory (docs/server.md, "Message layout in memory").
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) seq: u64,
    /// Packed, low bits first: the expiry time (`EXPIRY_BITS`), the priority (8 bits), the
    /// stored flag, the delivery count (the rest). Read through the methods below.
    packed: u64,
    /// The message, or while it is only in the store (paged out, or recovered at startup) its
    /// body length; the body is read back before delivery.
    pub(super) body: Slot,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 24);

impl Entry {
    /// `priority`: its place in an `x-max-priority` queue (0 elsewhere; ready entries are kept
    /// highest priority first, in publish order within a priority). `stored`: it has an index
    /// entry in the store under this queue. `expires_at`: when it expires (per-queue or
    /// per-message TTL), in ms since the Unix epoch; 0: never.
    pub(super) fn new(seq: u64, body: Slot, priority: u8, stored: bool, expires_at: u64) -> Entry {
        let mut e = Entry {
            seq,
            packed: 0,
            body,
        };
        e.set_expires_at(expires_at);
        e.set_priority(priority);
        if stored {
            e.packed |= STORED_BIT;
        }
        e
    }

    pub(super) fn expires_at(&self) -> u64 {
        self.packed & EXPIRY_UNKNOWN
    }

    pub(super) fn set_expires_at(&mut self, at: u64) {
        self.packed = (self.packed & !EXPIRY_UNKNOWN) | at.min(EXPIRY_UNKNOWN);
    }

    pub(super) fn priority(&self) -> u8 {
        (self.packed >> PRIORITY_SHIFT) as u8
    }

    pub(super) fn set_priority(&mut self, priority: u8) {
        self.packed =
            (self.packed & !(0xff << PRIORITY_SHIFT)) | (u64::from(priority) << PRIORITY_SHIFT);
    }

    pub(super) fn stored(&self) -> bool {
        self.packed & STORED_BIT != 0
    }

    pub(super) fn delivery_count(&self) -> u32 {
        (self.packed >> DELIVERIES_SHIFT) as u32
    }

    pub(super) fn set_delivery_count(&mut self, n: u32) {
        let n = u64::from(n).min(MAX_DELIVERIES);
        self.packed =
            (self.packed & !(MAX_DELIVERIES << DELIVERIES_SHIFT)) | (n << DELIVERIES_SHIFT);
    }

    /// The redelivered flag.
    pub(super) fn redelivered(&self) -> bool {
        self.delivery_count() > 0
    }

    pub(super) fn count_delivery(&mut self) {
        self.set_delivery_count(self.delivery_count() + 1);
    }

    pub(super) fn mark_redelivered(&mut self) {
        self.set_delivery_count(self.delivery_count().max(1));
    }

    /// Body size, known even while the body is paged out (length limits count it).
    pub(super) fn body_len(&self) -> usize {
        self.body.body_len() as usize
    }
}

/// Property-flag bits of `expiration` and `priority` in the first flags word.
pub(super) const EXPIRATION_FLAG: u16 = 1 << 8;
const PRIORITY_FLAG: u16 = 1 << 11;

/// Whether raw basic properties (flags word first) carry the property with flag bit `flag`:
/// lets the hot path skip decoding properties it does not need.
pub(super) fn has_property(raw: &[u8], flag: u16) -> bool {
    raw.len() >= 2 && u16::from_be_bytes([raw[0], raw[1]]) & flag != 0
}

impl Queue {
    /// A message's place in a priority queue: its `priority` property, capped at the queue's
    /// `x-max-priority` (0 in other queues; the property is read only if present).
    pub(super) fn priority_of(&self, message: &Message) -> u8 {
        let Some(max) = self.max_priority else {
            return 0;
        };
        if !has_property(message.properties(), PRIORITY_FLAG) {
            return 0;
        }
        warren_codec::BasicProperties::from_raw(message.properties())
            .ok()
            .and_then(|p| p.priority)
            .map_or(0, |p| p.min(max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Route;

    #[test]
    fn an_entrys_packed_fields_do_not_disturb_each_other() {
        let m = Message::new(Route::new(b"", b"q"), &[0, 0], b"body", false);
        let at = 1_764_460_800_123; // 2025-11-30
        let mut e = Entry::new(7, Slot::resident(m), 9, true, at);
        assert_eq!((e.expires_at(), e.priority(), e.stored()), (at, 9, true));
        assert!(!e.redelivered());
        e.count_delivery();
        e.count_delivery();
        assert_eq!(e.delivery_count(), 2);
        e.set_priority(255);
        e.set_expires_at(0);
        assert_eq!((e.expires_at(), e.priority(), e.stored()), (0, 255, true));
        assert_eq!(e.delivery_count(), 2);
        e.set_expires_at(u64::MAX - 5);
        assert_eq!(e.expires_at(), EXPIRY_UNKNOWN);
        assert_eq!((e.priority(), e.delivery_count()), (255, 2));
        e.set_delivery_count(u32::MAX);
        assert_eq!(e.delivery_count() as u64, MAX_DELIVERIES);
        e.count_delivery();
        assert_eq!(e.delivery_count() as u64, MAX_DELIVERIES);
        assert_eq!(
            (e.expires_at(), e.priority(), e.stored()),
            (EXPIRY_UNKNOWN, 255, true)
        );
        assert_eq!((e.seq, e.body_len()), (7, 4));
        let e = Entry::new(8, Slot::paged(0), 0, false, 0);
        assert!(!e.stored() && e.priority() == 0 && e.expires_at() == 0 && e.body_len() == 0);
    }
}
