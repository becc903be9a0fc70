//! AMQPS: TLS 1.2 and 1.3 carrying real traffic, client certificates (optional, required,
//! untrusted), EXTERNAL login by DN and by CN, and what a client speaking the wrong protocol
//! on either port gets (a prompt end, nothing else disturbed). The CA and certificates are
//! made at test time (rcgen); the client is tokio-rustls under the test kit's raw AMQP client.

use bytes::BytesMut;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, SupportedProtocolVersion};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use warren_codec::frame::{self, PROTOCOL_HEADER};
use warren_codec::generated::{BasicConsume, BasicPublish, QueueDeclare};
use warren_codec::{
    BasicProperties, ContentHeader, FieldTable, FieldValue, Frame, Method, ShortStr,
};
use warren_server::config::{CertLoginFrom, TlsOptions, TlsVersion};
use warren_server::{Config, Server};
use warren_testkit::tls::{Identity, Pki, CLIENT_DN};
use warren_testkit::{start_broker_with, within, RawClient};

/// A broker with one TLS listener and one plain one.
pub(crate) async fn tls_broker(tls: TlsOptions, tweak: impl FnOnce(&mut Config)) -> Server {
    let mut config = Config {
        tls_listen: vec!["127.0.0.1:0".parse().unwrap()],
        tls,
        ..Config::default()
    };
    tweak(&mut config);
    start_broker_with(config).await
}

async fn connect_tls(
    addr: SocketAddr,
    config: ClientConfig,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

async fn tls_client(
    server: &Server,
    pki: &Pki,
    identity: Option<&Identity>,
    version: &'static SupportedProtocolVersion,
) -> RawClient<TlsStream<TcpStream>> {
    let config = pki.client_config(identity, version);
    let stream = within("TLS handshake", connect_tls(server.tls_addrs()[0], config))
        .await
        .expect("TLS handshake succeeds");
    RawClient::over(stream)
}

/// The broker refused the TLS session: the handshake fails, or (TLS 1.3, where the client is
/// done before the server has checked its certificate) the first read does, and promptly.
async fn assert_tls_refused(server: &Server, config: ClientConfig) {
    let started = Instant::now();
    if let Ok(mut stream) = connect_tls(server.tls_addrs()[0], config).await {
        let _ = stream.write_all(&PROTOCOL_HEADER).await;
        let mut buf = [0u8; 64];
        let read = within("the refusal", stream.read(&mut buf)).await;
        assert!(
            !matches!(read, Ok(n) if n > 0),
            "the broker answered a refused client: {read:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(2), "refused slowly");
}

/// Publishes `body` to queue `queue` on channel 1 in body frames of at most `frame_max`.
async fn publish<S>(c: &mut RawClient<S>, queue: &'static str, body: &[u8])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let publish = Method::BasicPublish(BasicPublish {
        routing_key: ShortStr::from_static(queue),
        ..Default::default()
    });
    let header = ContentHeader::new(body.len() as u64, BasicProperties::default());
    let mut out = BytesMut::new();
    frame::encode_content(1, &publish, &header, body, 131_072, &mut out);
    c.send_bytes(&out).await;
}

/// The body of the next delivery.
async fn next_body<S>(c: &mut RawClient<S>) -> Vec<u8>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (_, deliver) = c.next_method().await.expect("basic.deliver");
    assert!(matches!(deliver, Method::BasicDeliver(_)), "{deliver:?}");
    let Some(Frame::Header { header, .. }) = c.next_frame().await else {
        panic!("expected a content header")
    };
    let mut body = Vec::new();
    while (body.len() as u64) < header.body_size {
        match c.next_frame().await {
            Some(Frame::Body { payload, .. }) => body.extend_from_slice(&payload),
            other => panic!("expected a body frame, got {other:?}"),
        }
    }
    body
}

