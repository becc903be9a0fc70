//! Users, vhosts, permissions, topic permissions and limits: list, get, put, delete, as the
//! management API and `rabbitmqctl` manage them. Every change is durable. Deleting a vhost
//! deletes what is in it and closes its connections; deleting a user closes its connections
//! (both 320 CONNECTION_FORCED with RabbitMQ's texts).
//!
//! Errors carry the management API's meaning in their code: 404 NOT_FOUND for an object that
//! is not there (`Object Not Found`), 406 PRECONDITION_FAILED for what RabbitMQ answers
//! `bad_request`, with its reason (`vhost_or_user_not_found`,
//! `both_password_and_password_hash_are_provided`...) as the text.

use super::{Admin, PermissionInfo, TopicPermissionInfo, UserInfo, VhostInfo};
use crate::access::password::{HashAlgorithm, PasswordHash};
use crate::access::permissions::{Permissions, TopicPermission};
use crate::access::{User, UserLimits, VhostLimits, VhostSettings};
use crate::config::PermissionPatterns;
use crate::error::{AmqpError, AmqpResult};

/// How a user put through the facade logs in.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A password, hashed here with SHA-256 (RabbitMQ's default).
    Password(String),
    /// A hash in RabbitMQ's base64 form, as definitions carry it.
    Hash {
        algorithm: HashAlgorithm,
        hash: String,
    },
    /// No password: only EXTERNAL (certificate) login works. An existing user's is cleared.
    None,
}

fn bad_request(reason: impl Into<String>) -> AmqpError {
    AmqpError::precondition_failed(reason)
}

pub(super) fn user_info(u: &User) -> UserInfo {
    UserInfo {
        name: u.name.clone(),
        tags: u.tags.clone(),
        password_hash: u.password.as_ref().map(PasswordHash::to_base64),
        hashing_algorithm: u.password.as_ref().map(|p| p.algorithm().rabbit_name()),
        limits: u.limits,
    }
}

impl Admin {
    /// A vhost's info from its record (defaults for a vhost without one).
    pub(super) fn vhost_info(&self, name: &str) -> VhostInfo {
        let s = self
            .broker
            .access()
            .vhost_settings(name)
            .unwrap_or_default();
        VhostInfo {
            name: name.to_string(),
            description: s.description,
            tags: s.tags,
            limits: s.limits,
        }
    }

    /// Creates a vhost (durably), or updates an existing one's description and tags as
    /// RabbitMQ's `PUT /api/vhosts/{name}` does. `true` if it was created.
    pub fn put_vhost(&self, name: &str, description: &str, tags: &[String]) -> bool {
        let access = self.broker.access();
        let settings = VhostSettings {
            description: description.to_string(),
            tags: tags.to_vec(),
            limits: access.vhost_limits(name),
        };
        if self.broker.create_vhost(name, settings.clone()) {
            return true;
        }
        access.put_vhost(name, settings);
        false
    }

    /// Deletes a vhost with everything in it and closes its connections.
    pub fn delete_vhost(&self, name: &str) -> AmqpResult<()> {
        if self.broker.delete_vhost(name) {
            Ok(())
        } else {
            Err(self.no_vhost(name))
        }
    }

    fn no_vhost(&self, name: &str) -> AmqpError {
        AmqpError::not_found(format!("no vhost '{name}'"))
    }

