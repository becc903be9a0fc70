//! The access parts of a RabbitMQ definitions file (`rabbitmqctl export_definitions`, the
//! management API's `/api/definitions`, `load_definitions` at boot): users, vhosts,
//! permissions, topic permissions and vhost limits. Other sections are the topology's and are read
//! elsewhere; unknown fields are ignored, as RabbitMQ ignores them.

use super::password::{HashAlgorithm, PasswordHash};
use super::permissions::{Permissions, TopicPermission};
use super::{Access, User, UserLimits, VhostLimits};
use crate::config::PermissionPatterns;
use serde::Deserialize;

/// The sections read here, as RabbitMQ writes them.
#[derive(Debug, Default, Deserialize)]
pub struct AccessDefinitions {
    #[serde(default)]
    pub users: Vec<UserDef>,
    #[serde(default)]
    pub vhosts: Vec<VhostDef>,
    #[serde(default)]
    pub permissions: Vec<PermissionDef>,
    #[serde(default)]
    pub topic_permissions: Vec<TopicPermissionDef>,
    /// Runtime parameters; only the `vhost-limits` component is read here.
    #[serde(default)]
    pub parameters: Vec<ParameterDef>,
}

#[derive(Debug, Deserialize)]
pub struct UserDef {
    pub name: String,
    /// A plain password (RabbitMQ accepts it on import and hashes it).
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub hashing_algorithm: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub limits: UserLimitsDef,
}

/// Tags: a list (RabbitMQ 3.9+) or a comma-separated string (older exports).
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Tags {
    #[default]
    None,
    List(Vec<String>),
    Text(String),
}

