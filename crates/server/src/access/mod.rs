//! Who may do what: users (password hash, tags, limits), each user's permissions and topic
//! permissions per vhost, and per-vhost limits, as RabbitMQ's internal auth backend keeps them.
//! This room holds the registry and the pure checks; connections consult it at login and on
//! every operation (through a per-channel cache keyed by [`Access::generation`]). Every change
//! is also written to the durable store (`meta::store`), in the order it is made; recovery
//! puts what was stored back with the `restore_*` methods, which write nothing.

pub mod definitions;
pub mod password;
pub mod permissions;
pub(crate) mod stored;

use crate::meta::store::MetadataStore;
use dashmap::DashMap;
use password::PasswordHash;
use permissions::{Permissions, TopicPermission};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// RabbitMQ's user tags that mean something to the broker itself.
pub mod tags {
    pub const ADMINISTRATOR: &str = "administrator";
    pub const MONITORING: &str = "monitoring";
    pub const POLICYMAKER: &str = "policymaker";
    pub const MANAGEMENT: &str = "management";
    pub const IMPERSONATOR: &str = "impersonator";
}

/// A user. Without a password hash only EXTERNAL (certificate) login works.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: Option<PasswordHash>,
    pub tags: Vec<String>,
    pub limits: UserLimits,
}

impl User {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

// Plain data the admin facade returns too, so they live with it (a leaf room).
pub use crate::info::{UserLimits, VhostLimits};

/// A vhost's record: RabbitMQ's metadata (description, tags) and its limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VhostSettings {
    pub description: String,
    pub tags: Vec<String>,
    pub limits: VhostLimits,
}

/// The registry. Keys of the per-vhost maps are `(user, vhost)`.
#[derive(Debug, Default)]
pub struct Access {
    users: DashMap<String, Arc<User>>,
    permissions: DashMap<(String, String), Arc<Permissions>>,
    topic_permissions: DashMap<(String, String), Arc<[TopicPermission]>>,
    /// Every vhost's record, by name (the vhosts themselves are the broker's).
    vhosts: DashMap<String, VhostSettings>,
    /// Bumped by every change, so caches of checks know when to start over.
    generation: AtomicU64,
    /// Where changes are written; `None` for a registry without storage.
    store: Option<MetadataStore>,
    /// Held by each change while it updates memory and submits its store write, so the store
    /// sees changes in the order memory did.
    writes: Mutex<()>,
}

fn key(user: &str, vhost: &str) -> (String, String) {
    (user.to_string(), vhost.to_string())
}

/// Removes every entry of `user` from a per-vhost map: the vhosts it had one in.
fn take_user<V>(map: &DashMap<(String, String), V>, user: &str) -> Vec<String> {
    let mut vhosts = Vec::new();
    map.retain(|(u, v), _| {
        let theirs = u == user;
        if theirs {
            vhosts.push(v.clone());
        }
        !theirs
    });
    vhosts
}

