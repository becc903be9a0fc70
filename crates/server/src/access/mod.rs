//! Who may do what: users (password hash, tags, limits), each user's permissions and topic
//! permissions per vhost, and per-vhost limits, as RabbitMQ's internal auth backend keeps them.
//! This room holds the registry and the pure checks; connections consult it at login and on
//! every operation (through a per-channel cache keyed by [`Access::generation`]).

pub mod definitions;
pub mod password;
pub mod permissions;

use dashmap::DashMap;
use password::PasswordHash;
use permissions::{Permissions, TopicPermission};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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

/// Per-user limits (`rabbitmqctl set_user_limits`); `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserLimits {
    pub max_connections: Option<u64>,
    pub max_channels: Option<u64>,
}

/// Per-vhost limits (`rabbitmqctl set_vhost_limits`); `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VhostLimits {
    pub max_connections: Option<u64>,
    pub max_queues: Option<u64>,
}

/// The registry. Keys of the per-vhost maps are `(user, vhost)`.
#[derive(Debug, Default)]
pub struct Access {
    users: DashMap<String, Arc<User>>,
    permissions: DashMap<(String, String), Arc<Permissions>>,
    topic_permissions: DashMap<(String, String), Arc<[TopicPermission]>>,
    vhost_limits: DashMap<String, VhostLimits>,
    /// Bumped by every change, so caches of checks know when to start over.
    generation: AtomicU64,
}

fn key(user: &str, vhost: &str) -> (String, String) {
    (user.to_string(), vhost.to_string())
}

impl Access {
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
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
        self.users.insert(user.name.clone(), Arc::new(user));
        self.changed();
    }

    /// Removes a user and its permissions everywhere; `false` if there was none.
    pub fn delete_user(&self, name: &str) -> bool {
        let existed = self.users.remove(name).is_some();
        self.permissions.retain(|(u, _), _| u != name);
        self.topic_permissions.retain(|(u, _), _| u != name);
        self.changed();
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
        self.permissions
            .insert(key(user, vhost), Arc::new(permissions));
        self.changed();
    }

    pub fn clear_permissions(&self, user: &str, vhost: &str) -> bool {
        let existed = self.permissions.remove(&key(user, vhost)).is_some();
        self.changed();
        existed
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

    /// The user's topic permissions in the vhost (one per exchange), if any.
    pub fn topic_permissions(&self, user: &str, vhost: &str) -> Option<Arc<[TopicPermission]>> {
        self.topic_permissions
            .get(&key(user, vhost))
            .map(|t| t.clone())
    }

    /// Sets the user's topic permission for one exchange, replacing an earlier one.
    pub fn set_topic_permission(&self, user: &str, vhost: &str, permission: TopicPermission) {
        let mut list: Vec<TopicPermission> = self
            .topic_permissions(user, vhost)
            .map(|l| l.to_vec())
            .unwrap_or_default();
        list.retain(|t| t.exchange != permission.exchange);
        list.push(permission);
        self.topic_permissions.insert(key(user, vhost), list.into());
        self.changed();
    }

    /// Clears the user's topic permissions in the vhost: for one exchange, or all.
    pub fn clear_topic_permissions(&self, user: &str, vhost: &str, exchange: Option<&str>) {
        let k = key(user, vhost);
        match exchange {
            None => {
                self.topic_permissions.remove(&k);
            }
            Some(x) => {
                if let Some(mut list) = self.topic_permissions.get_mut(&k) {
                    let kept: Vec<_> = list.iter().filter(|t| t.exchange != x).cloned().collect();
                    *list = kept.into();
                }
            }
        }
        self.changed();
    }

    pub fn vhost_limits(&self, vhost: &str) -> VhostLimits {
        self.vhost_limits.get(vhost).map(|l| *l).unwrap_or_default()
    }

    pub fn set_vhost_limits(&self, vhost: &str, limits: VhostLimits) {
        self.vhost_limits.insert(vhost.to_string(), limits);
        self.changed();
    }

    /// A vhost is gone: so are all permissions and limits in it.
    pub fn forget_vhost(&self, vhost: &str) {
        self.permissions.retain(|(_, v), _| v != vhost);
        self.topic_permissions.retain(|(_, v), _| v != vhost);
        self.vhost_limits.remove(vhost);
        self.changed();
    }
}
