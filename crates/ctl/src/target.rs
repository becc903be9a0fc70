//! Which management API to talk to and as whom. Each part (host, port, user, password) comes
//! from the first that gives it: the flags (--host, --port, --username, --password, then the
//! URL or node name in --node), the `WARREN_CTL_URL` variable, and last the settings the broker
//! itself reads (crates/server/src/settings: rabbitmq.conf, WARREN_* and RABBITMQ_DEFAULT_USER /
//! RABBITMQ_DEFAULT_PASS, `management.tcp.port`), so that inside a container set up for the
//! broker `rabbitmq-diagnostics -q ping` needs no options.

use crate::cli::Global;
use crate::error::{CtlError, CtlResult, EX_USAGE};
use std::net::IpAddr;
use std::time::Duration;
use url::Url;
use warren_server::settings::{self, Flags};

/// The variable naming the management API (`http://user:pass@host:port`).
pub const URL_VAR: &str = "WARREN_CTL_URL";

#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port/`, no credentials.
    pub base: Url,
    pub username: String,
    pub password: String,
    pub timeout: Duration,
}

/// What one source says; `None` leaves the part to a lower source.
#[derive(Debug, Default)]
struct Parts {
    host: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<String>,
}

impl Parts {
    fn or(self, lower: Parts) -> Parts {
        Parts {
            host: self.host.or(lower.host),
            port: self.port.or(lower.port),
            username: self.username.or(lower.username),
            password: self.password.or(lower.password),
        }
    }

    /// `http://user:pass@host:port` or a node name `rabbit@host`.
    fn from_node(node: &str) -> CtlResult<Parts> {
        if !node.contains("://") {
            let host = node.rsplit_once('@').map_or(node, |(_, h)| h);
            return Ok(Parts {
                host: Some(host.to_string()),
                ..Parts::default()
            });
        }
        let url = Url::parse(node)
            .map_err(|e| CtlError::new(EX_USAGE, format!("'{node}' is not a URL: {e}")))?;
        if url.scheme() != "http" {
            return Err(CtlError::new(
                EX_USAGE,
                format!("'{node}': only http:// management URLs are supported"),
            ));
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|v| v.into_owned())
        };
        Ok(Parts {
            host: url.host_str().map(str::to_string),
            port: url.port(),
            username: Some(url.username())
                .filter(|u| !u.is_empty())
                .and_then(decode),
            password: url.password().and_then(decode),
        })
    }

    fn from_flags(g: &Global) -> Parts {
        Parts {
            host: g.host.clone(),
            port: g.port,
            username: g.username.clone(),
            password: g.password.clone(),
        }
    }

    /// The broker's settings, as `warren` would read them in this environment. Settings it
    /// would refuse leave the defaults (the broker would not be running with them anyway).
    fn from_broker_settings() -> Parts {
        let Ok(s) = settings::load(&Flags::default(), &settings::process_environment()) else {
            return Parts::default();
        };
        let c = s.config;
        // The management API listens on the AMQP listeners' addresses: one of those, unless
        // they are every interface, where loopback reaches it.
        let host = c
            .listen
            .first()
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| match ip {
                IpAddr::V6(v6) => format!("[{v6}]"),
                IpAddr::V4(v4) => v4.to_string(),
            });
        Parts {
            host,
            port: Some(c.management_port),
            username: Some(c.default_user),
            password: Some(c.default_pass),
        }
    }
}

impl Target {
    pub fn resolve(g: &Global) -> CtlResult<Target> {
        let mut parts = Parts::from_flags(g);
        if let Some(node) = &g.node {
            parts = parts.or(Parts::from_node(node)?);
        }
        if let Ok(url) = std::env::var(URL_VAR) {
            if !url.trim().is_empty() {
                parts = parts.or(Parts::from_node(url.trim())?);
            }
        }
        let parts = parts.or(Parts::from_broker_settings());
        let host = parts.host.unwrap_or_else(|| "127.0.0.1".into());
        let port = parts.port.unwrap_or(15672);
        let base = Url::parse(&format!("http://{host}:{port}/"))
            .map_err(|e| CtlError::new(EX_USAGE, format!("bad host '{host}': {e}")))?;
        Ok(Target {
            base,
            username: parts.username.unwrap_or_else(|| "guest".into()),
            password: parts.password.unwrap_or_else(|| "guest".into()),
            timeout: Duration::from_secs(g.timeout.max(1)),
        })
    }

    /// `host:port`, for messages.
    pub fn authority(&self) -> String {
        let host = self.base.host_str().unwrap_or("");
        format!("{host}:{}", self.base.port_or_known_default().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_a_url_or_a_node_name() {
        let p = Parts::from_node("http://ad%40min:p%3Aw@10.0.0.1:15999").unwrap();
        assert_eq!(p.host.as_deref(), Some("10.0.0.1"));
        assert_eq!(p.port, Some(15999));
        assert_eq!(p.username.as_deref(), Some("ad@min"));
        assert_eq!(p.password.as_deref(), Some("p:w"));
        let p = Parts::from_node("rabbit@broker-1").unwrap();
        assert_eq!(p.host.as_deref(), Some("broker-1"));
        assert_eq!(p.port, None);
        assert!(Parts::from_node("https://x").is_err());
    }

    #[test]
    fn a_flag_beats_the_node_url() {
        let flags = Parts {
            port: Some(1),
            ..Parts::default()
        };
        let p = flags.or(Parts::from_node("http://u:p@h:2").unwrap());
        assert_eq!((p.port, p.host.as_deref()), (Some(1), Some("h")));
    }
}