    /// Sets a vhost's limits (`None`: no limit); 404 `vhost_not_found` without the vhost.
    pub fn set_vhost_limits(&self, name: &str, limits: VhostLimits) -> AmqpResult<()> {
        if self.broker.access().set_vhost_limits(name, limits) {
            Ok(())
        } else {
            Err(AmqpError::not_found("vhost_not_found"))
        }
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<UserInfo> {
        self.broker
            .access()
            .users()
            .iter()
            .map(|u| user_info(u))
            .collect()
    }

    pub fn user(&self, name: &str) -> AmqpResult<UserInfo> {
        self.find_user(name).map(|u| user_info(&u))
    }

    fn find_user(&self, name: &str) -> AmqpResult<std::sync::Arc<User>> {
        self.broker
            .access()
            .user(name)
            .ok_or_else(|| AmqpError::not_found(format!("no user '{name}'")))
    }

    /// Creates or replaces a user's credentials and tags; an existing user keeps its limits
    /// and permissions. `true` if it was created.
    pub fn put_user(
        &self,
        name: &str,
        credentials: Credentials,
        tags: &[String],
    ) -> AmqpResult<bool> {
        let password = match credentials {
            Credentials::Password(p) => Some(PasswordHash::new(&p)),
            Credentials::Hash { algorithm, hash } => Some(
                PasswordHash::from_base64(algorithm, &hash)
                    .ok_or_else(|| bad_request("invalid password_hash"))?,
            ),
            Credentials::None => None,
        };
        let existing = self.broker.access().user(name);
        self.broker.access().put_user(User {
            name: name.to_string(),
            password,
            tags: tags.to_vec(),
            limits: existing.as_ref().map(|u| u.limits).unwrap_or_default(),
        });
        Ok(existing.is_none())
    }

    /// Deletes a user with its permissions and closes its connections.
    pub fn delete_user(&self, name: &str) -> AmqpResult<()> {
        if self.broker.delete_user(name) {
            Ok(())
        } else {
            Err(AmqpError::not_found(format!("no user '{name}'")))
        }
    }

    /// Sets a user's limits (`None`: no limit); 406 `no_such_user` without the user.
    pub fn set_user_limits(&self, name: &str, limits: UserLimits) -> AmqpResult<()> {
        let user = self
            .broker
            .access()
            .user(name)
            .ok_or_else(|| bad_request(format!("no_such_user {name}")))?;
        self.broker.access().put_user(User {
            limits,
            ..(*user).clone()
        });
        Ok(())
    }

    /// Both must exist to be granted anything (406 `vhost_or_user_not_found`).
    fn check_grantable(&self, user: &str, vhost: &str) -> AmqpResult<()> {
        let access = self.broker.access();
        if access.user(user).is_none() || access.vhost_settings(vhost).is_none() {
            return Err(bad_request("vhost_or_user_not_found"));
        }
        Ok(())
    }

    /// Every user's permissions in every vhost, by vhost then user.
    pub fn permissions(&self) -> Vec<PermissionInfo> {
        self.broker
            .access()
            .all_permissions()
            .into_iter()
            .map(|(user, vhost, p)| {
                let pat = p.patterns();
                PermissionInfo {
                    configure: pat.configure.clone(),
                    write: pat.write.clone(),
                    read: pat.read.clone(),
                    user,
                    vhost,
                }
            })
            .collect()
    }

    /// Sets a user's permissions in a vhost; a pattern that is not a regular expression is
    /// refused (406, `invalid_regexp`).
    pub fn set_permissions(
        &self,
        user: &str,
        vhost: &str,
        patterns: PermissionPatterns,
    ) -> AmqpResult<()> {
        self.check_grantable(user, vhost)?;
        let p = Permissions::new(patterns)
            .map_err(|e| bad_request(format!("invalid_regexp '{}': {}", e.pattern, e.reason)))?;
        self.broker.access().set_permissions(user, vhost, p);
        Ok(())
    }

    /// 404 if the user has none there.
    pub fn clear_permissions(&self, user: &str, vhost: &str) -> AmqpResult<()> {
        if self.broker.access().clear_permissions(user, vhost) {
            Ok(())
        } else {
            Err(AmqpError::not_found(format!(
                "no permissions for user '{user}' in vhost '{vhost}'"
            )))
        }
    }

    /// Every topic permission, by vhost, user and exchange.
    pub fn topic_permissions(&self) -> Vec<TopicPermissionInfo> {
        let access = self.broker.access();
        let mut out = Vec::new();
        for (user, vhost, list) in access.all_topic_permissions() {
            for t in list.iter() {
                out.push(TopicPermissionInfo {
                    user: user.clone(),
                    vhost: vhost.clone(),
                    exchange: t.exchange.clone(),
                    write: t.write.clone(),
                    read: t.read.clone(),
                });
            }
        }
        out
    }

    /// Sets a user's topic permission on one exchange of a vhost.
    pub fn set_topic_permission(
        &self,
        user: &str,
        vhost: &str,
        permission: TopicPermission,
    ) -> AmqpResult<()> {
        self.check_grantable(user, vhost)?;
        for pattern in [&permission.write, &permission.read] {
            // Checked as it will be matched: with its variables expanded.
            let expanded = ["{username}", "{vhost}", "{client_id}"]
                .iter()
                .fold(pattern.clone(), |p, var| p.replace(var, "x"));
            regex::Regex::new(&expanded)
                .map_err(|e| bad_request(format!("invalid_regexp '{pattern}': {e}")))?;
        }
        self.broker
            .access()
            .set_topic_permission(user, vhost, permission);
        Ok(())
    }

    /// Clears a user's topic permissions in a vhost: on one exchange, or all; 404 if there
    /// were none.
    pub fn clear_topic_permissions(
        &self,
        user: &str,
        vhost: &str,
        exchange: Option<&str>,
    ) -> AmqpResult<()> {
        let access = self.broker.access();
        let had = access
            .topic_permissions(user, vhost)
            .is_some_and(|l| l.iter().any(|t| exchange.is_none_or(|x| t.exchange == x)));
        if !had {
            return Err(AmqpError::not_found(format!(
                "no topic permissions for user '{user}' in vhost '{vhost}'"
            )));
        }
        access.clear_topic_permissions(user, vhost, exchange);
        Ok(())
    }
}
