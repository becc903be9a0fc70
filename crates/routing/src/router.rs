//! The [`Router`]: publication of topology versions, the per-thread snapshot cache, and the
//! routing walk (exchange-to-exchange traversal, alternate exchanges, dedup).
//!
//! Concurrency design (details in docs/routing.md): writers are serialised by a mutex and
//! build the next [`State`] from the current one by path copying; the new version is
//! published by swapping an `Arc` under a short write lock and bumping an atomic version.
//! A routing thread keeps, per router, the last `Arc<State>` it used plus its scratch
//! buffers in a thread-local cache; while the version is unchanged, a route does no locking
//! and no shared-memory writes at all (one atomic load). After a change the next route on
//! each thread takes the read lock once to pick up the new version. A message is routed
//! entirely against one version, so it sees every transaction completely or not at all,
//! across all exchanges of the vhost.

use crate::dest::{Dest, DestSet};
use crate::headers::sort_headers;
use crate::state::{ExchangeRec, IdAlloc, Matcher, Name, State, Tx};
use crate::{Binding, ExchangeKind, RouteOutcome, RoutingError};
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use warren_codec::{FieldTable, FieldValue};

/// Routing tables of one vhost. `Send + Sync`; share it (e.g. in an `Arc`) and call it from
/// any number of threads through `&self`.
///
/// `Q` is the server's queue handle; routing returns clones of it, so no second lookup by
/// name is needed.
pub struct Router<Q: Clone + Eq + Hash + Send + Sync + 'static> {
    shared: Arc<Shared<Q>>,
}

struct Shared<Q> {
    /// The version of `current`, readable without the lock.
    version: AtomicU64,
    current: RwLock<(u64, Arc<State<Q>>)>,
    /// Held for the whole of a transaction: one writer at a time.
    writer: Mutex<IdAlloc>,
}

/// Per-route working memory, reused across calls on the same thread.
#[derive(Default)]
pub(crate) struct Scratch {
    dedup: Dedup,
    memo: HashSet<(usize, usize)>,
}

#[derive(Default)]
struct Dedup {
    /// One bit per queue id reached in the current route.
    queue_bits: Vec<u64>,
    queue_ids: Vec<u32>,
    /// One bit per exchange id visited (cycle and diamond protection).
    exchange_bits: Vec<u64>,
    exchange_ids: Vec<u32>,
    /// Exchanges still to route through.
    work: Vec<Name>,
}

#[inline]
fn set_bit(bits: &mut Vec<u64>, id: u32) -> bool {
    let (word, mask) = ((id / 64) as usize, 1u64 << (id % 64));
    if word >= bits.len() {
        bits.resize(word + 1, 0);
    }
    let fresh = bits[word] & mask == 0;
    bits[word] |= mask;
    fresh
}

impl Dedup {
    /// Clears what the previous route set. Also run at the start of a route, so that a
    /// route interrupted by a panic (in a handle's `Clone`) cannot leave stale bits behind.
    #[inline]
    fn reset(&mut self) {
        for id in self.queue_ids.drain(..) {
            self.queue_bits[(id / 64) as usize] = 0;
        }
        for id in self.exchange_ids.drain(..) {
            self.exchange_bits[(id / 64) as usize] = 0;
        }
        self.work.clear();
    }

    #[inline]
    fn emit<Q: Clone>(&mut self, dest: &Dest<Q>, out: &mut Vec<Q>) {
        match dest {
            Dest::Queue { id, handle } => {
                if set_bit(&mut self.queue_bits, *id) {
                    self.queue_ids.push(*id);
                    out.push(handle.clone());
                }
            }
            Dest::Exchange { id, name } => {
                if self.visit(*id) {
                    self.work.push(name.clone());
                }
            }
        }
    }

    #[inline]
    fn emit_set<Q: Clone>(&mut self, set: &DestSet<Q>, out: &mut Vec<Q>) -> usize {
        let mut n = 0;
        set.for_each(&mut |d| {
            n += 1;
            self.emit(d, out);
        });
        n
    }

