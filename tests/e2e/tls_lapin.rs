//! AMQPS with lapin: publish and consume over TLS 1.2 and 1.3 (each client speaks only one
//! version, so a session that works is that version), lapin's own certificate options
//! (CA and client identity as PEM), a listener that requires a client certificate refusing a
//! client without one or with an unknown CA's, and EXTERNAL login as the certificate's DN.
//! The CA and certificates are made at test time (warren_testkit::tls, rcgen).

use crate::tls::{external_broker, tls_broker};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::{Connection, ConnectionProperties};
use warren_server::config::CertLoginFrom;
use warren_server::Server;
use warren_testkit::tls::{assert_user_is, lapin_tls, round_trip, Pki, CLIENT_DN, TLS_VERSIONS};
use warren_testkit::within;

/// guest over TLS to the broker's first TLS listener (the certificate names 127.0.0.1).
fn tls_url(server: &Server) -> String {
    format!("amqps://guest:guest@{}/%2f", server.tls_addrs()[0])
}

#[tokio::test]
async fn lapin_publishes_and_consumes_over_tls_1_2_and_1_3() {
    let pki = Pki::new();
    let server = tls_broker(pki.options(true, true), |_| {}).await;
    for version in TLS_VERSIONS {
        let config = pki.client_config(Some(&pki.client), version);
        let conn = within("lapin over TLS", lapin_tls(&tls_url(&server), config))
            .await
            .unwrap_or_else(|e| panic!("{version:?}: {e}"));
        round_trip(&conn, "tls").await;
        conn.close(200, "bye".into())
            .await
            .expect("connection.close");
    }
}

/// How an application connects: lapin's `connect_with_config` with the CA and the client's
/// certificate and key as PEM (its rustls defaults pick the version).
#[tokio::test]
async fn lapin_connect_with_config_presents_the_client_certificate() {
    let pki = Pki::new();
    let server = tls_broker(pki.options(true, true), |_| {}).await;
    let config = OwnedTLSConfig {
        identity: Some(OwnedIdentity::PKCS8 {
            pem: pki.client.cert_pem.clone().into_bytes(),
            key: pki.client.key_pem.clone().into_bytes(),
        }),
        cert_chain: Some(pki.ca_pem.clone()),
    };
    let runtime = lapin::runtime::default_runtime().unwrap();
    let url = tls_url(&server);
    let connect =
        Connection::connect_with_config(&url, ConnectionProperties::default(), config, runtime);
    let conn = within("lapin over TLS", connect).await.expect("connects");
    round_trip(&conn, "tls-config").await;
}

#[tokio::test]
async fn a_required_client_certificate_refuses_lapin_without_one() {
    let pki = Pki::new();
    let server = tls_broker(pki.options(true, true), |_| {}).await;
    let url = tls_url(&server);
    for version in TLS_VERSIONS {
        for identity in [None, Some(&pki.untrusted)] {
            let config = pki.client_config(identity, version);
            let refused = within("the refusal", lapin_tls(&url, config)).await;
            let err = refused.expect_err("connected without a trusted client certificate");
            // A TLS alert (certificate_required, unknown_ca) or the session torn down.
            assert!(err.is_io_error(), "{version:?}: {err}");
        }
    }
    // The listener still serves a client with the CA's certificate.
    let config = pki.client_config(Some(&pki.client), &rustls::version::TLS13);
    let conn = within("lapin over TLS", lapin_tls(&url, config)).await;
    conn.expect("connects with a certificate");
}

#[tokio::test]
async fn external_login_is_the_certificate_dn() {
    let pki = Pki::new();
    let server = external_broker(&pki, CLIENT_DN, CertLoginFrom::DistinguishedName).await;
    let url = format!(
        "amqps://{}/%2f?auth_mechanism=external",
        server.tls_addrs()[0]
    );
    for version in TLS_VERSIONS {
        let config = pki.client_config(Some(&pki.client), version);
        let conn = within("EXTERNAL login", lapin_tls(&url, config))
            .await
            .unwrap_or_else(|e| panic!("{version:?}: {e}"));
        round_trip(&conn, "external").await;
        assert_user_is(&conn, CLIENT_DN).await;
    }
}
