//! What the management API needs beyond objects: HTTP Basic logins against the broker's users,
//! the node's name and listeners, and definitions imports (the access sections; the topology
//! sections are the topology room's).

use super::{Admin, ListenerInfo, UserInfo};
use crate::access::definitions::AccessDefinitions;
use crate::access::permissions::Permission;
use crate::error::{AmqpError, AmqpResult};

impl Admin {
    /// The user if `password` is theirs (empty passwords never match, as in RabbitMQ).
    pub fn authenticate(&self, user: &str, password: &str) -> Option<UserInfo> {
        self.broker
            .access()
            .check_password(user, password)
            .map(|u| super::access::user_info(&u))
    }

    /// `warren@HOSTNAME`, in the shape of RabbitMQ's `rabbit@HOSTNAME` node names.
    pub fn node_name(&self) -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        format!("warren@{host}")
    }

    /// The AMQP and AMQPS listeners.
    pub fn listeners(&self) -> Vec<ListenerInfo> {
        self.listeners.to_vec()
    }

    /// `management.tcp.port`.
    pub fn management_port(&self) -> u16 {
        self.broker.config.management_port
    }

    /// `prometheus.tcp.port`.
    pub fn prometheus_port(&self) -> u16 {
        self.broker.config.prometheus_port
    }

    /// `management.ssl.port` and the rustls configuration built from `management.ssl.*`, if
    /// the management API is also served over HTTPS. Errors name the key and the file.
    pub fn management_https(&self) -> std::io::Result<Option<(u16, rustls::ServerConfig)>> {
        let c = &self.broker.config;
        https(c.management_ssl_port, &c.management_tls, "management.ssl")
    }

    /// `prometheus.ssl.port` and its rustls configuration, as for the management API.
    pub fn prometheus_https(&self) -> std::io::Result<Option<(u16, rustls::ServerConfig)>> {
        let c = &self.broker.config;
        https(c.prometheus_ssl_port, &c.prometheus_tls, "prometheus.ssl")
    }

    /// `management.enabled`: whether the binary starts the management API.
    pub fn management_enabled(&self) -> bool {
        self.broker.config.management_enabled
    }

    /// Imports the users, vhosts, permissions, topic permissions, vhost limits and policies of a
    /// RabbitMQ definitions JSON, all or nothing: a bad entry is 406 with its reason and
    /// changes nothing.
    pub fn import_access_definitions(&self, json: &str) -> AmqpResult<()> {
        let defs = AccessDefinitions::parse(json)
            .map_err(|e| AmqpError::precondition_failed(e.to_string()))?;
        self.broker
            .import_definitions(&defs)
            .map_err(|e| AmqpError::precondition_failed(e.to_string()))
    }

    /// Whether `user` holds `permission` on the resource `name` of `vhost`, as the AMQP
    /// checks decide it (the management API acts for its caller; RabbitMQ runs those
    /// requests through an AMQP connection as that user). The default exchange is "".
    pub fn user_allows(&self, user: &str, vhost: &str, permission: Permission, name: &str) -> bool {
        let name = if name.is_empty() { "amq.default" } else { name };
        self.broker
            .access()
            .permissions(user, vhost)
            .is_some_and(|p| p.allows(permission, name))
    }
}

fn https(
    port: Option<u16>,
    options: &crate::config::TlsOptions,
    prefix: &str,
) -> std::io::Result<Option<(u16, rustls::ServerConfig)>> {
    port.map(|port| Ok((port, crate::tls::server_config_named(options, prefix)?)))
        .transpose()
}
