//! SASL mechanisms offered in connection.start, and EXTERNAL: logging in with the TLS client
//! certificate (RabbitMQ's `rabbitmq_auth_mechanism_ssl`).
//!
//! RabbitMQ lists the configured mechanisms in its registry's (name) order, and offers
//! EXTERNAL on every TLS connection, certificate or not, never on a plain one: a client without
//! a certificate is then refused at login, which says more than a failed negotiation. The user
//! name is the certificate subject's DN or CN (`ssl_cert_login_from`); the user must exist, no
//! password is checked. Every refusal is the one refused-login close; the reason is logged.

use crate::access::User;
use crate::broker::Broker;
use crate::config::{CertLoginFrom, Config};
use crate::tls::{subject, TlsPeer};
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::warn;

/// The mechanisms Warren implements, in RabbitMQ's order.
const KNOWN: [&str; 3] = ["AMQPLAIN", "EXTERNAL", "PLAIN"];

/// Whether `mechanism` is offered on this connection.
pub(super) fn offered(config: &Config, tls: bool, mechanism: &str) -> bool {
    (tls || mechanism != "EXTERNAL") && config.auth_mechanisms.iter().any(|m| m == mechanism)
}

/// connection.start's `mechanisms`.
pub(super) fn mechanisms(config: &Config, tls: bool) -> String {
    let offered: Vec<&str> = KNOWN
        .into_iter()
        .filter(|m| offered(config, tls, m))
        .collect();
    offered.join(" ")
}

/// The EXTERNAL user, or `None` (refused; the reason is logged).
pub(super) fn login(broker: &Broker, tls: Option<&TlsPeer>, peer: SocketAddr) -> Option<Arc<User>> {
    let refuse = |reason: &str| {
        warn!(%peer, "EXTERNAL login refused: {reason}");
        None
    };
    let Some(tls) = tls else {
        return refuse("not a TLS-enabled connection");
    };
    let Some(cert) = &tls.certificate else {
        return refuse("connection peer presented no TLS (x.509) certificate");
    };
    // RabbitMQ trusts a certificate's name only where certificates are verified.
    if !broker.config.tls.verify_peer {
        return refuse("TLS configuration is unsafe");
    }
    let name = match broker.config.ssl_cert_login_from {
        CertLoginFrom::DistinguishedName => subject::distinguished_name(cert),
        CertLoginFrom::CommonName => subject::common_name(cert),
    };
    let Some(name) = name else {
        return refuse("no name found");
    };
    let Some(user) = broker.access().user(&name) else {
        return refuse(&format!("user '{name}' - invalid credentials"));
    };
    Some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rabbitmq_order_and_external_only_over_tls() {
        let mut config = Config::default();
        assert_eq!(mechanisms(&config, false), "AMQPLAIN PLAIN");
        assert_eq!(mechanisms(&config, true), "AMQPLAIN PLAIN");
        config.auth_mechanisms = vec!["EXTERNAL".into(), "PLAIN".into(), "AMQPLAIN".into()];
        assert_eq!(mechanisms(&config, false), "AMQPLAIN PLAIN");
        assert_eq!(mechanisms(&config, true), "AMQPLAIN EXTERNAL PLAIN");
        config.auth_mechanisms = vec!["EXTERNAL".into()];
        assert_eq!(mechanisms(&config, true), "EXTERNAL");
        assert!(!offered(&config, false, "EXTERNAL"));
    }
}