/// Declares `queue`, publishes a small and a large (multi-record) message, consumes both.
async fn round_trip<S>(c: &mut RawClient<S>, queue: &'static str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    c.open_channel(1).await;
    c.send_method(
        1,
        Method::QueueDeclare(QueueDeclare {
            queue: ShortStr::from_static(queue),
            ..Default::default()
        }),
    )
    .await;
    let (_, ok) = c.next_method().await.expect("queue.declare-ok");
    assert!(matches!(ok, Method::QueueDeclareOk(_)), "{ok:?}");
    let large: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    publish(c, queue, b"small").await;
    publish(c, queue, &large).await;
    c.send_method(
        1,
        Method::BasicConsume(BasicConsume {
            queue: ShortStr::from_static(queue),
            no_ack: true,
            ..Default::default()
        }),
    )
    .await;
    let (_, ok) = c.next_method().await.expect("basic.consume-ok");
    assert!(matches!(ok, Method::BasicConsumeOk(_)), "{ok:?}");
    assert_eq!(next_body(c).await, b"small");
    assert_eq!(next_body(c).await, large);
}

#[tokio::test]
async fn tls_1_2_and_1_3_carry_publish_and_consume() {
    let pki = Pki::new();
    let server = tls_broker(pki.options(false, false), |_| {}).await;
    for (version, queue) in [
        (&rustls::version::TLS12, "tls12-q"),
        (&rustls::version::TLS13, "tls13-q"),
    ] {
        let mut c = tls_client(&server, &pki, None, version).await;
        let negotiated = c.stream.get_ref().1.protocol_version();
        assert_eq!(negotiated, Some(version.version));
        c.handshake().await;
        round_trip(&mut c, queue).await;
    }
}

#[tokio::test]
async fn configured_versions_limit_the_listener() {
    let pki = Pki::new();
    let mut options = pki.options(false, false);
    options.versions = vec![TlsVersion::Tls13];
    let server = tls_broker(options, |_| {}).await;
    assert_tls_refused(&server, pki.client_config(None, &rustls::version::TLS12)).await;
    let mut c = tls_client(&server, &pki, None, &rustls::version::TLS13).await;
    c.handshake().await;
}

#[tokio::test]
async fn client_certificates_optional_or_required() {
    let pki = Pki::new();
    let optional = tls_broker(pki.options(true, false), |_| {}).await;
    let mut c = tls_client(&optional, &pki, None, &rustls::version::TLS13).await;
    c.handshake().await;
    let mut c = tls_client(&optional, &pki, Some(&pki.client), &rustls::version::TLS12).await;
    c.handshake().await;

    let required = tls_broker(pki.options(true, true), |_| {}).await;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        assert_tls_refused(&required, pki.client_config(None, version)).await;
        let mut c = tls_client(&required, &pki, Some(&pki.client), version).await;
        c.handshake().await;
    }
}

#[tokio::test]
async fn an_untrusted_client_certificate_is_refused() {
    let pki = Pki::new();
    let server = tls_broker(pki.options(true, false), |_| {}).await;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        assert_tls_refused(&server, pki.client_config(Some(&pki.untrusted), version)).await;
    }
}

/// A broker offering EXTERNAL whose only user is `user`.
pub(crate) async fn external_broker(pki: &Pki, user: &str, from: CertLoginFrom) -> Server {
    let user = user.to_string();
    tls_broker(pki.options(true, false), move |c| {
        c.auth_mechanisms = vec!["PLAIN".into(), "AMQPLAIN".into(), "EXTERNAL".into()];
        c.ssl_cert_login_from = from;
        c.default_user = user;
    })
    .await
}

/// Logs in with `mechanism`, asking to be told when the login is refused (as pika does).
async fn login_failure_close<S>(c: &mut RawClient<S>, mechanism: &'static str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut caps = FieldTable::new();
    caps.push(
        ShortStr::from_static("authentication_failure_close"),
        FieldValue::Bool(true),
    );
    let mut props = FieldTable::new();
    props.push(
        ShortStr::from_static("capabilities"),
        FieldValue::Table(caps),
    );
    c.start_ok_with(mechanism, "", props).await;
}

/// connection.close 403 with RabbitMQ's refused-login text, for a client that asked for it.
async fn expect_refused_login<S>(c: &mut RawClient<S>, mechanism: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let text = c.expect_connection_close(403).await;
    assert_eq!(
        text,
        format!(
            "ACCESS_REFUSED - Login was refused using authentication mechanism {mechanism}. \
             For details see the broker logfile."
        )
    );
}