impl Tags {
    fn into_vec(self) -> Vec<String> {
        match self {
            Tags::None => Vec::new(),
            Tags::List(l) => l,
            Tags::Text(t) => t
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct UserLimitsDef {
    #[serde(rename = "max-connections", default)]
    pub max_connections: Option<i64>,
    #[serde(rename = "max-channels", default)]
    pub max_channels: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct VhostDef {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct PermissionDef {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

#[derive(Debug, Deserialize)]
pub struct TopicPermissionDef {
    pub user: String,
    pub vhost: String,
    pub exchange: String,
    pub write: String,
    pub read: String,
}

/// A runtime parameter. RabbitMQ exports a vhost's limits as the parameter
/// `{"component": "vhost-limits", "name": "limits", "vhost": V, "value": {"max-queues": N}}`
/// and imports them from there (the `limits` a vhost entry also carries are ignored on import).
#[derive(Debug, Deserialize)]
pub struct ParameterDef {
    pub component: String,
    #[serde(default)]
    pub vhost: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

impl ParameterDef {
    /// The vhost limits this parameter sets, if it is a `vhost-limits` one.
    fn vhost_limits(&self) -> Option<VhostLimits> {
        if self.component != "vhost-limits" {
            return None;
        }
        let get = |k: &str| limit(self.value.get(k).and_then(serde_json::Value::as_i64));
        Some(VhostLimits {
            max_connections: get("max-connections"),
            max_queues: get("max-queues"),
        })
    }
}

/// Why a definitions file could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionsError {
    #[error("definitions are not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("user '{0}': {1}")]
    User(String, String),
    #[error("permissions of '{user}' in vhost '{vhost}': {reason}")]
    Permissions {
        user: String,
        vhost: String,
        reason: String,
    },
    #[error("vhost '{0}' in {1} does not exist")]
    NoVhost(String, &'static str),
}

/// A negative limit in RabbitMQ's definitions means no limit.
fn limit(v: Option<i64>) -> Option<u64> {
    v.and_then(|n| u64::try_from(n).ok())
}

impl UserDef {
    /// The user this definition describes.
    pub fn to_user(&self) -> Result<User, DefinitionsError> {
        let bad = |why: &str| DefinitionsError::User(self.name.clone(), why.to_string());
        let password = match (&self.password, &self.password_hash) {
            (Some(plain), _) => Some(PasswordHash::new(plain)),
            (None, Some(h)) if h.is_empty() => None,
            (None, Some(h)) => {
                let algo = match &self.hashing_algorithm {
                    None => HashAlgorithm::Sha256,
                    Some(name) => HashAlgorithm::from_rabbit_name(name)
                        .ok_or_else(|| bad(&format!("unknown hashing_algorithm '{name}'")))?,
                };
                Some(PasswordHash::from_base64(algo, h).ok_or_else(|| bad("bad password_hash"))?)
            }
            (None, None) => None,
        };
        Ok(User {
            name: self.name.clone(),
            password,
            tags: match &self.tags {
                Tags::None => Vec::new(),
                Tags::List(l) => l.clone(),
                Tags::Text(t) => Tags::Text(t.clone()).into_vec(),
            },
            limits: UserLimits {
                max_connections: limit(self.limits.max_connections),
                max_channels: limit(self.limits.max_channels),
            },
        })
    }
}

impl AccessDefinitions {
    pub fn parse(json: &str) -> Result<AccessDefinitions, DefinitionsError> {
        Ok(serde_json::from_str(json)?)
    }

    /// Puts every user, permission and topic permission into `access`, after checking them
    /// all (nothing is imported from a file with a bad entry). `vhost_exists` says whether a
    /// vhost exists, counting the ones this file declares.
    pub fn apply(
        &self,
        access: &Access,
        vhost_exists: impl Fn(&str) -> bool,
    ) -> Result<(), DefinitionsError> {
        let declared = |v: &str| vhost_exists(v) || self.vhosts.iter().any(|d| d.name == v);
        let users = self
            .users
            .iter()
            .map(UserDef::to_user)
            .collect::<Result<Vec<_>, _>>()?;
        let mut permissions = Vec::new();
        for p in &self.permissions {
            if !declared(&p.vhost) {
                return Err(DefinitionsError::NoVhost(p.vhost.clone(), "permissions"));
            }
            let compiled = Permissions::new(PermissionPatterns {
                configure: p.configure.clone(),
                write: p.write.clone(),
                read: p.read.clone(),
            })
            .map_err(|e| DefinitionsError::Permissions {
                user: p.user.clone(),
                vhost: p.vhost.clone(),
                reason: e.to_string(),
            })?;
            permissions.push((p, compiled));
        }
        for t in &self.topic_permissions {
            if !declared(&t.vhost) {
                return Err(DefinitionsError::NoVhost(
                    t.vhost.clone(),
                    "topic_permissions",
                ));
            }
        }
        let limits: Vec<(&str, VhostLimits)> = self
            .parameters
            .iter()
            .filter_map(|p| Some((p.vhost.as_str(), p.vhost_limits()?)))
            .collect();
        if let Some((vhost, _)) = limits.iter().find(|(v, _)| !declared(v)) {
            return Err(DefinitionsError::NoVhost(vhost.to_string(), "parameters"));
        }
        for u in users {
            access.put_user(u);
        }
        for (p, compiled) in permissions {
            access.set_permissions(&p.user, &p.vhost, compiled);
        }
        for t in &self.topic_permissions {
            access.set_topic_permission(
                &t.user,
                &t.vhost,
                TopicPermission {
                    exchange: t.exchange.clone(),
                    write: t.write.clone(),
                    read: t.read.clone(),
                },
            );
        }
        for (vhost, l) in limits {
            access.set_vhost_limits(vhost, l);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rabbitmq_export_imports() {
        let defs = AccessDefinitions::parse(
            r#"{"rabbit_version":"3.10.8","users":[
                {"name":"app","password":"pw","tags":["monitoring"],"limits":{"max-channels":3}},
                {"name":"old","password_hash":"","tags":"administrator, impersonator"}],
              "vhosts":[{"name":"orders"}],
              "permissions":[{"user":"app","vhost":"orders","configure":"^app\\.","write":".*","read":""}],
              "topic_permissions":[{"user":"app","vhost":"orders","exchange":"amq.topic","write":"^a","read":".*"}],
              "queues":[],"policies":[]}"#,
        )
        .unwrap();
        let access = Access::default();
        defs.apply(&access, |v| v == "/").unwrap();
        let app = access.check_password("app", "pw").unwrap();
        assert!(app.has_tag("monitoring"));
        assert_eq!(app.limits.max_channels, Some(3));
        let old = access.user("old").unwrap();
        assert!(old.password.is_none() && old.has_tag("impersonator"));
        let p = access.permissions("app", "orders").unwrap();
        assert!(p.allows(super::super::permissions::Permission::Configure, "app.q"));
        assert_eq!(access.topic_permissions("app", "orders").unwrap().len(), 1);
    }

    #[test]
    fn vhost_limits_come_from_the_vhost_limits_parameter() {
        let defs = AccessDefinitions::parse(
            r#"{"vhosts":[{"name":"v","limits":[["max-queues",9]]}],
              "parameters":[{"component":"vhost-limits","name":"limits","vhost":"v",
                             "value":{"max-queues":2,"max-connections":-1}},
                            {"component":"federation-upstream","name":"u","vhost":"v","value":{}}]}"#,
        )
        .unwrap();
        let access = Access::default();
        defs.apply(&access, |v| v == "/").unwrap();
        let limits = access.vhost_limits("v");
        assert_eq!(limits.max_queues, Some(2));
        assert_eq!(limits.max_connections, None, "negative is no limit");
    }

    #[test]
    fn a_bad_entry_imports_nothing() {
        let defs = AccessDefinitions::parse(
            r#"{"users":[{"name":"a","password":"x"}],
              "permissions":[{"user":"a","vhost":"nowhere","configure":".*","write":".*","read":".*"}]}"#,
        )
        .unwrap();
        let access = Access::default();
        assert!(defs.apply(&access, |v| v == "/").is_err());
        assert!(access.user("a").is_none());
    }
}
