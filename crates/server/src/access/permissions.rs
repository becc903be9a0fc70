//! Permissions as RabbitMQ's internal backend applies them: per user per vhost, three regular
//! expressions (configure, write, read) matched unanchored against a resource name, an empty
//! pattern matching nothing; and topic permissions, per exchange, whose patterns may name
//! `{username}`, `{vhost}` and `{client_id}` and are matched against routing keys.

use crate::config::PermissionPatterns;
use regex::Regex;

/// Which of the three permissions an operation needs (RabbitMQ's `configure | write | read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Configure,
    Write,
    Read,
}

impl Permission {
    /// The word RabbitMQ's refusal texts use.
    pub fn word(self) -> &'static str {
        match self {
            Permission::Configure => "configure",
            Permission::Write => "write",
            Permission::Read => "read",
        }
    }
}

/// One user's compiled permissions in one vhost.
#[derive(Debug, Clone)]
pub struct Permissions {
    patterns: PermissionPatterns,
    configure: Option<Regex>,
    write: Option<Regex>,
    read: Option<Regex>,
}

/// A pattern that is not a valid regular expression (RabbitMQ refuses to set it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regular expression '{pattern}': {reason}")]
pub struct BadPattern {
    pub pattern: String,
    pub reason: String,
}

/// Compiles one pattern; the empty pattern matches nothing (RabbitMQ special-cases it).
fn compile(pattern: &str) -> Result<Option<Regex>, BadPattern> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(pattern).map(Some).map_err(|e| BadPattern {
        pattern: pattern.to_string(),
        reason: e.to_string(),
    })
}

impl Permissions {
    pub fn new(patterns: PermissionPatterns) -> Result<Permissions, BadPattern> {
        Ok(Permissions {
            configure: compile(&patterns.configure)?,
            write: compile(&patterns.write)?,
            read: compile(&patterns.read)?,
            patterns,
        })
    }

    pub fn patterns(&self) -> &PermissionPatterns {
        &self.patterns
    }

    /// Whether `name` (a queue or exchange name) may be used for `permission`.
    pub fn allows(&self, permission: Permission, name: &str) -> bool {
        let re = match permission {
            Permission::Configure => &self.configure,
            Permission::Write => &self.write,
            Permission::Read => &self.read,
        };
        re.as_ref().is_some_and(|re| re.is_match(name))
    }
}

/// One user's topic permission on one exchange of one vhost: the patterns as set, with the
/// variables still in them (they are expanded per connection, `{client_id}` being the
/// connection's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPermission {
    pub exchange: String,
    pub write: String,
    pub read: String,
}

/// Values for the variables a topic permission pattern may name.
#[derive(Debug, Clone, Copy)]
pub struct TopicVariables<'a> {
    pub username: &'a str,
    pub vhost: &'a str,
    pub client_id: Option<&'a str>,
}

impl TopicPermission {
    /// Whether `routing_key` may be used for `permission` (Write for publishing, Read for
    /// binding) under `vars`. Configure is not a topic permission: always allowed.
    pub fn allows(&self, permission: Permission, routing_key: &str, vars: TopicVariables) -> bool {
        let pattern = match permission {
            Permission::Write => &self.write,
            Permission::Read => &self.read,
            Permission::Configure => return true,
        };
        let expanded = expand(pattern, vars);
        match compile(&expanded) {
            Ok(Some(re)) => re.is_match(routing_key),
            _ => false,
        }
    }
}

/// Replaces `{username}`, `{vhost}` and `{client_id}` with their values, regex-escaped so a
/// user name with a `.` matches only itself.
fn expand(pattern: &str, vars: TopicVariables) -> String {
    let mut out = pattern.replace("{username}", &regex::escape(vars.username));
    out = out.replace("{vhost}", &regex::escape(vars.vhost));
    if let Some(id) = vars.client_id {
        out = out.replace("{client_id}", &regex::escape(id));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(c: &str, w: &str, r: &str) -> Permissions {
        Permissions::new(PermissionPatterns {
            configure: c.into(),
            write: w.into(),
            read: r.into(),
        })
        .unwrap()
    }

    #[test]
    fn patterns_match_unanchored_and_empty_matches_nothing() {
        let p = perms("^orders", "", ".*");
        assert!(p.allows(Permission::Configure, "orders.q"));
        assert!(!p.allows(Permission::Configure, "my.orders"));
        assert!(!p.allows(Permission::Write, "orders"));
        assert!(!p.allows(Permission::Write, ""));
        assert!(p.allows(Permission::Read, ""));
        let unanchored = perms("ord", "", "");
        assert!(unanchored.allows(Permission::Configure, "my.orders"));
    }

    #[test]
    fn a_bad_pattern_is_refused() {
        let err = Permissions::new(PermissionPatterns {
            configure: "(".into(),
            write: ".*".into(),
            read: ".*".into(),
        })
        .unwrap_err();
        assert_eq!(err.pattern, "(");
    }

    #[test]
    fn topic_patterns_expand_variables() {
        let t = TopicPermission {
            exchange: "amq.topic".into(),
            write: "^{username}\\.".into(),
            read: "^{vhost}-{client_id}$".into(),
        };
        let vars = TopicVariables {
            username: "a.b",
            vhost: "v",
            client_id: Some("c1"),
        };
        assert!(t.allows(Permission::Write, "a.b.x", vars));
        assert!(
            !t.allows(Permission::Write, "aXb.x", vars),
            "the name is escaped"
        );
        assert!(t.allows(Permission::Read, "v-c1", vars));
        assert!(!t.allows(Permission::Read, "v-c2", vars));
    }
}