    fn visit(&mut self, exchange_id: u32) -> bool {
        let fresh = set_bit(&mut self.exchange_bits, exchange_id);
        if fresh {
            self.exchange_ids.push(exchange_id);
        }
        fresh
    }
}

struct CacheEntry {
    /// The router's shared part: identity (by address, kept from reuse by the weak count)
    /// and liveness (entries of dropped routers are purged).
    owner: Weak<dyn Any + Send + Sync>,
    version: u64,
    state: Arc<dyn Any + Send + Sync>,
    scratch: Scratch,
}

/// Routers a thread keeps snapshots for; more than this and the oldest is dropped.
const CACHE_LIMIT: usize = 16;

thread_local! {
    static CACHE: RefCell<Vec<CacheEntry>> = const { RefCell::new(Vec::new()) };
}

impl<Q: Clone + Eq + Hash + Send + Sync + 'static> Default for Router<Q> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Q: Clone + Eq + Hash + Send + Sync + 'static> Router<Q> {
    /// A router with only the default exchange `""`.
    pub fn new() -> Self {
        let router = Router {
            shared: Arc::new(Shared {
                version: AtomicU64::new(0),
                current: RwLock::new((0, Arc::new(State::empty()))),
                writer: Mutex::new(IdAlloc::default()),
            }),
        };
        router.declare_exchange("", ExchangeKind::Direct, false);
        router
    }

    /// A router with the exchanges RabbitMQ predeclares in every vhost: `""`, `amq.direct`,
    /// `amq.fanout`, `amq.topic`, `amq.headers` and `amq.match`.
    pub fn with_default_exchanges() -> Self {
        let router = Self::new();
        router.transaction(|tx| {
            for (name, kind) in crate::PREDECLARED {
                tx.declare_exchange(name, *kind, false);
            }
        });
        router
    }

    /// True for the default exchange (`""`), which cannot be bound, unbound or deleted.
    pub fn is_default_exchange(name: &str) -> bool {
        name.is_empty()
    }

