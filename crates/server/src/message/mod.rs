//! A published message as the broker holds it: one compact, reference-counted allocation
//! shared by every queue it was routed to and every consumer it is delivered to.
//!
//! Why not `Arc<struct { Bytes, Bytes, ... }>` with views of the read buffer: for the small
//! messages that dominate real traffic that layout cost 2.5x the message itself (see
//! docs/server.md, "Message layout in memory"): a 160-byte `Arc` holding four `Bytes` views,
//! and behind them the whole frame-set as received (frame headers, method arguments), pinned
//! in the read buffer for as long as the message is queued. Here the raw properties and the
//! body are copied once, at publish, into a single allocation with a 28-byte header; the
//! exchange and routing key live in a [`Route`] that consecutive publishes on a channel share.
//! Bodies are still never copied per queue or per consumer: delivery writes them straight
//! from this allocation into the connection's output buffer.
//!
//! This is the workspace's only `unsafe` module: a thin pointer to a variable-sized allocation
//! cannot be written in safe Rust (`Arc<[u8]>` is a 16-byte fat pointer and carries a second
//! count). The unsafe code is confined to `new`, the accessors and `Drop` below.
#![allow(unsafe_code)]

pub(crate) mod stored;

use std::alloc::{self, Layout};
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{self, AtomicU32, Ordering};
use std::sync::Arc;

/// Where a message was published: the exchange name and the routing key, in one shared
/// allocation (`[exchange length][exchange][key length][routing key]`), then the keys of a
/// `BCC` header if it had one (each as a 4-byte little-endian length and the key): `BCC` is
/// taken off the message at publish, but where the message goes next (dead-lettered without
/// a dead-letter routing key, released by a delayed exchange) RabbitMQ routes it with them.
#[derive(Clone, PartialEq, Eq)]
pub struct Route(Arc<[u8]>);

impl Route {
    /// Exchange and routing key must each be a `shortstr` (at most 255 bytes); the codec has
    /// checked that for anything that came off the wire.
    pub fn new(exchange: &[u8], routing_key: &[u8]) -> Route {
        Route::with_bcc_keys(exchange, routing_key, &[])
    }

    /// A route that also remembers the `BCC` keys the message was published with.
    pub fn with_bcc_keys(exchange: &[u8], routing_key: &[u8], bcc: &[&[u8]]) -> Route {
        let exchange = &exchange[..exchange.len().min(255)];
        let routing_key = &routing_key[..routing_key.len().min(255)];
        let extra: usize = bcc.iter().map(|k| 4 + k.len()).sum();
        let mut bytes = Vec::with_capacity(2 + exchange.len() + routing_key.len() + extra);
        bytes.push(exchange.len() as u8);
        bytes.extend_from_slice(exchange);
        bytes.push(routing_key.len() as u8);
        bytes.extend_from_slice(routing_key);
        for key in bcc {
            let key = &key[..key.len().min(u32::MAX as usize)];
            bytes.extend_from_slice(&(key.len() as u32).to_le_bytes());
            bytes.extend_from_slice(key);
        }
        Route(bytes.into())
    }

    pub fn exchange(&self) -> &[u8] {
        &self.0[1..1 + self.0[0] as usize]
    }

    fn key_start(&self) -> usize {
        2 + self.0[0] as usize
    }

    fn bcc_start(&self) -> usize {
        self.key_start() + self.0[self.key_start() - 1] as usize
    }

    pub fn routing_key(&self) -> &[u8] {
        &self.0[self.key_start()..self.bcc_start()]
    }

    /// The `BCC` keys the message was published with (none for most).
    pub fn bcc_keys(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = &self.0[self.bcc_start()..];
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let (key, tail) = tail.split_at(u32::from_le_bytes(*len) as usize);
            rest = tail;
            Some(key)
        })
    }

    pub fn has_bcc_keys(&self) -> bool {
        self.bcc_start() < self.0.len()
    }

    /// Whether both are one shared allocation.
    pub fn ptr_eq(a: &Route, b: &Route) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// Whether this is the route of a publish to `exchange` with `routing_key` (and no `BCC`).
    pub fn is(&self, exchange: &[u8], routing_key: &[u8]) -> bool {
        self.exchange() == exchange && self.routing_key() == routing_key && !self.has_bcc_keys()
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            String::from_utf8_lossy(self.exchange()),
            String::from_utf8_lossy(self.routing_key())
        )
    }
}

