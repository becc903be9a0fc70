//! The HTTPS listeners' keys, as RabbitMQ 3.10.8's rabbitmq_management and rabbitmq_prometheus
//! schemas name them: `management.ssl.*` and `prometheus.ssl.*` (port, PEM files, client
//! certificate policy, versions). Each set fills a `TlsOptions` the TLS room turns into the
//! same rustls configuration AMQPS uses (`crate::tls`); a port makes the listener (in addition to the plain
//! HTTP one, as RabbitMQ).

use super::keys::{family, one, readable_file, tls_version, verify, Group, Setting};
use super::values::{boolean, integer};
use super::SettingsError;

/// The keys of one HTTPS listener: `$prefix.port` sets `$port`, the rest `$tls`.
macro_rules! https_listener {
    ($prefix:literal, $port:ident, $tls:ident) => {
        vec![
            one(&[concat!($prefix, ".port")], |c, g| {
                c.$port = Some(g.entry().parse(|s| integer(s, 0, 65_535))? as u16);
                Ok(())
            }),
            one(&[concat!($prefix, ".cacertfile")], |c, g| {
                c.$tls.cacertfile = Some(readable_file(g.entry())?);
                Ok(())
            }),
            one(&[concat!($prefix, ".certfile")], |c, g| {
                c.$tls.certfile = Some(readable_file(g.entry())?);
                Ok(())
            }),
            one(&[concat!($prefix, ".keyfile")], |c, g| {
                c.$tls.keyfile = Some(readable_file(g.entry())?);
                Ok(())
            }),
            one(&[concat!($prefix, ".verify")], |c, g| {
                c.$tls.verify_peer = g.entry().parse(verify)?;
                Ok(())
            }),
            one(&[concat!($prefix, ".fail_if_no_peer_cert")], |c, g| {
                c.$tls.fail_if_no_peer_cert = g.entry().parse(boolean)?;
                Ok(())
            }),
            family(&[concat!($prefix, ".versions")], |c, g| {
                c.$tls.versions = versions(g)?;
                Ok(())
            }),
        ]
    };
}

/// Both listeners' keys.
pub(super) fn settings() -> Vec<Setting> {
    let mut out = https_listener!("management.ssl", management_ssl_port, management_tls);
    out.extend(https_listener!(
        "prometheus.ssl",
        prometheus_ssl_port,
        prometheus_tls
    ));
    out
}

fn versions(g: &Group) -> Result<Vec<crate::config::TlsVersion>, SettingsError> {
    g.values()?
        .into_iter()
        .map(|(v, e)| e.parse_text(&v, tls_version))
        .collect()
}
