//! TLS for the broker's listeners: the rustls server configuration built once at start from
//! `ssl_options` (AMQPS) or `management.ssl` / `prometheus.ssl` (HTTPS), and what a verified
//! client certificate says about its owner ([`subject`]: RabbitMQ's DN and CN formats).
//!
//! Like RabbitMQ: the certificate chain and key come from PEM files; `verify_peer` asks clients
//! for a certificate and checks it against `cacertfile`, and `fail_if_no_peer_cert` makes it
//! required. A file that cannot be read, or holds no usable item, stops the start, naming it.

pub mod subject;

use crate::config::{TlsOptions, TlsVersion};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the TLS layer knows of a client once its handshake is done.
#[derive(Debug, Clone)]
pub struct TlsPeer {
    /// The client's certificate (its end-entity one), already verified against the CA; `None`
    /// when the client sent none (allowed unless `fail_if_no_peer_cert`).
    pub certificate: Option<CertificateDer<'static>>,
}

/// The rustls configuration of the AMQPS listeners, from `ssl_options`. Errors name the
/// setting and the file.
pub fn server_config(options: &TlsOptions) -> io::Result<ServerConfig> {
    server_config_named(options, "ssl_options")
}

/// The rustls configuration of a TLS listener whose options are the keys under `prefix`
/// (`ssl_options`, `management.ssl`, `prometheus.ssl`): errors name those keys.
pub fn server_config_named(options: &TlsOptions, prefix: &str) -> io::Result<ServerConfig> {
    let key_name = |k: &str| format!("{prefix}.{k}");
    let certfile = required(&options.certfile, &key_name("certfile"))?;
    let keyfile = required(&options.keyfile, &key_name("keyfile"))?;
    let chain = certificates(certfile, &key_name("certfile"))?;
    let key = PrivateKeyDer::from_pem_file(keyfile)
        .map_err(|e| invalid(format!("{prefix}.keyfile {}: {e}", keyfile.display())))?;
    // The process's crypto provider: ring, the one rustls is built with here.
    let builder = ServerConfig::builder_with_protocol_versions(&versions(&options.versions));
    let builder = if options.verify_peer {
        let cafile = required(&options.cacertfile, &key_name("cacertfile"))?;
        let mut roots = RootCertStore::empty();
        for ca in certificates(cafile, &key_name("cacertfile"))? {
            roots
                .add(ca)
                .map_err(|e| invalid(format!("{prefix}.cacertfile {}: {e}", cafile.display())))?;
        }
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots));
        let verifier = if options.fail_if_no_peer_cert {
            verifier
        } else {
            verifier.allow_unauthenticated()
        };
        let verifier = verifier
            .build()
            .map_err(|e| invalid(format!("{prefix}.cacertfile {}: {e}", cafile.display())))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    builder.with_single_cert(chain, key).map_err(|e| {
        invalid(format!(
            "{prefix}.certfile {} and {prefix}.keyfile {}: {e}",
            certfile.display(),
            keyfile.display()
        ))
    })
}

/// `ssl_options.versions`; none configured means TLS 1.2 and 1.3 (RabbitMQ 3.10's default on
/// a current Erlang).
fn versions(configured: &[TlsVersion]) -> Vec<&'static SupportedProtocolVersion> {
    let all = [TlsVersion::Tls13, TlsVersion::Tls12];
    let wanted = if configured.is_empty() {
        &all[..]
    } else {
        configured
    };
    wanted
        .iter()
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect()
}

fn certificates(path: &Path, setting: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let bad = |e: &dyn std::fmt::Display| invalid(format!("{setting} {}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in the file"));
    }
    Ok(certs)
}

fn required<'a>(path: &'a Option<PathBuf>, setting: &str) -> io::Result<&'a Path> {
    path.as_deref()
        .ok_or_else(|| invalid(format!("a TLS listener needs {setting}")))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    #[test]
    fn builds_from_pem_files() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(dir.path());
        let options = TlsOptions {
            certfile: Some(cert.clone()),
            keyfile: Some(key),
            cacertfile: Some(cert),
            verify_peer: true,
            fail_if_no_peer_cert: true,
            versions: vec![TlsVersion::Tls12],
        };
        server_config(&options).expect("a valid configuration");
    }

    #[test]
    fn errors_name_the_setting_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(dir.path());
        let missing = dir.path().join("missing.pem");
        let options = TlsOptions {
            certfile: Some(missing.clone()),
            keyfile: Some(key.clone()),
            ..TlsOptions::default()
        };
        let err = server_config(&options).unwrap_err().to_string();
        assert!(
            err.contains("ssl_options.certfile") && err.contains("missing.pem"),
            "{err}"
        );

        // A key file with no key in it.
        let options = TlsOptions {
            certfile: Some(cert.clone()),
            keyfile: Some(cert.clone()),
            ..TlsOptions::default()
        };
        let err = server_config(&options).unwrap_err().to_string();
        assert!(
            err.contains("ssl_options.keyfile") && err.contains("cert.pem"),
            "{err}"
        );

        let options = TlsOptions {
            certfile: Some(cert),
            keyfile: Some(key),
            verify_peer: true,
            ..TlsOptions::default()
        };
        let err = server_config(&options).unwrap_err().to_string();
        assert!(err.contains("ssl_options.cacertfile"), "{err}");
    }
}