/// The fixed part of a message allocation; the raw properties and then the body follow it at
/// [`DATA_OFFSET`] (not at `size_of::<Head>()`, which would add 4 bytes of padding).
#[repr(C)]
struct Head {
    route: Route,
    refs: AtomicU32,
    body_len: u32,
    /// Length of the raw properties; the top bit is the persistent flag (delivery-mode 2).
    props_len_persistent: u32,
}

const DATA_OFFSET: usize = std::mem::offset_of!(Head, props_len_persistent) + 4;
const PERSISTENT: u32 = 1 << 31;
/// Far below `u32::MAX`, so that a count that got there can never wrap before the abort.
const MAX_REFS: u32 = i32::MAX as u32;

/// A shared, immutable message: route, raw property bytes (flags and list exactly as
/// published), body and the persistent flag. Cloning it is a reference count increment.
#[repr(transparent)]
pub struct Message {
    head: NonNull<Head>,
}

// SAFETY: everything behind the pointer is immutable after construction except the atomic
// reference count; `Route` is Send + Sync.
unsafe impl Send for Message {}
unsafe impl Sync for Message {}

impl Message {
    /// Copies `properties` and `body` into a new message.
    ///
    /// # Panics
    /// If the properties are 2 GiB or more or the body is 4 GiB or more (frame_max and the
    /// maximum message size are capped far below: `config::MESSAGE_SIZE_LIMIT`).
    pub fn new(route: Route, properties: &[u8], body: &[u8], persistent: bool) -> Message {
        Message::from_pieces(route, properties, &[body], persistent)
    }

    /// Like [`Message::new`] with the body given in pieces (body frames as received), copied
    /// one after the other.
    pub fn from_pieces<B: AsRef<[u8]>>(
        route: Route,
        properties: &[u8],
        body: &[B],
        persistent: bool,
    ) -> Message {
        let body_size: usize = body.iter().map(|p| p.as_ref().len()).sum();
        let props_len = u32::try_from(properties.len())
            .ok()
            .filter(|&n| n < PERSISTENT)
            .expect("properties under 2 GiB");
        let body_len = u32::try_from(body_size).expect("body under 4 GiB");
        let layout = layout_for(properties.len() + body_size);
        // SAFETY: the layout has a non-zero size (at least `size_of::<Head>()`). The head is
        // written whole (padding included) before the data, then the properties and the body
        // pieces (the same immutable slices whose lengths sized the layout) are copied into
        // the bytes after DATA_OFFSET, which the layout covers.
        unsafe {
            let raw = alloc::alloc(layout);
            let Some(head) = NonNull::new(raw.cast::<Head>()) else {
                alloc::handle_alloc_error(layout);
            };
            head.as_ptr().write(Head {
                route,
                refs: AtomicU32::new(1),
                body_len,
                props_len_persistent: props_len | if persistent { PERSISTENT } else { 0 },
            });
            let mut at = raw.add(DATA_OFFSET);
            for piece in std::iter::once(properties).chain(body.iter().map(AsRef::as_ref)) {
                std::ptr::copy_nonoverlapping(piece.as_ptr(), at, piece.len());
                at = at.add(piece.len());
            }
            Message { head }
        }
    }

    fn head(&self) -> &Head {
        // SAFETY: the head lives as long as any `Message` pointing at it.
        unsafe { self.head.as_ref() }
    }

    fn props_len(&self) -> usize {
        (self.head().props_len_persistent & !PERSISTENT) as usize
    }

    fn data(&self) -> &[u8] {
        let len = self.props_len() + self.head().body_len as usize;
        // SAFETY: `new` initialised exactly `len` bytes at DATA_OFFSET.
        unsafe { std::slice::from_raw_parts(self.head.as_ptr().cast::<u8>().add(DATA_OFFSET), len) }
    }

    pub fn route(&self) -> &Route {
        &self.head().route
    }

    pub fn exchange(&self) -> &[u8] {
        self.route().exchange()
    }

    pub fn routing_key(&self) -> &[u8] {
        self.route().routing_key()
    }

    /// Property flags and list exactly as published.
    pub fn properties(&self) -> &[u8] {
        &self.data()[..self.props_len()]
    }

    pub fn body(&self) -> &[u8] {
        &self.data()[self.props_len()..]
    }

