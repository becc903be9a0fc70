//! One immutable version of a vhost's topology (exchanges, queues, bindings) and the
//! transaction that derives the next version from it.
//!
//! Everything here is built from [`PMap`]s and `Arc`s, so a [`State`] clone is a handful of
//! reference-count increments and a change copies only the paths it touches. Each binding is
//! recorded three times: in its source exchange's `outgoing` index (idempotency, listing,
//! exchange deletion), in its destination's index (queue or exchange; for queue and exchange
//! deletion) and in the source's routing structure ([`Matcher`]).

use crate::dest::{exchange_key, queue_key, Dest, DestSet};
use crate::headers::HeadersSpec;
use crate::pmap::{Key, PMap};
use crate::topic::{parse_pattern, TopicNode};
use crate::{Binding, DestinationKind, ExchangeKind, RoutingError};
use bytes::{BufMut, BytesMut};
use std::sync::Arc;
use warren_codec::FieldTable;

pub(crate) type Name = Key;

pub(crate) fn name_key(s: &str) -> Name {
    Key::new(s.as_bytes())
}

/// A binding as declared. Shared by the indexes that list it.
pub(crate) struct BindingRec {
    pub(crate) source: Arc<str>,
    pub(crate) destination: Arc<str>,
    pub(crate) kind: DestinationKind,
    pub(crate) routing_key: Box<str>,
    pub(crate) args: FieldTable,
    /// source + destination + key + key-sorted arguments, encoded: RabbitMQ's binding identity.
    pub(crate) ident: Name,
}

impl BindingRec {
    pub(crate) fn to_binding(&self) -> Binding {
        Binding {
            source: self.source.to_string(),
            destination: self.destination.to_string(),
            destination_kind: self.kind,
            routing_key: self.routing_key.to_string(),
            arguments: self.args.clone(),
        }
    }
}

/// Encodes the identity of a binding. RabbitMQ sorts the arguments by key (stably) before
/// comparing bindings, so `{a:1, b:2}` and `{b:2, a:1}` are the same binding, while the type of
/// each value is significant (`I32(1)` and `I64(1)` are different arguments).
pub(crate) fn binding_ident(
    source: &str,
    kind: DestinationKind,
    destination: &str,
    routing_key: &str,
    args: &FieldTable,
) -> Name {
    let mut buf = BytesMut::with_capacity(
        16 + source.len() + destination.len() + routing_key.len() + 16 * args.len(),
    );
    for part in [source, destination, routing_key] {
        buf.put_u32(part.len() as u32);
        buf.put_slice(part.as_bytes());
    }
    buf.put_u8(match kind {
        DestinationKind::Queue => b'q',
        DestinationKind::Exchange => b'e',
    });
    let mut sorted: Vec<_> = args.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (k, v) in sorted {
        buf.put_u8(k.len() as u8);
        buf.put_slice(k.as_bytes());
        v.encode(&mut buf);
    }
    Key::new(&buf[..])
}

/// A headers binding as the matcher sees it.
pub(crate) struct HeadersBinding<Q> {
    pub(crate) spec: HeadersSpec,
    pub(crate) dest: Dest<Q>,
}

/// Per-kind routing structure of an exchange.
pub(crate) enum Matcher<Q> {
    /// Routing key → destinations.
    Direct(PMap<Name, DestSet<Q>>),
    Fanout(DestSet<Q>),
    Topic(Arc<TopicNode<Q>>),
    /// Binding identity → parsed binding; every binding is tried on each message.
    Headers(PMap<Name, Arc<HeadersBinding<Q>>>),
}

impl<Q: Clone> Clone for Matcher<Q> {
    fn clone(&self) -> Self {
        match self {
            Matcher::Direct(m) => Matcher::Direct(m.clone()),
            Matcher::Fanout(s) => Matcher::Fanout(s.clone()),
            Matcher::Topic(t) => Matcher::Topic(t.clone()),
            Matcher::Headers(h) => Matcher::Headers(h.clone()),
        }
    }
}

impl<Q: Clone> Matcher<Q> {
    fn new(kind: ExchangeKind) -> Self {
        match kind {
            ExchangeKind::Direct => Matcher::Direct(PMap::new()),
            ExchangeKind::Fanout => Matcher::Fanout(DestSet::default()),
            ExchangeKind::Topic => Matcher::Topic(Arc::default()),
            ExchangeKind::Headers => Matcher::Headers(PMap::new()),
        }
    }

