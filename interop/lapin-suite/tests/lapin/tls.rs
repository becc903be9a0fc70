//! AMQPS with lapin against each broker's TLS listener (the lapin counterpart of
//! `interop/tests/test_tls.py`): publish and consume over TLS 1.2 and 1.3, EXTERNAL login as
//! the client certificate's DN, an unknown CA's certificate refused. interop/run makes the CA
//! and certificates (INTEROP_TLS_DIR, INTEROP_TLS_CLIENT_DN) and starts the listeners
//! (WARREN_TLS_URL, RABBITMQ_TLS_URL); a broker under test without its TLS URL fails here.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::PathBuf;
use warren_testkit::tls::{
    assert_user_is, client_config, lapin_tls, round_trip, Identity, TLS_VERSIONS,
};
use warren_testkit::{on_each_broker, within, Broker};

fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().to_owned(),
        _ => panic!("{name} is not set: run interop/run, which starts the TLS listeners"),
    }
}

/// The broker's amqps:// URL.
fn tls_url(broker: &Broker) -> String {
    env(&format!("{}_TLS_URL", broker.name.to_uppercase()))
}

/// The run's certificates: the CA's, and the identity in `<name>.pem` / `<name>_key.pem`.
struct Certs(PathBuf);

impl Certs {
    fn new() -> Certs {
        Certs(PathBuf::from(env("INTEROP_TLS_DIR")))
    }

    fn read(&self, file: &str) -> String {
        let path = self.0.join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn identity(&self, name: &str) -> Identity {
        let cert = self.read(&format!("{name}.pem"));
        Identity::from_pem(&cert, &self.read(&format!("{name}_key.pem")))
    }

    fn config(
        &self,
        identity: Option<&str>,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> rustls::ClientConfig {
        let ca = CertificateDer::from_pem_slice(self.read("ca.pem").as_bytes()).expect("ca.pem");
        client_config(&ca, identity.map(|n| self.identity(n)).as_ref(), version)
    }
}

#[tokio::test]
#[ignore = "needs WARREN_TLS_URL/RABBITMQ_TLS_URL: run via interop/run"]
async fn publish_and_consume_over_tls_1_2_and_1_3() {
    on_each_broker(|broker: Broker| async move {
        let certs = Certs::new();
        for version in TLS_VERSIONS {
            let config = certs.config(Some("client"), version);
            let conn = within("lapin over TLS", lapin_tls(&tls_url(&broker), config))
                .await
                .unwrap_or_else(|e| panic!("{version:?}: {e}"));
            round_trip(&conn, "tls").await;
            warren_testkit::close_connection(&conn).await;
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_TLS_URL/RABBITMQ_TLS_URL: run via interop/run"]
async fn external_login_is_the_certificate_dn() {
    on_each_broker(|broker: Broker| async move {
        let certs = Certs::new();
        let mut uri: lapin::uri::AMQPUri = tls_url(&broker).parse().unwrap();
        uri.authority.userinfo = Default::default();
        let url = format!(
            "amqps://{}:{}/%2F?auth_mechanism=external",
            uri.authority.host, uri.authority.port
        );
        for version in TLS_VERSIONS {
            let config = certs.config(Some("client"), version);
            let conn = within("EXTERNAL login", lapin_tls(&url, config))
                .await
                .unwrap_or_else(|e| panic!("{version:?}: {e}"));
            round_trip(&conn, "external").await;
            assert_user_is(&conn, &env("INTEROP_TLS_CLIENT_DN")).await;
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_TLS_URL/RABBITMQ_TLS_URL: run via interop/run"]
async fn an_unknown_ca_certificate_is_refused() {
    on_each_broker(|broker: Broker| async move {
        let certs = Certs::new();
        for version in TLS_VERSIONS {
            let config = certs.config(Some("untrusted"), version);
            let refused = within("the refusal", lapin_tls(&tls_url(&broker), config)).await;
            assert!(
                refused.is_err(),
                "{version:?}: an unknown CA's certificate was accepted"
            );
        }
    })
    .await;
}