    /// Body size in bytes (what length limits count).
    pub fn body_len(&self) -> usize {
        self.head().body_len as usize
    }

    /// delivery-mode 2.
    pub fn persistent(&self) -> bool {
        self.head().props_len_persistent & PERSISTENT != 0
    }

    /// Whether both are the same message (not merely equal contents).
    pub fn ptr_eq(a: &Message, b: &Message) -> bool {
        a.head == b.head
    }
}

fn layout_for(data_len: usize) -> Layout {
    let size = (DATA_OFFSET + data_len).max(std::mem::size_of::<Head>());
    Layout::from_size_align(size, std::mem::align_of::<Head>()).expect("message size fits")
}

impl Clone for Message {
    fn clone(&self) -> Message {
        // Relaxed as in `Arc::clone`: a new reference is made from an existing one.
        if self.head().refs.fetch_add(1, Ordering::Relaxed) >= MAX_REFS {
            std::process::abort();
        }
        Message { head: self.head }
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        if self.head().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Pairs with the Release above in every other owner's drop, as in `Arc::drop`.
        atomic::fence(Ordering::Acquire);
        let layout = layout_for(self.props_len() + self.head().body_len as usize);
        // SAFETY: this was the last reference; the head was written by `new` with this
        // layout, and nothing reads it after this.
        unsafe {
            std::ptr::drop_in_place(self.head.as_ptr());
            alloc::dealloc(self.head.as_ptr().cast::<u8>(), layout);
        }
    }
}

/// A queue entry's hold on its message, in one word: the message itself, or, while the body
/// is only in the store (paged out, or recovered and not read back yet), the body's length,
/// which length limits keep counting. (`Option<Message>` plus a length took 16 bytes of a
/// 32-byte entry; see docs/server.md, "Message layout in memory".)
///
/// Encoding: a message's head is 8-aligned, so a resident slot is that pointer with bit 0
/// clear; a paged slot is `length << 1 | 1`, an address-free pointer never dereferenced.
#[repr(transparent)]
pub struct Slot(NonNull<u8>);

// SAFETY: a slot is either a `Message` (Send + Sync) or a plain number.
unsafe impl Send for Slot {}
unsafe impl Sync for Slot {}

const _: () = assert!(
    usize::BITS >= 64,
    "a paged slot keeps a u32 length above its tag bit"
);
const _: () = assert!(std::mem::align_of::<Head>() >= 2);

impl Slot {
    pub fn resident(message: Message) -> Slot {
        let message = std::mem::ManuallyDrop::new(message);
        Slot(message.head.cast())
    }

    pub fn paged(body_len: u32) -> Slot {
        let bits = ((body_len as usize) << 1) | 1;
        Slot(NonNull::new(std::ptr::without_provenance_mut(bits)).expect("tag bit is set"))
    }

    fn is_paged(&self) -> bool {
        self.0.as_ptr().addr() & 1 == 1
    }

    pub fn is_resident(&self) -> bool {
        !self.is_paged()
    }

    pub fn message(&self) -> Option<&Message> {
        if self.is_paged() {
            return None;
        }
        // SAFETY: resident, so the word is a `Message`'s head pointer, and both types are
        // `repr(transparent)` over a non-null pointer.
        Some(unsafe { &*(self as *const Slot).cast::<Message>() })
    }

    /// The body length, known whether or not the body is in memory (0 for a recovered entry
    /// whose record has not been read yet).
    pub fn body_len(&self) -> u32 {
        match self.message() {
            Some(m) => m.head().body_len,
            None => (self.0.as_ptr().addr() >> 1) as u32,
        }
    }

    /// Takes the message out, leaving its length (the body is now only in the store).
    pub fn take(&mut self) -> Option<Message> {
        let len = self.body_len();
        let old = std::mem::replace(self, Slot::paged(len));
        old.into_message()
    }

    /// Puts a message read back from the store in (dropping any it held).
    pub fn set(&mut self, message: Message) {
        *self = Slot::resident(message);
    }