impl Access {
    /// A registry whose changes are written to `store`.
    pub(crate) fn with_store(store: Option<MetadataStore>) -> Access {
        Access {
            store,
            ..Access::default()
        }
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Runs one change: its memory update, then (with a store) its write of what the update
    /// returned, in order with every other change.
    fn write<R>(&self, change: impl FnOnce() -> R, persist: impl FnOnce(&MetadataStore, &R)) -> R {
        let _order = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let out = change();
        if let Some(store) = &self.store {
            persist(store, &out);
        }
        self.changed();
        out
    }

    /// Changes with every write; a cache made at generation `g` is stale once this differs.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.users.get(name).map(|u| u.clone())
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        let mut out: Vec<_> = self.users.iter().map(|u| u.clone()).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Creates or replaces a user (its permissions stay).
    pub fn put_user(&self, user: User) {
        let user = Arc::new(user);
        self.write(
            || self.users.insert(user.name.clone(), user.clone()),
            |s, _| s.put_user(&user.name, stored::encode_user(&user)),
        );
    }

    /// A stored user, at recovery.
    pub(crate) fn restore_user(&self, user: User) {
        self.users.insert(user.name.clone(), Arc::new(user));
        self.changed();
    }

    /// Removes a user and its permissions everywhere; `false` if there was none.
    pub fn delete_user(&self, name: &str) -> bool {
        let (existed, _, _) = self.write(
            || {
                let existed = self.users.remove(name).is_some();
                let granted = take_user(&self.permissions, name);
                let topic_granted = take_user(&self.topic_permissions, name);
                (existed, granted, topic_granted)
            },
            |s, (_, granted, topic_granted)| s.delete_user(name, granted, topic_granted),
        );
        existed
    }

    /// The user, if `password` is theirs. Empty passwords never match, as in RabbitMQ.
    pub fn check_password(&self, name: &str, password: &str) -> Option<Arc<User>> {
        let user = self.user(name)?;
        let ok = !password.is_empty() && user.password.as_ref()?.verify(password);
        ok.then_some(user)
    }

    pub fn permissions(&self, user: &str, vhost: &str) -> Option<Arc<Permissions>> {
        self.permissions.get(&key(user, vhost)).map(|p| p.clone())
    }

    pub fn set_permissions(&self, user: &str, vhost: &str, permissions: Permissions) {
        let permissions = Arc::new(permissions);
        self.write(
            || {
                self.permissions
                    .insert(key(user, vhost), permissions.clone())
            },
            |s, _| {
                let def = stored::encode_permissions(permissions.patterns());
                s.set_permissions(vhost, user, def)
            },
        );
    }

    /// Stored permissions, at recovery.
    pub(crate) fn restore_permissions(&self, user: &str, vhost: &str, permissions: Permissions) {
        self.permissions
            .insert(key(user, vhost), Arc::new(permissions));
        self.changed();
    }

    pub fn clear_permissions(&self, user: &str, vhost: &str) -> bool {
        self.write(
            || self.permissions.remove(&key(user, vhost)).is_some(),
            |s, _| s.clear_permissions(vhost, user),
        )
    }

    /// Every `(user, vhost, permissions)`.
    pub fn all_permissions(&self) -> Vec<(String, String, Arc<Permissions>)> {
        let mut out: Vec<_> = self
            .permissions
            .iter()
            .map(|e| (e.key().0.clone(), e.key().1.clone(), e.value().clone()))
            .collect();
        out.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        out
    }

    /// Every `(user, vhost, topic permissions)`, by vhost then user.
    pub fn all_topic_permissions(&self) -> Vec<(String, String, Arc<[TopicPermission]>)> {
        let mut out: Vec<_> = self
            .topic_permissions
            .iter()
            .map(|e| (e.key().0.clone(), e.key().1.clone(), e.value().clone()))
            .collect();
        out.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        out
    }

    /// The user's topic permissions in the vhost (one per exchange), if any.
    pub fn topic_permissions(&self, user: &str, vhost: &str) -> Option<Arc<[TopicPermission]>> {
        self.topic_permissions
            .get(&key(user, vhost))
            .map(|t| t.clone())
    }

    /// Sets the user's topic permission for one exchange, replacing an earlier one.
    pub fn set_topic_permission(&self, user: &str, vhost: &str, permission: TopicPermission) {
        self.change_topic_permissions(user, vhost, |list| {
            list.retain(|t| t.exchange != permission.exchange);
            list.push(permission);
        });
    }

    /// Clears the user's topic permissions in the vhost: for one exchange, or all.
    pub fn clear_topic_permissions(&self, user: &str, vhost: &str, exchange: Option<&str>) {
        self.change_topic_permissions(user, vhost, |list| match exchange {
            None => list.clear(),
            Some(x) => list.retain(|t| t.exchange != x),
        });
    }

    /// Edits one user's topic permissions in one vhost; an emptied list is removed.
    fn change_topic_permissions(
        &self,
        user: &str,
        vhost: &str,
        edit: impl FnOnce(&mut Vec<TopicPermission>),
    ) {
        let k = key(user, vhost);
        self.write(
            || {
                let mut list: Vec<TopicPermission> = self
                    .topic_permissions(user, vhost)
                    .map(|l| l.to_vec())
                    .unwrap_or_default();
                edit(&mut list);
                if list.is_empty() {
                    self.topic_permissions.remove(&k);
                } else {
                    self.topic_permissions
                        .insert(k.clone(), list.clone().into());
                }
                list
            },
            |s, list| {
                let def = (!list.is_empty()).then(|| stored::encode_topic_permissions(list));
                s.set_topic_permissions(vhost, user, def)
            },
        );
    }

    /// Stored topic permissions, at recovery.
    pub(crate) fn restore_topic_permissions(
        &self,
        user: &str,
        vhost: &str,
        list: Vec<TopicPermission>,
    ) {
        self.topic_permissions.insert(key(user, vhost), list.into());
        self.changed();
    }

    /// The vhost's limits (none for a vhost without a record).
    pub fn vhost_limits(&self, vhost: &str) -> VhostLimits {
        self.vhosts.get(vhost).map(|v| v.limits).unwrap_or_default()
    }

    /// Sets a vhost's limits; `false` (and nothing written) if it has no record.
    pub fn set_vhost_limits(&self, vhost: &str, limits: VhostLimits) -> bool {
        let Some(mut settings) = self.vhost_settings(vhost) else {
            return false;
        };
        settings.limits = limits;
        self.put_vhost(vhost, settings);
        true
    }

    /// A vhost's record, if it has one.
    pub fn vhost_settings(&self, vhost: &str) -> Option<VhostSettings> {
        self.vhosts.get(vhost).map(|v| v.clone())
    }

    /// Creates or replaces a vhost's record.
    pub fn put_vhost(&self, vhost: &str, settings: VhostSettings) {
        self.write(
            || self.vhosts.insert(vhost.to_string(), settings.clone()),
            |s, _| s.put_vhost(vhost, stored::encode_vhost(&settings)),
        );
    }

    /// A stored vhost record, at recovery.
    pub(crate) fn restore_vhost(&self, vhost: &str, settings: VhostSettings) {
        self.vhosts.insert(vhost.to_string(), settings);
        self.changed();
    }

    /// A vhost is gone: so are its record and all permissions in it. In the store, this one
    /// write also removes everything else the vhost held (exchanges, queues, messages).
    pub fn forget_vhost(&self, vhost: &str) {
        self.write(
            || {
                self.permissions.retain(|(_, v), _| v != vhost);
                self.topic_permissions.retain(|(_, v), _| v != vhost);
                self.vhosts.remove(vhost);
            },
            |s, _| s.delete_vhost(vhost),
        );
    }

    /// Whether the registry holds nothing RabbitMQ's first-boot check looks at: no user, no
    /// permissions, no vhost (`rabbit_table:needs_default_data`).
    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty() && self.permissions.is_empty() && self.vhosts.is_empty()
    }
}
