//! TLS for the tests: a CA, a server certificate and client certificates made at test time
//! (rcgen), rustls client configurations that trust only that CA, and lapin connections over
//! TLS through lapin's own TCP/TLS layer (amq-protocol-tcp with rustls) with a chosen
//! configuration, so a test can pin the protocol version.

use lapin::options::BasicPublishOptions;
use lapin::tcp::{AsyncTcpStream, RustlsConnector};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use std::path::PathBuf;
use warren_server::config::TlsOptions;

/// The DN of the trusted client certificate, as RabbitMQ formats it (last RDN first).
pub const CLIENT_DN: &str = "CN=client-a,O=Warren Tests";

/// Both versions a listener offers by default, for tests that run once per version.
pub const TLS_VERSIONS: [&SupportedProtocolVersion; 2] =
    [&rustls::version::TLS12, &rustls::version::TLS13];

/// A certificate and its key, as the client presents them (DER for rustls, PEM for clients
/// that take files).
pub struct Identity {
    pub cert: CertificateDer<'static>,
    pub key: PrivatePkcs8KeyDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A CA, the broker's certificate (localhost and 127.0.0.1), a client certificate from the CA
/// (subject [`CLIENT_DN`]) and one with the same subject from a CA the broker does not know;
/// the broker's files in a temporary directory that lives as long as this value.
pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca: CertificateDer<'static>,
    pub ca_pem: String,
    pub cafile: PathBuf,
    pub certfile: PathBuf,
    pub keyfile: PathBuf,
    pub client: Identity,
    pub untrusted: Identity,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn(&[(DnType::CommonName, name)]);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    (params.self_signed(&key).unwrap(), key)
}

fn dn(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (t, v) in parts {
        dn.push(t.clone(), *v);
    }
    dn
}

fn client_cert(issuer: &(rcgen::Certificate, KeyPair)) -> Identity {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn(&[
        (DnType::OrganizationName, "Warren Tests"),
        (DnType::CommonName, "client-a"),
    ]);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer.0, &issuer.1).unwrap();
    Identity {
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

impl Identity {
    /// An identity from PEM text (a certificate, and its key in PKCS#8).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Identity {
        Identity {
            cert: CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("a PEM certificate"),
            key: PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).expect("a PKCS#8 key"),
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        }
    }
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let authority = ca("Warren Test CA");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name = dn(&[(DnType::CommonName, "localhost")]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().unwrap();
        let server = params
            .signed_by(&server_key, &authority.0, &authority.1)
            .unwrap();
        let file = |name: &str, pem: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        Pki {
            ca: authority.0.der().clone(),
            ca_pem: authority.0.pem(),
            cafile: file("ca.pem", authority.0.pem()),
            certfile: file("server.pem", server.pem()),
            keyfile: file("server_key.pem", server_key.serialize_pem()),
            client: client_cert(&authority),
            untrusted: client_cert(&ca("Unknown CA")),
            _dir: dir,
        }
    }

    /// The broker's TLS options with these files.
    pub fn options(&self, verify_peer: bool, fail_if_no_peer_cert: bool) -> TlsOptions {
        TlsOptions {
            cacertfile: Some(self.cafile.clone()),
            certfile: Some(self.certfile.clone()),
            keyfile: Some(self.keyfile.clone()),
            verify_peer,
            fail_if_no_peer_cert,
            versions: Vec::new(),
        }
    }

    /// A client configuration trusting only this CA, speaking only `version`.
    pub fn client_config(
        &self,
        identity: Option<&Identity>,
        version: &'static SupportedProtocolVersion,
    ) -> ClientConfig {
        client_config(&self.ca, identity, version)
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

/// A client configuration trusting only `ca`, speaking only `version`, presenting `identity`.
pub fn client_config(
    ca: &CertificateDer<'static>,
    identity: Option<&Identity>,
    version: &'static SupportedProtocolVersion,
) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let builder =
        ClientConfig::builder_with_protocol_versions(&[version]).with_root_certificates(roots);
    match identity {
        Some(id) => builder
            .with_client_auth_cert(
                vec![id.cert.clone()],
                PrivateKeyDer::Pkcs8(id.key.clone_key()),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}

/// A lapin connection to an `amqps://` URI over a TLS session made with `config` (the URI's
/// host is the name checked against the broker's certificate). lapin's custom-transport entry
/// point with its own TCP/TLS stream type: the AMQP side is lapin's as for any connection.
pub async fn lapin_tls(uri: &str, config: ClientConfig) -> lapin::Result<Connection> {
    let uri: AMQPUri = uri.parse().expect("an amqps:// URL");
    let connector = RustlsConnector::from(config);
    let runtime = lapin::runtime::default_runtime()?;
    Connection::connector(
        uri,
        runtime,
        async move |uri: AMQPUri, runtime| {
            let host = uri.authority.host.clone();
            let addr = runtime.to_socket_addrs((host.clone(), uri.authority.port));
            let tcp = AsyncTcpStream::connect(&runtime, addr).await?;
            Ok(tcp.into_rustls(&connector, &host).await?)
        },
        ConnectionProperties::default(),
    )
    .await
}

/// Over `conn`: a confirmed publish of a small and a large (many TLS records) message to an
/// exclusive queue, then a consumer that gets both, whole and in order.
pub async fn round_trip(conn: &Connection, role: &str) {
    let ch = crate::confirm_channel(conn).await;
    let queue = crate::exclusive_queue(&ch, role).await;
    let large: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    crate::publish(&ch, "", &queue, b"small").await;
    crate::publish(&ch, "", &queue, &large).await;
    let mut consumer = crate::consume_no_ack(&ch, &queue, "").await;
    assert_eq!(crate::next(&mut consumer).await.data, b"small");
    assert_eq!(crate::next(&mut consumer).await.data, large);
}

/// The broker's idea of who logged in: a publish claiming `user` as user_id is accepted, one
/// claiming someone else closes the channel with RabbitMQ's 406 naming `user`.
pub async fn assert_user_is(conn: &Connection, user: &str) {
    let ch = crate::confirm_channel(conn).await;
    let queue = crate::exclusive_queue(&ch, "user-id").await;
    let claim = |who: &str| BasicProperties::default().with_user_id(who.into());
    crate::publish_props(&ch, "", &queue, b"mine", claim(user)).await;
    let confirm = ch
        .basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions::default(),
            b"not mine",
            claim("guest"),
        )
        .await
        .expect("basic.publish written");
    let closed = crate::within("the channel close", confirm).await;
    let err = closed.expect_err("a publish with someone else's user_id was confirmed");
    assert_eq!(
        crate::amqp_error(&err),
        (
            406,
            format!(
                "PRECONDITION_FAILED - user_id property set to 'guest' but authenticated user \
                 was '{user}'"
            )
        )
    );
}
