//! The binary serves the management API on `management.tcp.port` next to AMQP, and starts
//! none with `management.enabled = false`. Plain HTTP/1.1 over a socket: the API's own tests
//! (crates/mgmt/tests) exercise it in depth.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use warren_testkit::free_port;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(dir: &std::path::Path, extra: &[&str]) -> (Killed, u16, u16) {
    let (amqp, http) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["--listen", &format!("127.0.0.1:{amqp}"), "--data-dir"])
        .arg(dir)
        .args(["--set", &format!("management.tcp.port={http}")])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("warren starts");
    (Killed(child), amqp, http)
}

/// Waits (at most 30 s) for something to listen on `port`.
fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn whoami(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // guest:guest
    let request = "GET /api/whoami HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\nConnection: close\r\n\r\n";
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_binary_serves_the_management_api_on_its_port() {
    let dir = tempfile::tempdir().unwrap();
    let (_warren, amqp, http) = spawn(dir.path(), &[]);
    wait_listening(amqp);
    wait_listening(http);
    let answer = whoami(http);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with(r#"{"name":"guest","tags":["administrator"]}"#),
        "{answer}"
    );
}

#[test]
fn management_enabled_false_starts_no_api() {
    let dir = tempfile::tempdir().unwrap();
    let (_warren, amqp, http) = spawn(dir.path(), &["--set", "management.enabled=false"]);
    wait_listening(amqp);
    assert!(TcpStream::connect(("127.0.0.1", http)).is_err());
}