    fn add(&mut self, b: &BindingRec, dest: Dest<Q>, spec: Option<HeadersSpec>) {
        match self {
            Matcher::Direct(m) => {
                let key = b.routing_key.as_bytes();
                if !m.contains_key(key) {
                    m.insert(Key::new(key), DestSet::default());
                }
                m.get_mut(key).expect("just inserted").add(&dest);
            }
            Matcher::Fanout(s) => s.add(&dest),
            Matcher::Topic(t) => {
                Arc::make_mut(t).insert(&parse_pattern(b.routing_key.as_bytes()), &dest);
            }
            Matcher::Headers(h) => {
                let spec = spec.expect("headers bindings are parsed before they are added");
                h.insert(b.ident.clone(), Arc::new(HeadersBinding { spec, dest }));
            }
        }
    }

    fn remove(&mut self, b: &BindingRec, dest_key: u64) {
        match self {
            Matcher::Direct(m) => {
                let key = b.routing_key.as_bytes();
                if let Some(set) = m.get_mut(key) {
                    set.remove(dest_key);
                    if set.is_empty() {
                        m.remove(key);
                    }
                }
            }
            Matcher::Fanout(s) => {
                s.remove(dest_key);
            }
            Matcher::Topic(t) => {
                Arc::make_mut(t).remove(&parse_pattern(b.routing_key.as_bytes()), dest_key);
            }
            Matcher::Headers(h) => {
                h.remove(&b.ident);
            }
        }
    }
}

pub(crate) struct ExchangeRec<Q> {
    pub(crate) id: u32,
    pub(crate) name: Arc<str>,
    pub(crate) key: Name,
    pub(crate) kind: ExchangeKind,
    pub(crate) internal: bool,
    pub(crate) alternate: Option<Name>,
    pub(crate) matcher: Matcher<Q>,
    /// Bindings with this exchange as source, by identity.
    pub(crate) outgoing: PMap<Name, Arc<BindingRec>>,
    /// Exchange-to-exchange bindings with this exchange as destination, by identity.
    pub(crate) incoming: PMap<Name, Arc<BindingRec>>,
}

impl<Q: Clone> Clone for ExchangeRec<Q> {
    fn clone(&self) -> Self {
        ExchangeRec {
            id: self.id,
            name: self.name.clone(),
            key: self.key.clone(),
            kind: self.kind,
            internal: self.internal,
            alternate: self.alternate.clone(),
            matcher: self.matcher.clone(),
            outgoing: self.outgoing.clone(),
            incoming: self.incoming.clone(),
        }
    }
}

pub(crate) struct QueueRec<Q> {
    pub(crate) id: u32,
    pub(crate) name: Arc<str>,
    pub(crate) handle: Q,
    /// Bindings with this queue as destination, by identity.
    pub(crate) bindings: PMap<Name, Arc<BindingRec>>,
}

impl<Q: Clone> Clone for QueueRec<Q> {
    fn clone(&self) -> Self {
        QueueRec {
            id: self.id,
            name: self.name.clone(),
            handle: self.handle.clone(),
            bindings: self.bindings.clone(),
        }
    }
}

/// One version of the topology.
pub(crate) struct State<Q> {
    pub(crate) exchanges: PMap<Name, Arc<ExchangeRec<Q>>>,
    pub(crate) queues: PMap<Name, Arc<QueueRec<Q>>>,
    /// Upper bounds of the ids in use, for sizing the routing dedup bitsets.
    pub(crate) queue_id_bound: u32,
    pub(crate) exchange_id_bound: u32,
}

impl<Q> Clone for State<Q> {
    fn clone(&self) -> Self {
        State {
            exchanges: self.exchanges.clone(),
            queues: self.queues.clone(),
            queue_id_bound: self.queue_id_bound,
            exchange_id_bound: self.exchange_id_bound,
        }
    }
}

impl<Q> State<Q> {
    pub(crate) fn empty() -> Self {
        State {
            exchanges: PMap::default(),
            queues: PMap::default(),
            queue_id_bound: 0,
            exchange_id_bound: 0,
        }
    }
}

