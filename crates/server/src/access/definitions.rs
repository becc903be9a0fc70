//! The access parts of a RabbitMQ definitions file (`rabbitmqctl export_definitions`, the
//! management API's `/api/definitions`, `load_definitions` at boot): users (with their
//! limits), vhosts (with their metadata), permissions, topic permissions, and vhost limits,
//! which RabbitMQ 3.10 imports from `parameters` (component `vhost-limits`; the `limits` its
//! export also writes into each vhost entry are not read back). Other sections are the
//! topology's and are read elsewhere; unknown fields are ignored, as RabbitMQ ignores them.
//! Policies are checked here too ([`AccessDefinitions::checked_policies`]); the caller sets
//! them once the vhosts exist.
//! What is imported is written to the store like any other change.

use super::password::{HashAlgorithm, PasswordHash};
use super::permissions::{Permissions, TopicPermission};
use super::{Access, User, UserLimits, VhostLimits, VhostSettings};
use crate::config::PermissionPatterns;
use crate::policy::{Policy, PolicyKind, PolicySpec};
use serde::Deserialize;
use serde_json::Value;

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
    /// Runtime parameters; only `vhost-limits` ones are read here.
    #[serde(default)]
    pub parameters: Vec<ParameterDef>,
    #[serde(default)]
    pub policies: Vec<PolicyDef>,
}

