//! The console log as RabbitMQ 3.10 writes it: plaintext `TIME [level] message` lines with its
//! time format and no colour codes into a file, JSON lines with `log.console.formatter = json`,
//! and `log.console.level` obeyed (RUST_LOG unset, as an operator runs it).

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use warren_testkit::free_port;

/// Starts `warren` with `settings`, waits until it listens, stops it; returns its log.
fn log_of(dir: &Path, settings: &[&str]) -> String {
    let (port, log) = (free_port(), dir.join("warren.log"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warren"));
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .args([
            "--set",
            "management.tcp.port=0",
            "--set",
            "prometheus.tcp.port=0",
        ]);
    for s in settings {
        cmd.args(["--set", s]);
    }
    let mut child = cmd
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("warren starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "warren does not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGTERM: the shutdown lines are logged too.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    std::fs::read_to_string(&log).unwrap()
}

/// `2026-12-05 09:30:00.123456+00:00 [info] ...`
fn rabbitmq_plaintext(line: &str) -> bool {
    let b = line.as_bytes();
    line.len() > 40
        && b[4] == b'-'
        && b[10] == b' '
        && b[19] == b'.'
        && &line[26..33] == "+00:00 "
        && line[33..].starts_with('[')
        && line[..26].bytes().filter(u8::is_ascii_digit).count() == 20
}

#[test]
fn the_default_log_is_rabbitmqs_plaintext_without_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), &[]);
    assert!(log.lines().count() >= 2, "{log}");
    for line in log.lines() {
        assert!(rabbitmq_plaintext(line), "{line}");
    }
    assert!(log.contains(" [info] "), "{log}");
    assert!(!log.contains('\x1b'), "{log}");
}

#[test]
fn json_lines_with_time_level_and_msg() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), &["log.console.formatter=json"]);
    assert!(log.lines().count() >= 2, "{log}");
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect(line);
        assert!(v["time"].is_string() && v["msg"].is_string(), "{line}");
        let level = v["level"].as_str().unwrap_or_default();
        assert!(
            ["debug", "info", "warning", "error"].contains(&level),
            "{line}"
        );
    }
}

#[test]
fn the_console_level_hides_what_is_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), &["log.console.level=warning"]);
    assert!(!log.contains("[info]"), "{log}");
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), &["log.console=false"]);
    assert!(log.is_empty(), "{log}");
}
