//! The `warren` binary as a separate process, for the tests that kill or signal it: a free
//! port to give it, starting it, and connecting once it listens.

use lapin::{Connection, ConnectionProperties};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a freshly started `warren` may take to accept connections (recovery included).
const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the `warren` binary at `bin` on 127.0.0.1:`port` over `data_dir`, logging warnings
/// and errors to the test's stderr.
pub fn spawn_warren(bin: &Path, data_dir: &Path, port: u16) -> Child {
    Command::new(bin)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        // Any free ports for the management API and the metrics: 15672 and 15692 may be
        // another broker's.
        .args(["--set", "management.tcp.port=0"])
        .args(["--set", "prometheus.tcp.port=0"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("warren starts")
}

/// Connects as guest to a `warren` on `port`, retrying until it listens or 30 s have passed.
pub async fn connect_when_up(port: u16) -> Connection {
    let uri = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let deadline = Instant::now() + STARTUP_LIMIT;
    loop {
        match Connection::connect(&uri, ConnectionProperties::default()).await {
            Ok(c) => return c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot connect to warren on port {port}: {e}"),
        }
    }
}