/// Dense small ids for queues and exchanges, reused after deletion so the per-thread dedup
/// bitsets stay as small as the live population.
#[derive(Default)]
pub(crate) struct IdAlloc {
    next_queue: u32,
    free_queues: Vec<u32>,
    next_exchange: u32,
    free_exchanges: Vec<u32>,
}

impl IdAlloc {
    fn queue(&mut self) -> u32 {
        self.free_queues.pop().unwrap_or_else(|| {
            self.next_queue += 1;
            self.next_queue - 1
        })
    }

    fn exchange(&mut self) -> u32 {
        self.free_exchanges.pop().unwrap_or_else(|| {
            self.next_exchange += 1;
            self.next_exchange - 1
        })
    }
}

/// Both ends of a binding, checked to exist.
struct Ends<Q> {
    source_kind: ExchangeKind,
    source: Arc<str>,
    destination: Arc<str>,
    dest: Dest<Q>,
}

/// A set of changes applied atomically: routing sees all of them or none.
///
/// Obtained from [`Router::transaction`](crate::Router::transaction); every mutating method
/// of the router is a one-operation transaction.
pub struct Tx<'r, Q> {
    pub(crate) state: State<Q>,
    ids: &'r mut IdAlloc,
    /// Ids of deleted entities. They return to the allocator only when the transaction
    /// commits, so an abandoned (panicked) transaction cannot hand out an id that the
    /// published state still uses.
    freed_queues: Vec<u32>,
    freed_exchanges: Vec<u32>,
    pub(crate) changed: bool,
}

