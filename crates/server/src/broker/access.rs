//! The access model's life cycle on the broker: the default vhost and user of a first boot,
//! vhosts created and deleted at runtime (durably, closing a deleted vhost's connections), a
//! user's deletion closing its connections, and the checks `connection.open` makes (vhost
//! and user connection limits, permission to use the vhost) with RabbitMQ's texts.

use super::Broker;
use crate::access::definitions::{AccessDefinitions, DefinitionsError};
use crate::access::permissions::Permissions;
use crate::access::{User, VhostSettings};
use crate::error::{AmqpError, AmqpResult};
use crate::policy::PolicyKind;
use crate::queue::delivery::ConnEvent;
use crate::vhost::Vhost;
use std::sync::Arc;
use tracing::info;

/// RabbitMQ's description of the vhost it creates at first boot.
const DEFAULT_VHOST_DESCRIPTION: &str = "Default virtual host";

impl Broker {
    /// RabbitMQ's first boot (`rabbit:insert_default_data`): the default vhost, and the default
    /// user with `default_pass`, `default_user_tags` and `default_permissions` in it. Only
    /// when the registry is empty and no definitions are to be loaded, as RabbitMQ decides.
    pub(crate) fn seed_defaults_if_empty(&self) {
        if !self.access().is_empty() || self.config.load_definitions.is_some() {
            return;
        }
        info!("seeding the default virtual host and user");
        let c = &self.config;
        let settings = VhostSettings {
            description: DEFAULT_VHOST_DESCRIPTION.into(),
            ..VhostSettings::default()
        };
        self.create_vhost(&c.default_vhost, settings);
        self.access().put_user(User {
            name: c.default_user.clone(),
            password: Some(crate::access::password::PasswordHash::new(&c.default_pass)),
            tags: c.default_user_tags.clone(),
            limits: Default::default(),
        });
        match Permissions::new(c.default_permissions.clone()) {
            Ok(p) => self
                .access()
                .set_permissions(&c.default_user, &c.default_vhost, p),
            Err(e) => tracing::error!("default_permissions: {e}"),
        }
    }

    /// Imports a definitions file's access sections, then its policies (into vhosts that
    /// exist by then), everything checked first: a bad entry imports nothing.
    pub(crate) fn import_definitions(
        &self,
        defs: &AccessDefinitions,
    ) -> Result<(), DefinitionsError> {
        let policies = defs.checked_policies(self.access())?;
        defs.apply(self.access(), |name, settings| {
            self.create_vhost(name, settings)
        })?;
        for (vhost, policy) in policies {
            if let Some(v) = self.vhost(&vhost) {
                v.put_policy(PolicyKind::Policy, policy);
            }
        }
        Ok(())
    }

    /// Creates a vhost with its record (durably); an existing one is left as it is, as
    /// RabbitMQ's `add_vhost` does. `true` if it was created.
    pub fn create_vhost(&self, name: &str, settings: VhostSettings) -> bool {
        if self.access().vhost_settings(name).is_some() {
            return false;
        }
        self.access().put_vhost(name, settings);
        self.add_vhost(name);
        true
    }

    /// Deletes a vhost and everything in it, durably: its record and permissions, exchanges,
    /// queues and their messages; its connections are closed with 320 CONNECTION_FORCED and
    /// RabbitMQ's text. `false` if there was none.
    pub fn delete_vhost(&self, name: &str) -> bool {
        let Some((_, vhost)) = self.vhosts.remove(name) else {
            return false;
        };
        info!(vhost = name, "deleting vhost");
        self.access().forget_vhost(name);
        // Closed first: a consumer's connection is gone before its queue, so its client sees
        // the connection close and no basic.cancel, as with RabbitMQ.
        self.close_connections_where(|m| m.vhost == name, &format!("vhost '{name}' is deleted"));
        vhost.dismantle();
        self.stats().retire(vhost.counters.totals());
        true
    }

    /// Deletes a user and its permissions, durably, and closes its connections with 320
    /// CONNECTION_FORCED and RabbitMQ's text. `false` if there was none.
    pub fn delete_user(&self, name: &str) -> bool {
        if !self.access().delete_user(name) {
            return false;
        }
        self.close_connections_where(|m| m.user == name, &format!("user '{name}' is deleted"));
        true
    }

    fn close_connections_where(
        &self,
        matches: impl Fn(&super::ConnectionMeta) -> bool,
        reason: &str,
    ) {
        for c in self.connections.iter().filter(|c| matches(&c.meta)) {
            let _ = c.tx.send(ConnEvent::ForceClose {
                reason: reason.to_string(),
            });
        }
    }

    fn count_connections(&self, matches: impl Fn(&super::ConnectionMeta) -> bool) -> u64 {
        self.connections.iter().filter(|c| matches(&c.meta)).count() as u64
    }

    /// `connection.open`'s checks, in RabbitMQ's order (`rabbit_reader`): the vhost exists and
    /// is under its connection limit, the user is under theirs, the user may use the vhost.
    /// Refusals are 530 NOT_ALLOWED with RabbitMQ's texts.
    pub(crate) fn open_vhost(&self, user: &User, name: &str) -> AmqpResult<Arc<Vhost>> {
        let refused = |text: String| Err(AmqpError::not_allowed(text).with_ids(10, 40));
        let (Some(vhost), Some(settings)) = (self.vhost(name), self.access().vhost_settings(name))
        else {
            return refused(format!("vhost {name} not found"));
        };
        let u = &user.name;
        if let Some(limit) = settings.limits.max_connections {
            if self.count_connections(|m| m.vhost == name) >= limit {
                return refused(format!(
                    "access to vhost '{name}' refused for user '{u}': connection limit ({limit}) is reached"
                ));
            }
        }
        if let Some(limit) = user.limits.max_connections {
            if self.count_connections(|m| m.user == *u) >= limit {
                return refused(format!(
                    "connection refused for user '{u}': user connection limit ({limit}) is reached"
                ));
            }
        }
        if self.access().permissions(u, name).is_none() {
            return refused(format!("access to vhost '{name}' refused for user '{u}'"));
        }
        Ok(vhost)
    }
}
