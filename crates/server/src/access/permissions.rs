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
/// variables still in them (they are expanded per connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPermission {
    pub exchange: String,
    pub write: String,
    pub read: String,
}

/// Values for the variables a topic permission pattern may name. RabbitMQ 3.10 fills in
/// `{client_id}` only for MQTT (and other plugin) connections: an AMQP 0-9-1 connection passes
/// `None`, and the placeholder then stays in the pattern as literal text.
#[derive(Debug, Clone, Copy)]
pub struct TopicVariables<'a> {
    pub username: &'a str,
    pub vhost: &'a str,
    pub client_id: Option<&'a str>,
}

impl TopicPermission {
    /// Whether `routing_key` may be used for `permission` (Write for publishing, Read for
    /// binding) under `vars`. Compiles the pattern: checks made often go through
    /// [`TopicPermission::compile`].
    pub fn allows(&self, permission: Permission, routing_key: &str, vars: TopicVariables) -> bool {
        self.compile(vars)
            .allows(permission, routing_key.as_bytes())
    }

    /// The patterns with `vars` expanded, compiled once for many checks.
    pub fn compile(&self, vars: TopicVariables) -> CompiledTopicPermission {
        CompiledTopicPermission {
            exchange: self.exchange.clone(),
            write: compile_topic(&self.write, vars),
            read: compile_topic(&self.read, vars),
        }
    }
}

/// A topic permission ready to match routing keys (bytes, as RabbitMQ matches binaries). A
/// pattern that does not compile after expansion matches nothing.
#[derive(Debug, Clone)]
pub struct CompiledTopicPermission {
    pub exchange: String,
    write: Option<regex::bytes::Regex>,
    read: Option<regex::bytes::Regex>,
}

impl CompiledTopicPermission {
    /// Configure is not a topic permission: always allowed.
    pub fn allows(&self, permission: Permission, routing_key: &[u8]) -> bool {
        let re = match permission {
            Permission::Write => &self.write,
            Permission::Read => &self.read,
            Permission::Configure => return true,
        };
        re.as_ref().is_some_and(|re| re.is_match(routing_key))
    }
}

/// RabbitMQ turns an empty topic pattern into `^$` (only the empty routing key) before it
/// expands the variables.
fn compile_topic(pattern: &str, vars: TopicVariables) -> Option<regex::bytes::Regex> {
    let pattern = if pattern.is_empty() { "^$" } else { pattern };
    regex::bytes::Regex::new(&literal_braces(&expand(pattern, vars))).ok()
}

/// Replaces `{username}`, `{vhost}` and (when given) `{client_id}` with their values, as
/// RabbitMQ does: plain text substitution, the values not escaped (a `.` in a user name is
/// then a regex `.`, matching any character, in RabbitMQ too).
fn expand(pattern: &str, vars: TopicVariables) -> String {
    let mut out = pattern.replace("{username}", vars.username);
    out = out.replace("{vhost}", vars.vhost);
    if let Some(id) = vars.client_id {
        out = out.replace("{client_id}", id);
    }
    out
}

/// PCRE (RabbitMQ's `re`) reads a `{` that does not start a counted repetition (`{2}`,
/// `{2,}`, `{2,5}`) as a literal brace, so an unexpanded `{client_id}` matches itself; the
/// `regex` crate refuses such a pattern. Escaping those braces gives PCRE's meaning.
fn literal_braces(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        let take = match c {
            '\\' => 1 + rest[1..].chars().next().map_or(0, char::len_utf8),
            '{' => match repetition_len(rest) {
                Some(len) => len,
                None => {
                    out.push_str("\\{");
                    rest = &rest[1..];
                    continue;
                }
            },
            '}' => {
                out.push_str("\\}");
                rest = &rest[1..];
                continue;
            }
            other => other.len_utf8(),
        };
        out.push_str(&rest[..take]);
        rest = &rest[take..];
    }
    out
}

/// The length of `{n}`, `{n,}` or `{n,m}` at the start of `s`, if it starts with one.
fn repetition_len(s: &str) -> Option<usize> {
    let end = s.find('}')?;
    let (first, second) = match s[1..end].split_once(',') {
        Some((a, b)) => (a, Some(b)),
        None => (&s[1..end], None),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    (!first.is_empty() && digits(first) && second.is_none_or(digits)).then_some(end + 1)
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
            t.allows(Permission::Write, "aXb.x", vars),
            "the name is not escaped: RabbitMQ substitutes it as text"
        );
        assert!(t.allows(Permission::Read, "v-c1", vars));
        assert!(!t.allows(Permission::Read, "v-c2", vars));
    }

    #[test]
    fn without_a_client_id_the_placeholder_is_literal_text() {
        let t = TopicPermission {
            exchange: "x".into(),
            write: "^{client_id}$".into(),
            read: "^a{2}b{1,}c{1,2}$".into(),
        };
        let vars = TopicVariables {
            username: "u",
            vhost: "/",
            client_id: None,
        };
        assert!(t.allows(Permission::Write, "{client_id}", vars));
        assert!(!t.allows(Permission::Write, "c1", vars));
        assert!(
            t.allows(Permission::Read, "aabbcc", vars),
            "repetitions stay"
        );
        assert!(!t.allows(Permission::Read, "abc", vars));
    }

    #[test]
    fn an_empty_topic_pattern_matches_only_the_empty_key() {
        let t = TopicPermission {
            exchange: "x".into(),
            write: String::new(),
            read: String::new(),
        };
        let vars = TopicVariables {
            username: "u",
            vhost: "/",
            client_id: None,
        };
        let compiled = t.compile(vars);
        assert!(compiled.allows(Permission::Write, b""));
        assert!(!compiled.allows(Permission::Write, b"a"));
        assert!(compiled.allows(Permission::Configure, b"a"));
    }

    #[test]
    fn literal_braces_escape_only_what_pcre_reads_as_text() {
        assert_eq!(literal_braces("^{x}$"), "^\\{x\\}$");
        assert_eq!(literal_braces("a{2,3}\\{"), "a{2,3}\\{");
        assert_eq!(literal_braces("{,2}é}"), "\\{,2\\}é\\}");
    }
}