    /// Runs `f` against the current topology and publishes its changes atomically: a
    /// concurrent route sees all of them or none. Transactions are serialised. If `f`
    /// panics nothing is published.
    pub fn transaction<R>(&self, f: impl FnOnce(&mut Tx<'_, Q>) -> R) -> R {
        let mut ids = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let base = State::clone(&self.load().1);
        let mut tx = Tx::new(base, &mut ids);
        let result = f(&mut tx);
        if let Some(state) = tx.commit() {
            let mut current = self
                .shared
                .current
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let version = current.0 + 1;
            let old = std::mem::replace(&mut *current, (version, Arc::new(state)));
            self.shared.version.store(version, Ordering::Release);
            drop(current);
            // Whatever the old version alone owned is freed here, outside the lock.
            drop(old);
        }
        result
    }

    fn load(&self) -> (u64, Arc<State<Q>>) {
        let current = self
            .shared
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        (current.0, current.1.clone())
    }

    /// Runs `f` on this thread's snapshot of the current version.
    #[inline]
    fn with_state<R>(&self, f: impl FnOnce(&State<Q>, &mut Scratch) -> R) -> R {
        let mut f = Some(f);
        let version = self.shared.version.load(Ordering::Acquire);
        let cached = CACHE.try_with(|cell| {
            // Busy only if a handle's Clone re-entered the router from inside a route.
            let mut cache = cell.try_borrow_mut().ok()?;
            let me = Arc::as_ptr(&self.shared);
            let idx = match cache
                .iter()
                .position(|e| std::ptr::addr_eq(e.owner.as_ptr(), me))
            {
                Some(i) => i,
                None => {
                    cache.retain(|e| e.owner.strong_count() > 0);
                    if cache.len() >= CACHE_LIMIT {
                        cache.remove(0);
                    }
                    let (version, state) = self.load();
                    let owner: Weak<dyn Any + Send + Sync> = Arc::downgrade(&self.shared) as _;
                    cache.push(CacheEntry {
                        owner,
                        version,
                        state,
                        scratch: Scratch::default(),
                    });
                    cache.len() - 1
                }
            };
            let entry = &mut cache[idx];
            if entry.version != version {
                let (v, state) = self.load();
                entry.version = v;
                entry.state = state;
            }
            let CacheEntry { state, scratch, .. } = entry;
            let state = state.downcast_ref::<State<Q>>()?;
            Some((f.take()?)(state, scratch))
        });
        match cached {
            Ok(Some(r)) => r,
            _ => {
                let (_, state) = self.load();
                let f = f.take().expect("f runs at most once");
                f(&state, &mut Scratch::default())
            }
        }
    }

    /// Routes a message published to `exchange`. `out` is cleared, then filled with every
    /// queue reached, each once. Exchange-to-exchange bindings and alternate exchanges are
    /// followed, each exchange at most once per message (so cycles terminate).
    ///
    /// Internal exchanges route like any other: refusing direct publishes to them is the
    /// server's job (see [`Router::exchange_kind`]).
    pub fn route(
        &self,
        exchange: &str,
        routing_key: &[u8],
        headers: Option<&FieldTable>,
        out: &mut Vec<Q>,
    ) -> RouteOutcome {
        self.route_keys(exchange, &[routing_key], headers, out)
    }

    /// Like [`Router::route`] for a message with several routing keys (the publish's and
    /// those of its `CC`/`BCC` headers, RabbitMQ's sender-selected distribution): each queue
    /// any key reaches, once. As in RabbitMQ, an exchange hands the message to its alternate
    /// only if no key matched there.
    pub fn route_keys(
        &self,
        exchange: &str,
        keys: &[&[u8]],
        headers: Option<&FieldTable>,
        out: &mut Vec<Q>,
    ) -> RouteOutcome {
        out.clear();
        self.with_state(|state, scratch| route_in(state, scratch, exchange, keys, headers, out))
    }

    // ----- reads -----

    /// Kind and `internal` flag, or `None` if there is no such exchange.
    pub fn exchange_kind(&self, name: &str) -> Option<(ExchangeKind, bool)> {
        self.with_state(|s, _| {
            s.exchanges
                .get(name.as_bytes())
                .map(|x| (x.kind, x.internal))
        })
    }

    /// The alternate exchange set on `name`, if any.
    pub fn alternate_exchange(&self, name: &str) -> Option<String> {
        self.with_state(|s, _| {
            let x = s.exchanges.get(name.as_bytes())?;
            let ae = x.alternate.as_ref()?;
            Some(String::from_utf8_lossy(ae).into_owned())
        })
    }

    /// Whether `exchange` is the source of any binding (`exchange.delete if-unused`).
    pub fn has_bindings(&self, exchange: &str) -> bool {
        self.with_state(|s, _| {
            s.exchanges
                .get(exchange.as_bytes())
                .is_some_and(|x| !x.outgoing.is_empty())
        })
    }

    /// The handle registered for a queue.
    pub fn queue(&self, name: &str) -> Option<Q> {
        self.with_state(|s, _| s.queues.get(name.as_bytes()).map(|q| q.handle.clone()))
    }

    /// Explicit bindings with `queue` as destination (the implicit default-exchange binding
    /// that RabbitMQ also lists is not included).
    pub fn queue_bindings(&self, queue: &str) -> Vec<Binding> {
        self.with_state(|s, _| {
            s.queues
                .get(queue.as_bytes())
                .map(|q| {
                    q.bindings
                        .values()
                        .into_iter()
                        .map(|b| b.to_binding())
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Bindings with `exchange` as source.
    pub fn exchange_bindings(&self, exchange: &str) -> Vec<Binding> {
        self.with_state(|s, _| {
            s.exchanges
                .get(exchange.as_bytes())
                .map(|x| {
                    x.outgoing
                        .values()
                        .into_iter()
                        .map(|b| b.to_binding())
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Names of all exchanges, the default one included.
    pub fn exchange_names(&self) -> Vec<String> {
        self.with_state(|s, _| {
            s.exchanges
                .values()
                .into_iter()
                .map(|x| x.name.to_string())
                .collect()
        })
    }

    /// Number of explicit bindings in the vhost.
    pub fn binding_count(&self) -> usize {
        self.with_state(|s, _| {
            let mut n = 0;
            s.exchanges.for_each(&mut |_, x| n += x.outgoing.len());
            n
        })
    }

    // ----- writes (each one a transaction) -----

    /// Declares an exchange; false if one with that name exists (whatever its kind: checking
    /// equivalence is the server's job, with [`Router::exchange_kind`]).
    pub fn declare_exchange(&self, name: &str, kind: ExchangeKind, internal: bool) -> bool {
        self.transaction(|tx| tx.declare_exchange(name, kind, internal))
    }

    /// See [`Tx::set_alternate_exchange`].
    pub fn set_alternate_exchange(&self, exchange: &str, alternate: Option<&str>) -> bool {
        self.transaction(|tx| tx.set_alternate_exchange(exchange, alternate))
    }

    /// Deletes an exchange and the bindings it is source or destination of. False if it did
    /// not exist; the default exchange cannot be deleted. Use [`Router::remove_exchange`] to
    /// learn which other exchanges lost their last binding.
    pub fn delete_exchange(&self, name: &str) -> bool {
        self.remove_exchange(name).is_some()
    }

    /// See [`Tx::remove_exchange`].
    pub fn remove_exchange(&self, name: &str) -> Option<Vec<String>> {
        self.transaction(|tx| tx.remove_exchange(name))
    }

    /// Registers a queue (the default exchange routes to it by name). Re-adding a name
    /// replaces its handle, bindings kept.
    pub fn add_queue(&self, name: &str, q: Q) {
        self.transaction(|tx| tx.add_queue(name, q));
    }

    /// Removes a queue and its bindings; returns the source exchanges that now have no
    /// bindings (auto-delete candidates).
    pub fn remove_queue(&self, name: &str) -> Vec<String> {
        self.transaction(|tx| tx.remove_queue(name))
    }

    /// Ok(true) if the binding was created, Ok(false) if it already existed.
    pub fn bind_queue(
        &self,
        exchange: &str,
        queue: &str,
        routing_key: &str,
        args: &FieldTable,
    ) -> Result<bool, RoutingError> {
        self.transaction(|tx| tx.bind_queue(exchange, queue, routing_key, args))
    }

    /// Ok(true) if the binding existed and was removed. RabbitMQ answers `unbind-ok` also
    /// when the exchange or queue does not exist; these come back as errors so the server
    /// can choose.
    pub fn unbind_queue(
        &self,
        exchange: &str,
        queue: &str,
        routing_key: &str,
        args: &FieldTable,
    ) -> Result<bool, RoutingError> {
        self.transaction(|tx| tx.unbind_queue(exchange, queue, routing_key, args))
    }

    /// Binds exchange `destination` to `source`: messages routed by `source` through this
    /// binding are routed again by `destination`.
    pub fn bind_exchange(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        args: &FieldTable,
    ) -> Result<bool, RoutingError> {
        self.transaction(|tx| tx.bind_exchange(destination, source, routing_key, args))
    }

    pub fn unbind_exchange(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        args: &FieldTable,
    ) -> Result<bool, RoutingError> {
        self.transaction(|tx| tx.unbind_exchange(destination, source, routing_key, args))
    }
}

/// The routing walk over one version.
fn route_in<Q: Clone>(
    state: &State<Q>,
    scratch: &mut Scratch,
    exchange: &str,
    keys: &[&[u8]],
    headers: Option<&FieldTable>,
    out: &mut Vec<Q>,
) -> RouteOutcome {
    if exchange.is_empty() {
        return route_default(state, scratch, keys, out);
    }
    let Some(root) = state.exchanges.get(exchange.as_bytes()) else {
        return RouteOutcome::NoSuchExchange;
    };
    // Fast path: a direct or fanout exchange whose matching set holds only queues needs no
    // dedup (a set holds each destination once) and no traversal. Exchange destinations,
    // several keys, or no match on an exchange with an alternate, take the general walk below.
    let single = match (&root.matcher, keys) {
        (Matcher::Direct(map), [key]) => Some(map.get(key)),
        (Matcher::Fanout(set), _) => Some(Some(set)),
        _ => None,
    };
    if let Some(set) = single {
        let mut only_queues = true;
        if let Some(set) = set {
            set.for_each(&mut |d| match d {
                Dest::Queue { handle, .. } => out.push(handle.clone()),
                Dest::Exchange { .. } => only_queues = false,
            });
        }
        if only_queues && (!out.is_empty() || root.alternate.is_none()) {
            return outcome(out);
        }
        out.clear();
    }
    let Scratch { dedup, memo } = scratch;
    dedup.reset();
    // Sorted once per message, and only if a headers exchange is reached.
    let mut sorted: Option<Vec<(&[u8], &FieldValue)>> = None;
    dedup.visit(root.id);
    let mut next: Option<&ExchangeRec<Q>> = Some(root);
    while let Some(x) = next {
        let matched = match &x.matcher {
            Matcher::Direct(map) => keys
                .iter()
                .filter_map(|key| map.get(*key))
                .map(|set| dedup.emit_set(set, out))
                .sum(),
            Matcher::Fanout(set) => dedup.emit_set(set, out),
            Matcher::Topic(trie) => {
                let mut n = 0;
                for key in keys {
                    trie.matches(key, memo, &mut |set| n += dedup.emit_set(set, out));
                    if !memo.is_empty() {
                        memo.clear();
                    }
                }
                n
            }
            Matcher::Headers(bindings) => {
                let data = sorted.get_or_insert_with(|| sort_headers(headers));
                let mut n = 0;
                bindings.for_each(&mut |_, b| {
                    if b.spec.matches(data) {
                        n += 1;
                        dedup.emit(&b.dest, out);
                    }
                });
                n
            }
        };
        // As in RabbitMQ, an exchange whose own bindings matched nothing hands the message
        // to its alternate exchange (if that exists and was not visited yet).
        if matched == 0 {
            if let Some(ae) = x.alternate.as_ref().and_then(|n| state.exchanges.get(n)) {
                if dedup.visit(ae.id) {
                    dedup.work.push(ae.key.clone());
                }
            }
        }
        next = None;
        while let Some(name) = dedup.work.pop() {
            if let Some(x) = state.exchanges.get(&name) {
                next = Some(x);
                break;
            }
        }
    }
    dedup.reset();
    outcome(out)
}

/// The default exchange: the queue named by each key, once.
fn route_default<Q: Clone>(
    state: &State<Q>,
    scratch: &mut Scratch,
    keys: &[&[u8]],
    out: &mut Vec<Q>,
) -> RouteOutcome {
    if let [key] = keys {
        if let Some(q) = state.queues.get(key) {
            out.push(q.handle.clone());
        }
        return outcome(out);
    }
    let dedup = &mut scratch.dedup;
    dedup.reset();
    for q in keys.iter().filter_map(|key| state.queues.get(*key)) {
        if set_bit(&mut dedup.queue_bits, q.id) {
            dedup.queue_ids.push(q.id);
            out.push(q.handle.clone());
        }
    }
    dedup.reset();
    outcome(out)
}

fn outcome<Q>(out: &[Q]) -> RouteOutcome {
    if out.is_empty() {
        RouteOutcome::Unroutable
    } else {
        RouteOutcome::Routed(out.len())
    }
}