#[tokio::test]
async fn external_login_by_distinguished_name() {
    let pki = Pki::new();
    let server = external_broker(&pki, CLIENT_DN, CertLoginFrom::DistinguishedName).await;
    let mut c = tls_client(&server, &pki, Some(&pki.client), &rustls::version::TLS13).await;
    c.handshake_as("EXTERNAL", "").await;
    round_trip(&mut c, "external-q").await;

    // Offered on TLS connections (RabbitMQ's order), never on plain ones.
    let mut c = tls_client(&server, &pki, None, &rustls::version::TLS13).await;
    assert_eq!(c.start_ok("PLAIN", "").await, "AMQPLAIN EXTERNAL PLAIN");
    let mut plain = RawClient::connect(&server).await;
    assert_eq!(plain.start_ok("PLAIN", "").await, "AMQPLAIN PLAIN");
}

#[tokio::test]
async fn external_refusals() {
    let pki = Pki::new();
    // The certificate's DN is no user here.
    let server = external_broker(&pki, "someone-else", CertLoginFrom::DistinguishedName).await;
    let mut c = tls_client(&server, &pki, Some(&pki.client), &rustls::version::TLS12).await;
    login_failure_close(&mut c, "EXTERNAL").await;
    expect_refused_login(&mut c, "EXTERNAL").await;

    // No certificate.
    let server = external_broker(&pki, CLIENT_DN, CertLoginFrom::DistinguishedName).await;
    let mut c = tls_client(&server, &pki, None, &rustls::version::TLS13).await;
    login_failure_close(&mut c, "EXTERNAL").await;
    expect_refused_login(&mut c, "EXTERNAL").await;

    // EXTERNAL is not offered on the plain port: no login.
    let mut plain = RawClient::connect(&server).await;
    plain.start_ok("EXTERNAL", "").await;
    assert!(
        !matches!(
            plain.next_method().await,
            Some((_, Method::ConnectionTune(_)))
        ),
        "EXTERNAL accepted on a plain connection"
    );
}

#[tokio::test]
async fn external_login_by_common_name() {
    let pki = Pki::new();
    let server = external_broker(&pki, "client-a", CertLoginFrom::CommonName).await;
    let mut c = tls_client(&server, &pki, Some(&pki.client), &rustls::version::TLS12).await;
    c.handshake_as("EXTERNAL", "").await;
    c.open_channel(1).await;
}

#[tokio::test]
async fn the_wrong_protocol_on_either_port_ends_promptly() {
    let pki = Pki::new();
    let server = tls_broker(pki.options(false, false), |c| {
        c.handshake_timeout = Duration::from_millis(500);
    })
    .await;
    // A plain client already at work on the plain port.
    let mut bystander = RawClient::open(&server).await;

    // Plain AMQP on the TLS port: a TLS alert at most, then the end; no connection.start.
    let started = Instant::now();
    let mut tcp = TcpStream::connect(server.tls_addrs()[0]).await.unwrap();
    tcp.write_all(&PROTOCOL_HEADER).await.unwrap();
    let mut got = Vec::new();
    let _ = within("EOF", tcp.read_to_end(&mut got)).await;
    assert!(got.is_empty() || got[0] == 0x15, "not a TLS alert: {got:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );

    // TLS on the plain port: the broker's protocol header, which no TLS client takes.
    let started = Instant::now();
    let plain_port = server.local_addr();
    let refused = connect_tls(plain_port, pki.client_config(None, &rustls::version::TLS13)).await;
    assert!(refused.is_err(), "a TLS session on the plain port");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );

    // A client that never starts its TLS handshake is dropped at the handshake timeout.
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.tls_addrs()[0]).await.unwrap();
    let n = within("EOF", silent.read(&mut [0u8; 16]))
        .await
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    round_trip(&mut bystander, "bystander-q").await;
}

#[tokio::test]
async fn an_unreadable_certificate_stops_the_start_naming_the_file() {
    let pki = Pki::new();
    let mut options = pki.options(false, false);
    options.keyfile = Some(PathBuf::from("/nonexistent/warren-key.pem"));
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().join("data"),
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        tls_listen: vec!["127.0.0.1:0".parse().unwrap()],
        tls: options,
        ..Config::default()
    };
    let err = Server::start(config).await.err().expect("start refused");
    assert!(
        err.to_string().contains("/nonexistent/warren-key.pem"),
        "{err}"
    );
}
