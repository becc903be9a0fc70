//! Permission checks, made where and in the order RabbitMQ 3.10's channel makes them:
//! configure / write / read on a queue or exchange name, topic permissions on a topic
//! exchange's routing keys, the `user_id` property, and the per-user channel limit.
//!
//! Each channel caches what it was allowed, as RabbitMQ's channel keeps its last 12 permitted
//! resources. RabbitMQ's cache outlives a revocation while the channel stays busy (it is
//! cleared when the channel goes idle); ours is dropped whenever the registry changes
//! ([`Access::generation`]), so a revoked permission applies to the next operation
//! (docs/compatibility.md, C32).

use super::Connection;
use crate::access::permissions::{
    CompiledTopicPermission, Permission, Permissions, TopicVariables,
};
use crate::access::{tags, Access, User};
use crate::error::{AmqpError, AmqpResult};
use crate::vhost::DeclareGate;
use std::collections::VecDeque;
use std::sync::Arc;
use warren_codec::{FieldTable, FieldValue, ShortStr};

/// How many permitted checks a channel remembers (RabbitMQ's `MAX_PERMISSION_CACHE_SIZE`).
const CACHE_SIZE: usize = 12;

/// The kind of resource a permission is checked on; the word is the one refusals use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Queue,
    Exchange,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Queue => "queue",
            Kind::Exchange => "exchange",
        }
    }
}

/// The connection's user and what it may do in the connection's vhost, as of one registry
/// generation: the permissions and the topic permissions with the variables filled in.
#[derive(Debug)]
pub(super) struct Authz {
    /// As it was at login: RabbitMQ keeps the login's user record (its tags) for the
    /// connection's life.
    pub(super) user: Arc<User>,
    vhost: Arc<str>,
    generation: u64,
    permissions: Option<Arc<Permissions>>,
    topics: Vec<CompiledTopicPermission>,
    /// The exchange the last publish was allowed to write to, on any channel: publishers
    /// mostly repeat it, and then skip the checks (and the lookup of the channel's cache).
    /// Never set while topic permissions apply (those depend on the routing key).
    last_publish: Option<Box<[u8]>>,
}

impl Authz {
    pub(super) fn new(user: Arc<User>, vhost: Arc<str>, access: &Access) -> Authz {
        let mut authz = Authz {
            user,
            vhost,
            generation: 0,
            permissions: None,
            topics: Vec::new(),
            last_publish: None,
        };
        authz.refresh(access, access.generation());
        authz
    }

    /// Takes the registry's current permissions; `generation` was read before them, so a
    /// change made meanwhile is seen at the next check.
    fn refresh(&mut self, access: &Access, generation: u64) {
        let (user, vhost) = (self.user.name.as_str(), &*self.vhost);
        self.generation = generation;
        self.last_publish = None;
        self.permissions = access.permissions(user, vhost);
        let vars = TopicVariables {
            username: user,
            vhost,
            client_id: None,
        };
        self.topics = access
            .topic_permissions(user, vhost)
            .map(|list| list.iter().map(|t| t.compile(vars)).collect())
            .unwrap_or_default();
    }

    /// Whether a publish to `exchange` is allowed as the last one was, nothing having changed.
    #[inline]
    pub(super) fn publishes_as_before(&self, access: &Access, exchange: &[u8]) -> bool {
        self.last_publish
            .as_deref()
            .is_some_and(|last| same_name(last, exchange))
            && self.generation == access.generation()
    }

    /// Remembers that publishing to `exchange` was allowed (see `publishes_as_before`).
    pub(super) fn published(&mut self, exchange: &str) {
        let known = self
            .last_publish
            .as_deref()
            .is_some_and(|last| same_name(last, exchange.as_bytes()));
        if self.topics.is_empty() && !known {
            self.last_publish = Some(exchange.as_bytes().into());
        }
    }

    /// Whether any topic permission applies here (else publishes need no exchange lookup).
    pub(super) fn has_topic_permissions(&self) -> bool {
        !self.topics.is_empty()
    }

    /// RabbitMQ's `user_id` rule: the property, when set, must name the authenticated user,
    /// unless that user has the `impersonator` tag.
    pub(super) fn check_user_id(&self, user_id: Option<&ShortStr>) -> AmqpResult<()> {
        let Some(claimed) = user_id else {
            return Ok(());
        };
        let actual = &self.user.name;
        if claimed.as_bytes() == actual.as_bytes() || self.user.has_tag(tags::IMPERSONATOR) {
            return Ok(());
        }
        Err(AmqpError::precondition_failed(format!(
            "user_id property set to '{}' but authenticated user was '{actual}'",
            claimed.to_string_lossy()
        ))
        .with_ids(60, 40))
    }
}

/// Byte equality that never hands an empty slice to `memcmp`. The default exchange's name is
/// empty, and an empty `Box<[u8]>` points at a dangling address: glibc's AVX-512 `memcmp`
/// does a masked load there even for length 0, and the fault suppression behind it costs
/// hundreds of cycles. Measured: 6% of the broker's CPU in transient-16b (docs/benchmarks.md).
#[inline]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// What one channel was allowed since the registry last changed, newest first.
#[derive(Debug, Default)]
pub(super) struct PermissionCache {
    generation: u64,
    resources: VecDeque<(Permission, Kind, Box<str>)>,
    topics: VecDeque<(Permission, Box<str>, Box<[u8]>)>,
}

fn remember<T>(list: &mut VecDeque<T>, entry: T) {
    if list.len() == CACHE_SIZE {
        list.pop_back();
    }
    list.push_front(entry);
}