impl<'r, Q: Clone + Send + Sync + 'static> Tx<'r, Q> {
    pub(crate) fn new(state: State<Q>, ids: &'r mut IdAlloc) -> Self {
        Tx {
            state,
            ids,
            freed_queues: Vec::new(),
            freed_exchanges: Vec::new(),
            changed: false,
        }
    }

    /// Finishes: returns the new state if anything changed.
    pub(crate) fn commit(self) -> Option<State<Q>> {
        let Tx {
            mut state,
            ids,
            freed_queues,
            freed_exchanges,
            changed,
        } = self;
        ids.free_queues.extend(freed_queues);
        ids.free_exchanges.extend(freed_exchanges);
        state.queue_id_bound = ids.next_queue;
        state.exchange_id_bound = ids.next_exchange;
        changed.then_some(state)
    }

    /// Declares an exchange; false (and no change) if the name is taken.
    pub fn declare_exchange(&mut self, name: &str, kind: ExchangeKind, internal: bool) -> bool {
        if self.state.exchanges.contains_key(name.as_bytes()) {
            return false;
        }
        let id = self.ids.exchange();
        let key = name_key(name);
        let rec = ExchangeRec {
            id,
            name: Arc::from(name),
            key: key.clone(),
            kind,
            internal,
            alternate: None,
            matcher: Matcher::new(kind),
            outgoing: PMap::new(),
            incoming: PMap::new(),
        };
        self.state.exchanges.insert(key, Arc::new(rec));
        self.changed = true;
        true
    }

    /// Sets or clears the alternate exchange (RabbitMQ's `alternate-exchange` argument or
    /// policy). It is kept by name and may name an exchange that does not exist (yet), as in
    /// RabbitMQ. Returns false if `exchange` does not exist.
    pub fn set_alternate_exchange(&mut self, exchange: &str, alternate: Option<&str>) -> bool {
        let Some(x) = self.state.exchanges.get_mut(exchange.as_bytes()) else {
            return false;
        };
        Arc::make_mut(x).alternate = alternate.map(name_key);
        self.changed = true;
        true
    }

    /// Deletes an exchange and every binding it is the source or the destination of.
    /// Returns `None` if it did not exist (or is the default exchange, which cannot be
    /// deleted); otherwise the other exchanges that lost their last binding as a source
    /// because this one was a destination (candidates for auto-delete).
    pub fn remove_exchange(&mut self, name: &str) -> Option<Vec<String>> {
        if name.is_empty() {
            return None;
        }
        let rec = self.state.exchanges.remove(name.as_bytes())?;
        self.changed = true;
        for b in rec.outgoing.values() {
            match b.kind {
                DestinationKind::Queue => {
                    if let Some(q) = self.state.queues.get_mut(b.destination.as_bytes()) {
                        Arc::make_mut(q).bindings.remove(&b.ident);
                    }
                }
                DestinationKind::Exchange => {
                    if let Some(x) = self.state.exchanges.get_mut(b.destination.as_bytes()) {
                        Arc::make_mut(x).incoming.remove(&b.ident);
                    }
                }
            }
        }
        let mut orphaned = Vec::new();
        for b in rec.incoming.values() {
            if let Some(src) = self.state.exchanges.get_mut(b.source.as_bytes()) {
                let src = Arc::make_mut(src);
                src.outgoing.remove(&b.ident);
                src.matcher.remove(b, exchange_key(rec.id));
                if src.outgoing.is_empty() {
                    orphaned.push(src.name.to_string());
                }
            }
        }
        self.freed_exchanges.push(rec.id);
        Some(orphaned)
    }

    /// Registers a queue as a binding destination and default-exchange target. If the name
    /// exists, its handle is replaced (in its bindings too).
    pub fn add_queue(&mut self, name: &str, handle: Q) {
        let existing: Vec<Arc<BindingRec>> = match self.state.queues.get(name.as_bytes()) {
            Some(q) => q.bindings.values().into_iter().cloned().collect(),
            None => Vec::new(),
        };
        if self.state.queues.contains_key(name.as_bytes()) {
            self.remove_queue(name);
        }
        let id = self.ids.queue();
        let rec = QueueRec {
            id,
            name: Arc::from(name),
            handle,
            bindings: PMap::new(),
        };
        self.state.queues.insert(name_key(name), Arc::new(rec));
        self.changed = true;
        for b in existing {
            // Cannot fail: the source still exists and the queue was just added.
            let _ = self.bind(
                &b.source,
                DestinationKind::Queue,
                name,
                &b.routing_key,
                &b.args,
            );
        }
    }

    /// Removes a queue and its bindings. Returns the source exchanges that have no bindings
    /// left because of it (in RabbitMQ, the auto-delete ones among them are deleted).
    pub fn remove_queue(&mut self, name: &str) -> Vec<String> {
        let Some(rec) = self.state.queues.remove(name.as_bytes()) else {
            return Vec::new();
        };
        self.changed = true;
        let mut orphaned = Vec::new();
        for b in rec.bindings.values() {
            if let Some(src) = self.state.exchanges.get_mut(b.source.as_bytes()) {
                let src = Arc::make_mut(src);
                src.outgoing.remove(&b.ident);
                src.matcher.remove(b, queue_key(rec.id));
                if src.outgoing.is_empty() {
                    orphaned.push(src.name.to_string());
                }
            }
        }
        self.freed_queues.push(rec.id);
        orphaned
    }

    /// Binds queue `queue` to `exchange`. Ok(false) if that exact binding already exists.
    pub fn bind_queue(
        &mut self,
        exchange: &str,
        queue: &str,
        routing_key: &str,
        args: &FieldTable,
    ) -> Result<bool, RoutingError> {
        self.bind(exchange, DestinationKind::Queue, queue, routing_key, args)
    }

    pub fn unbind_queue(
        &mut self,
        exchange: &str,
        queue: &str,
        routing_key: &str,
        args: &FieldTable,
    ) -> Result<bool, RoutingError> {
        self.unbind(exchange, DestinationKind::Queue, queue, routing_key, args)
    }

    /// Binds exchange `destination` to exchange `source` (AMQP `exchange.bind` order).
    pub fn bind_exchange(
        &mut self,
        destination: &str,
        source: &str,
        routing_key: &str,
        args: &FieldTable,
    ) -> Result<bool, RoutingError> {
        self.bind(
            source,
            DestinationKind::Exchange,
            destination,
            routing_key,
            args,
        )
    }

    pub fn unbind_exchange(
        &mut self,
        destination: &str,
        source: &str,
        routing_key: &str,
        args: &FieldTable,
    ) -> Result<bool, RoutingError> {
        self.unbind(
            source,
            DestinationKind::Exchange,
            destination,
            routing_key,
            args,
        )
    }

    /// Checks both ends and returns the source's kind and the destination as a routing target.
    fn ends(
        &self,
        source: &str,
        kind: DestinationKind,
        destination: &str,
    ) -> Result<Ends<Q>, RoutingError> {
        if source.is_empty() || (kind == DestinationKind::Exchange && destination.is_empty()) {
            return Err(RoutingError::DefaultExchange);
        }
        let src = self
            .state
            .exchanges
            .get(source.as_bytes())
            .ok_or_else(|| RoutingError::NoSuchExchange(source.to_string()))?;
        let (dest_name, dest) = match kind {
            DestinationKind::Queue => {
                let q = self
                    .state
                    .queues
                    .get(destination.as_bytes())
                    .ok_or_else(|| RoutingError::NoSuchQueue(destination.to_string()))?;
                (
                    q.name.clone(),
                    Dest::Queue {
                        id: q.id,
                        handle: q.handle.clone(),
                    },
                )
            }
            DestinationKind::Exchange => {
                let x = self
                    .state
                    .exchanges
                    .get(destination.as_bytes())
                    .ok_or_else(|| RoutingError::NoSuchExchange(destination.to_string()))?;
                (
                    x.name.clone(),
                    Dest::Exchange {
                        id: x.id,
                        name: x.key.clone(),
                    },
                )
            }
        };
        Ok(Ends {
            source_kind: src.kind,
            source: src.name.clone(),
            destination: dest_name,
            dest,
        })
    }

    /// Looked up without `get_mut`, so that a no-op bind or unbind copies nothing.
    fn binding_exists(&self, source: &str, ident: &[u8]) -> bool {
        self.state
            .exchanges
            .get(source.as_bytes())
            .is_some_and(|x| x.outgoing.contains_key(ident))
    }

    fn bind(
        &mut self,
        source: &str,
        kind: DestinationKind,
        destination: &str,
        routing_key: &str,
        args: &FieldTable,
    ) -> Result<bool, RoutingError> {
        let Ends {
            source_kind,
            source: src_name,
            destination: dest_name,
            dest,
        } = self.ends(source, kind, destination)?;
        let spec = match source_kind {
            ExchangeKind::Headers => {
                Some(HeadersSpec::parse(args).map_err(RoutingError::InvalidBinding)?)
            }
            _ => None,
        };
        let ident = binding_ident(source, kind, destination, routing_key, args);
        if self.binding_exists(source, &ident) {
            return Ok(false);
        }
        let src = self
            .state
            .exchanges
            .get_mut(source.as_bytes())
            .expect("checked by ends()");
        let rec = Arc::new(BindingRec {
            source: src_name,
            destination: dest_name,
            kind,
            routing_key: routing_key.into(),
            args: args.clone(),
            ident: ident.clone(),
        });
        let src = Arc::make_mut(src);
        src.outgoing.insert(ident.clone(), rec.clone());
        src.matcher.add(&rec, dest, spec);
        match kind {
            DestinationKind::Queue => {
                let q = self.state.queues.get_mut(destination.as_bytes());
                Arc::make_mut(q.expect("checked by ends()"))
                    .bindings
                    .insert(ident, rec);
            }
            DestinationKind::Exchange => {
                let x = self.state.exchanges.get_mut(destination.as_bytes());
                Arc::make_mut(x.expect("checked by ends()"))
                    .incoming
                    .insert(ident, rec);
            }
        }
        self.changed = true;
        Ok(true)
    }

    fn unbind(
        &mut self,
        source: &str,
        kind: DestinationKind,
        destination: &str,
        routing_key: &str,
        args: &FieldTable,
    ) -> Result<bool, RoutingError> {
        let dest = self.ends(source, kind, destination)?.dest;
        let ident = binding_ident(source, kind, destination, routing_key, args);
        if !self.binding_exists(source, &ident) {
            return Ok(false);
        }
        let src = self
            .state
            .exchanges
            .get_mut(source.as_bytes())
            .expect("checked by ends()");
        let rec = src.outgoing.get(&ident).cloned().expect("checked above");
        let src = Arc::make_mut(src);
        src.outgoing.remove(&ident);
        src.matcher.remove(&rec, dest.key());
        match kind {
            DestinationKind::Queue => {
                if let Some(q) = self.state.queues.get_mut(destination.as_bytes()) {
                    Arc::make_mut(q).bindings.remove(&ident);
                }
            }
            DestinationKind::Exchange => {
                if let Some(x) = self.state.exchanges.get_mut(destination.as_bytes()) {
                    Arc::make_mut(x).incoming.remove(&ident);
                }
            }
        }
        self.changed = true;
        Ok(true)
    }
}