    pub fn into_message(self) -> Option<Message> {
        let this = std::mem::ManuallyDrop::new(self);
        if this.is_paged() {
            return None;
        }
        Some(Message {
            head: this.0.cast(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.is_resident() {
            drop(Message {
                head: self.0.cast(),
            });
        }
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(m) => m.fmt(f),
            None => write!(f, "paged out ({} bytes)", self.body_len()),
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("route", self.route())
            .field("properties", &self.properties().len())
            .field("body", &self.body_len())
            .field("persistent", &self.persistent())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_back_as_given() {
        let route = Route::new(b"orders", b"order.placed");
        for (props, body) in [
            (&b""[..], &b""[..]),
            (&b"\x10\x00\x02"[..], &b"hello"[..]),
            (&[0x80u8, 0, 3, b'a', b'/', b'b'][..], &[7u8; 5000][..]),
        ] {
            for persistent in [false, true] {
                let m = Message::new(route.clone(), props, body, persistent);
                assert_eq!(m.exchange(), b"orders");
                assert_eq!(m.routing_key(), b"order.placed");
                assert_eq!(m.properties(), props);
                assert_eq!(m.body(), body);
                assert_eq!(m.body_len(), body.len());
                assert_eq!(m.persistent(), persistent);
            }
        }
        let pieces = [&b"body "[..], b"", b"in ", b"frames"];
        let m = Message::from_pieces(route.clone(), b"\x00\x00", &pieces, false);
        assert_eq!(m.body(), b"body in frames");
        assert_eq!(m.properties(), b"\x00\x00");
        let empty = Route::new(b"", b"");
        assert!(empty.is(b"", b""));
        assert!(!route.is(b"orders", b"order"));
    }

    #[test]
    fn a_route_keeps_bcc_keys_apart_from_its_routing_key() {
        let long = vec![b'k'; 300];
        let r = Route::with_bcc_keys(b"x", b"rk", &[b"b1", b"", &long]);
        assert_eq!((r.exchange(), r.routing_key()), (&b"x"[..], &b"rk"[..]));
        assert!(r.has_bcc_keys());
        assert_eq!(
            r.bcc_keys().collect::<Vec<_>>(),
            [&b"b1"[..], b"", &long[..]]
        );
        assert!(!r.is(b"x", b"rk"));
        let plain = Route::new(b"x", b"rk");
        assert!(plain.is(b"x", b"rk") && !plain.has_bcc_keys());
        assert_eq!(plain.bcc_keys().count(), 0);
    }

    #[test]
    fn clones_share_one_allocation_and_the_last_drop_frees_it() {
        let route = Route::new(b"", b"q");
        let m = Message::new(route.clone(), b"\x00\x00", b"body", false);
        let copies: Vec<Message> = (0..100).map(|_| m.clone()).collect();
        assert!(copies.iter().all(|c| Message::ptr_eq(c, &m)));
        assert_eq!(copies[7].body().as_ptr(), m.body().as_ptr());
        // The route is held once by the message plus the handle here.
        assert_eq!(Arc::strong_count(&route.0), 2);
        drop(copies);
        std::thread::spawn(move || drop(m)).join().unwrap();
        assert_eq!(Arc::strong_count(&route.0), 1);
    }

    #[test]
    fn a_slot_holds_a_message_or_its_length_in_one_word() {
        assert_eq!(std::mem::size_of::<Slot>(), 8);
        assert_eq!(std::mem::size_of::<Option<Slot>>(), 8);
        let m = Message::new(Route::new(b"", b"q"), b"\x00\x00", &[9u8; 300], true);
        let mut slot = Slot::resident(m.clone());
        assert!(slot.is_resident());
        assert!(Message::ptr_eq(slot.message().unwrap(), &m));
        assert_eq!(slot.body_len(), 300);
        let taken = slot.take().unwrap();
        assert!(Message::ptr_eq(&taken, &m));
        assert!(!slot.is_resident() && slot.message().is_none());
        assert_eq!(slot.body_len(), 300);
        assert!(slot.take().is_none());
        slot.set(taken);
        assert_eq!(slot.message().unwrap().body(), &[9u8; 300][..]);
        // Dropping a resident slot releases its reference; a paged one holds none.
        drop(slot);
        let recovered = Slot::paged(0);
        assert_eq!(recovered.body_len(), 0);
        assert_eq!(Slot::paged(u32::MAX).body_len(), u32::MAX);
        let back = Slot::resident(m.clone()).into_message().unwrap();
        drop(back);
        assert_eq!(m.head().refs.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_header_is_28_bytes() {
        assert_eq!(DATA_OFFSET, 28);
    }
}