/// The checks of one channel: the connection's permissions and the channel's cache.
pub(super) struct Checker<'a> {
    authz: &'a Authz,
    cache: &'a mut PermissionCache,
}

impl<'a> Checker<'a> {
    /// Brings both up to date with the registry first.
    pub(super) fn new(
        authz: &'a mut Authz,
        cache: &'a mut PermissionCache,
        access: &Access,
    ) -> Checker<'a> {
        let generation = access.generation();
        if authz.generation != generation {
            authz.refresh(access, generation);
        }
        if cache.generation != generation {
            *cache = PermissionCache {
                generation,
                ..PermissionCache::default()
            };
        }
        Checker { authz, cache }
    }

    /// `permission` on the queue or exchange `name`; the default exchange is checked as
    /// `amq.default`, as RabbitMQ names it.
    pub(super) fn resource(
        &mut self,
        permission: Permission,
        kind: Kind,
        name: &str,
    ) -> AmqpResult<()> {
        let name = if kind == Kind::Exchange && name.is_empty() {
            "amq.default"
        } else {
            name
        };
        let cached = |(p, k, n): &(Permission, Kind, Box<str>)| {
            *p == permission && *k == kind && &**n == name
        };
        if self.cache.resources.iter().any(cached) {
            return Ok(());
        }
        let allowed = self
            .authz
            .permissions
            .as_ref()
            .is_some_and(|p| p.allows(permission, name));
        if !allowed {
            return Err(AmqpError::access_refused(format!(
                "access to {} '{name}' in vhost '{}' refused for user '{}'",
                kind.word(),
                self.authz.vhost,
                self.authz.user.name
            )));
        }
        remember(&mut self.cache.resources, (permission, kind, name.into()));
        Ok(())
    }

    /// `permission` (write to publish, read to bind) on `routing_key` of the topic exchange
    /// `exchange`. Without a topic permission for that exchange, everything is allowed.
    pub(super) fn topic(
        &mut self,
        permission: Permission,
        exchange: &str,
        routing_key: &[u8],
    ) -> AmqpResult<()> {
        let Some(topic) = self.authz.topics.iter().find(|t| t.exchange == exchange) else {
            return Ok(());
        };
        let cached = |(p, x, k): &(Permission, Box<str>, Box<[u8]>)| {
            *p == permission && &**x == exchange && &**k == routing_key
        };
        if self.cache.topics.iter().any(cached) {
            return Ok(());
        }
        if !topic.allows(permission, routing_key) {
            return Err(AmqpError::access_refused(format!(
                "access to topic '{}' in exchange '{exchange}' in vhost '{}' refused for user '{}'",
                String::from_utf8_lossy(routing_key),
                self.authz.vhost,
                self.authz.user.name
            )));
        }
        remember(
            &mut self.cache.topics,
            (permission, exchange.into(), routing_key.into()),
        );
        Ok(())
    }
}

/// queue.declare's checks beyond the vhost's own, at RabbitMQ's points: configure on the
/// (possibly generated) name; for a queue about to be created, the vhost's queue limit, then
/// read on the queue and write on its dead-letter exchange.
pub(super) struct QueueDeclareChecks<'a> {
    pub(super) check: Checker<'a>,
    pub(super) max_queues: Option<u64>,
}

impl DeclareGate for QueueDeclareChecks<'_> {
    fn may_declare(&mut self, name: &str) -> AmqpResult<()> {
        self.check
            .resource(Permission::Configure, Kind::Queue, name)
    }

    fn may_create(&mut self, name: &str, arguments: &FieldTable, queues: usize) -> AmqpResult<()> {
        if let Some(limit) = self.max_queues {
            if queues as u64 >= limit {
                return Err(AmqpError::precondition_failed(format!(
                    "cannot declare queue '{name}': queue limit in vhost '{}' ({limit}) is reached",
                    self.check.authz.vhost
                )));
            }
        }
        // Only a string names a dead-letter exchange; another type is refused later, by the
        // argument checks, as RabbitMQ refuses it before looking at permissions.
        if let Some(FieldValue::LongStr(dlx)) = arguments.get("x-dead-letter-exchange") {
            self.check.resource(Permission::Read, Kind::Queue, name)?;
            let dlx = dlx.to_string_lossy();
            self.check
                .resource(Permission::Write, Kind::Exchange, &dlx)?;
        }
        Ok(())
    }
}

impl Connection {
    /// The permission checks of `channel`, up to date with the registry.
    pub(super) fn checker(&mut self, channel: u16) -> AmqpResult<Checker<'_>> {
        let ch = self.channels.get_mut(&channel).ok_or_else(|| {
            AmqpError::channel_error(format!("expected 'channel.open' on channel {channel}"))
        })?;
        Ok(Checker::new(
            &mut self.authz,
            &mut ch.permission_cache,
            self.broker.access(),
        ))
    }

    /// RabbitMQ's per-user `max-channels`, checked before a channel is created: the channels
    /// of all the user's connections count. A hard error; it names no method (class and
    /// method 0, `frames::default_ids`), as RabbitMQ sends it.
    pub(super) fn channel_limit_reached(&self) -> Option<AmqpError> {
        let name = &self.authz.user.name;
        let limit = self.broker.access().user(name)?.limits.max_channels?;
        if self.broker.user_channel_count(name) < limit {
            return None;
        }
        Some(AmqpError::not_allowed(format!(
            "number of channels opened for user '{name}' has reached the maximum allowed user \
             limit of ({limit})"
        )))
    }

    /// Publishes the channel count for the per-user limit (after a channel opens or goes).
    pub(super) fn channels_changed(&self) {
        self.channel_count.store(
            self.channels.len() as u32,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}