/// A policy as RabbitMQ exports it.
#[derive(Debug, Deserialize)]
pub struct PolicyDef {
    pub vhost: String,
    pub name: String,
    pub pattern: Value,
    #[serde(rename = "apply-to")]
    pub apply_to: Option<Value>,
    pub priority: Option<Value>,
    pub definition: Value,
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
    fn to_vec(&self) -> Vec<String> {
        match self {
            Tags::None => Vec::new(),
            Tags::List(l) => l.clone(),
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
    /// RabbitMQ reads `description` and `tags` at the top level first, then in `metadata`.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Option<Tags>,
    #[serde(default)]
    pub metadata: VhostMetadataDef,
}

#[derive(Debug, Default, Deserialize)]
pub struct VhostMetadataDef {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

impl VhostDef {
    /// The record this definition describes, with `limits` (kept from before: a vhost
    /// definition carries none).
    fn settings(&self, limits: VhostLimits) -> VhostSettings {
        let tags = self.tags.as_ref().unwrap_or(&self.metadata.tags);
        VhostSettings {
            description: self
                .description
                .clone()
                .or_else(|| self.metadata.description.clone())
                .unwrap_or_default(),
            tags: tags.to_vec(),
            limits,
        }
    }
}

/// A runtime parameter, as `rabbitmqctl export_definitions` writes it.
#[derive(Debug, Deserialize)]
pub struct ParameterDef {
    pub component: String,
    #[serde(default)]
    pub vhost: String,
    #[serde(default)]
    pub name: String,
    pub value: serde_json::Value,
}

/// The component of vhost limits, as RabbitMQ stores them.
const VHOST_LIMITS: &str = "vhost-limits";

impl ParameterDef {
    /// The limits of a `vhost-limits` parameter: integers, a negative one meaning none, as
    /// RabbitMQ validates them (anything else is refused).
    fn vhost_limits(&self) -> Result<VhostLimits, DefinitionsError> {
        let bad = |why: String| DefinitionsError::Parameter(self.vhost.clone(), why);
        let obj = self
            .value
            .as_object()
            .ok_or_else(|| bad("value is not an object".into()))?;
        let mut limits = VhostLimits::default();
        for (k, v) in obj {
            let n = v
                .as_i64()
                .ok_or_else(|| bad(format!("{k} should be a number")))?;
            match k.as_str() {
                "max-connections" => limits.max_connections = limit(Some(n)),
                "max-queues" => limits.max_queues = limit(Some(n)),
                other => return Err(bad(format!("Unrecognised terms [{other}]"))),
            }
        }
        Ok(limits)
    }
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
    #[error("vhost-limits of vhost '{0}': {1}")]
    Parameter(String, String),
    /// RabbitMQ's words: the validation text, then `(vhost/name)`.
    #[error("Validation failed\n\n{2}\n ({1}/{0})")]
    Policy(String, String, String),
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
            (Some(_), Some(_)) => return Err(bad("both_password_and_password_hash_are_provided")),
            (Some(plain), None) => Some(PasswordHash::new(plain)),
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
            tags: self.tags.to_vec(),
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

    /// Imports every vhost, user, permission, topic permission and vhost limit into `access`
    /// (durably), after checking them all: nothing is imported from a file with a bad entry.
    /// `create_vhost` makes a vhost that has no record yet (the broker's `create_vhost`: record
    /// and runtime half) and says whether it did.
    pub fn apply(
        &self,
        access: &Access,
        create_vhost: impl Fn(&str, VhostSettings) -> bool,
    ) -> Result<(), DefinitionsError> {
        let declared =
            |v: &str| access.vhost_settings(v).is_some() || self.vhosts.iter().any(|d| d.name == v);
        let users = self
            .users
            .iter()
            .map(UserDef::to_user)
            .collect::<Result<Vec<_>, _>>()?;
        let permissions = self.checked_permissions(&declared)?;
        for t in &self.topic_permissions {
            if !declared(&t.vhost) {
                return Err(DefinitionsError::NoVhost(
                    t.vhost.clone(),
                    "topic_permissions",
                ));
            }
        }
        let limits = self.checked_vhost_limits(&declared)?;
        for v in &self.vhosts {
            let kept = access.vhost_limits(&v.name);
            if !create_vhost(&v.name, v.settings(kept)) {
                access.put_vhost(&v.name, v.settings(kept));
            }
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

    /// Every policy of the file, validated, with its vhost (which must exist or be in the
    /// file): checked before anything is imported, set by the caller after.
    pub fn checked_policies(
        &self,
        access: &Access,
    ) -> Result<Vec<(String, Policy)>, DefinitionsError> {
        let mut out = Vec::with_capacity(self.policies.len());
        for p in &self.policies {
            if access.vhost_settings(&p.vhost).is_none()
                && !self.vhosts.iter().any(|d| d.name == p.vhost)
            {
                return Err(DefinitionsError::NoVhost(p.vhost.clone(), "policies"));
            }
            let spec = PolicySpec {
                name: p.name.clone(),
                pattern: p.pattern.clone(),
                apply_to: p.apply_to.clone(),
                priority: p.priority.clone(),
                definition: p.definition.clone(),
            };
            let policy = spec
                .validate(PolicyKind::Policy)
                .map_err(|e| DefinitionsError::Policy(p.name.clone(), p.vhost.clone(), e))?;
            out.push((p.vhost.clone(), policy));
        }
        Ok(out)
    }

    fn checked_permissions(
        &self,
        declared: &impl Fn(&str) -> bool,
    ) -> Result<Vec<(&PermissionDef, Permissions)>, DefinitionsError> {
        let mut out = Vec::new();
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
            out.push((p, compiled));
        }
        Ok(out)
    }

    /// The `vhost-limits` parameters, by vhost.
    fn checked_vhost_limits(
        &self,
        declared: &impl Fn(&str) -> bool,
    ) -> Result<Vec<(&str, VhostLimits)>, DefinitionsError> {
        let mut out = Vec::new();
        for p in self
            .parameters
            .iter()
            .filter(|p| p.component == VHOST_LIMITS)
        {
            if !declared(&p.vhost) {
                return Err(DefinitionsError::NoVhost(p.vhost.clone(), "parameters"));
            }
            out.push((p.vhost.as_str(), p.vhost_limits()?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry with "/", and the vhost maker a broker would pass.
    fn registry() -> Access {
        let access = Access::default();
        access.put_vhost("/", VhostSettings::default());
        access
    }

    fn apply(defs: &AccessDefinitions, access: &Access) -> Result<(), DefinitionsError> {
        defs.apply(access, |name, settings| {
            let new = access.vhost_settings(name).is_none();
            if new {
                access.put_vhost(name, settings);
            }
            new
        })
    }

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
        let access = &registry();
        apply(&defs, access).unwrap();
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
    fn a_bad_entry_imports_nothing() {
        let defs = AccessDefinitions::parse(
            r#"{"users":[{"name":"a","password":"x"}],
              "permissions":[{"user":"a","vhost":"nowhere","configure":".*","write":".*","read":".*"}]}"#,
        )
        .unwrap();
        let access = registry();
        assert!(apply(&defs, &access).is_err());
        assert!(access.user("a").is_none());
    }

    #[test]
    fn vhost_metadata_and_limits_import_as_rabbitmq_exports_them() {
        // The shape `rabbitmqctl export_definitions` writes (RabbitMQ 3.10.8).
        let defs = AccessDefinitions::parse(
            r#"{"vhosts":[{"name":"a_v1","limits":[["max-connections",2]],
                  "metadata":{"description":"orders","tags":"eu, prod"}}],
              "parameters":[{"component":"vhost-limits","name":"limits","vhost":"a_v1",
                  "value":{"max-connections":2,"max-queues":-1}},
                {"component":"federation-upstream","name":"x","vhost":"a_v1","value":{}}]}"#,
        )
        .unwrap();
        let access = registry();
        apply(&defs, &access).unwrap();
        let settings = access.vhost_settings("a_v1").unwrap();
        assert_eq!(settings.description, "orders");
        assert_eq!(settings.tags, vec!["eu", "prod"]);
        assert_eq!(
            settings.limits,
            VhostLimits {
                max_connections: Some(2),
                max_queues: None
            }
        );
        // Imported again without limits: the vhost keeps them.
        let again = AccessDefinitions::parse(r#"{"vhosts":[{"name":"a_v1"}]}"#).unwrap();
        apply(&again, &access).unwrap();
        assert_eq!(access.vhost_limits("a_v1").max_connections, Some(2));
    }

    #[test]
    fn a_password_and_a_hash_together_are_refused() {
        let defs = AccessDefinitions::parse(
            r#"{"users":[{"name":"a","password":"x","password_hash":"","tags":[]}]}"#,
        )
        .unwrap();
        let err = defs.apply(&registry(), |_, _| true).unwrap_err();
        assert!(err
            .to_string()
            .contains("both_password_and_password_hash_are_provided"));
    }

    #[test]
    fn bad_vhost_limits_import_nothing() {
        let defs = AccessDefinitions::parse(
            r#"{"vhosts":[{"name":"v"}],
              "parameters":[{"component":"vhost-limits","name":"limits","vhost":"v",
                  "value":{"max-connections":"many"}}]}"#,
        )
        .unwrap();
        let access = registry();
        assert!(apply(&defs, &access).is_err());
        assert!(access.vhost_settings("v").is_none());
    }
}
