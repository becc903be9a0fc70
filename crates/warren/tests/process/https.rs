//! The management API and the Prometheus endpoint over HTTPS (`management.ssl.*`,
//! `prometheus.ssl.*`), with a CA and certificates made at test time: the same answers as over
//! HTTP, client certificates checked as for AMQPS, plain HTTP on the TLS port refused without
//! harm, and unusable files refused at start naming the key.

use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warren_testkit::free_port;
use warren_testkit::tls::{Identity, Pki};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Ports {
    amqp: u16,
    http: u16,
    https: u16,
    metrics: u16,
    metrics_tls: u16,
}

fn spawn(dir: &std::path::Path, pki: &Pki, extra: &[String]) -> (Killed, Ports) {
    let p = Ports {
        amqp: free_port(),
        http: free_port(),
        https: free_port(),
        metrics: free_port(),
        metrics_tls: free_port(),
    };
    let mut args = vec![
        format!("management.tcp.port={}", p.http),
        format!("management.ssl.port={}", p.https),
        format!("prometheus.tcp.port={}", p.metrics),
        format!("prometheus.ssl.port={}", p.metrics_tls),
    ];
    for prefix in ["management.ssl", "prometheus.ssl"] {
        args.push(format!("{prefix}.cacertfile={}", pki.cafile.display()));
        args.push(format!("{prefix}.certfile={}", pki.certfile.display()));
        args.push(format!("{prefix}.keyfile={}", pki.keyfile.display()));
    }
    args.extend(extra.iter().cloned());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warren"));
    cmd.args(["--listen", &format!("127.0.0.1:{}", p.amqp), "--data-dir"])
        .arg(dir);
    for a in &args {
        cmd.args(["--set", a]);
    }
    let child = cmd
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("warren starts");
    (Killed(child), p)
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn request(path: &str) -> String {
    // guest:guest
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\nConnection: close\r\n\r\n")
}

fn over_http(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request(path).as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// The whole answer over TLS, or the I/O error that ended the exchange.
fn over_https(
    pki: &Pki,
    identity: Option<&Identity>,
    port: u16,
    path: &str,
) -> std::io::Result<String> {
    let config = pki.client_config(identity, &rustls::version::TLS13);
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port))?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(request(path).as_bytes())?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn the_api_and_the_metrics_answer_over_https_as_over_http() {
    let (dir, pki) = (tempfile::tempdir().unwrap(), Pki::new());
    let (_warren, p) = spawn(dir.path(), &pki, &[]);
    for port in [p.amqp, p.http, p.https, p.metrics, p.metrics_tls] {
        wait_listening(port);
    }
    let secure = over_https(&pki, None, p.https, "/api/whoami").unwrap();
    assert!(secure.starts_with("HTTP/1.1 200"), "{secure}");
    assert_eq!(body(&secure), body(&over_http(p.http, "/api/whoami")));
    let metrics = over_https(&pki, None, p.metrics_tls, "/metrics").unwrap();
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("rabbitmq_build_info"), "{metrics}");
    // A wrong password is refused over HTTPS too.
    let config = pki.client_config(None, &rustls::version::TLS12);
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut tls =
        rustls::StreamOwned::new(conn, TcpStream::connect(("127.0.0.1", p.https)).unwrap());
    let bad = "GET /api/whoami HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic Z3Vlc3Q6d3Jvbmc=\r\nConnection: close\r\n\r\n";
    tls.write_all(bad.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[test]
fn plain_http_on_the_https_port_is_dropped_and_the_listener_goes_on() {
    let (dir, pki) = (tempfile::tempdir().unwrap(), Pki::new());
    let (_warren, p) = spawn(dir.path(), &pki, &[]);
    wait_listening(p.https);
    let answer = over_http(p.https, "/api/whoami");
    assert!(!answer.contains("200 OK"), "{answer}");
    let secure = over_https(&pki, None, p.https, "/api/whoami").unwrap();
    assert!(secure.starts_with("HTTP/1.1 200"), "{secure}");
}

#[test]
fn with_verify_peer_only_certificates_from_the_ca_get_in() {
    let (dir, pki) = (tempfile::tempdir().unwrap(), Pki::new());
    let extra = [
        "management.ssl.verify=verify_peer".to_string(),
        "management.ssl.fail_if_no_peer_cert=true".to_string(),
    ];
    let (_warren, p) = spawn(dir.path(), &pki, &extra);
    wait_listening(p.https);
    let trusted = over_https(&pki, Some(&pki.client), p.https, "/api/whoami").unwrap();
    assert!(trusted.starts_with("HTTP/1.1 200"), "{trusted}");
    let untrusted = over_https(&pki, Some(&pki.untrusted), p.https, "/api/whoami");
    assert!(untrusted.is_err(), "{untrusted:?}");
    let without = over_https(&pki, None, p.https, "/api/whoami");
    assert!(without.is_err(), "{without:?}");
    // The plain HTTP listener has no client-certificate rule.
    assert!(over_http(p.http, "/api/whoami").starts_with("HTTP/1.1 200"));
}

#[test]
fn an_unreadable_certificate_file_stops_the_start_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args([
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
        ])
        .arg(dir.path())
        .args(["--set", &format!("management.ssl.port={}", free_port())])
        .args(["--set", "management.ssl.certfile=/nonexistent/cert.pem"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("warren runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("management.ssl.certfile"), "{stderr}");
}
