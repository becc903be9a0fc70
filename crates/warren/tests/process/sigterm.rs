//! The real `warren` binary stopped with SIGTERM, as a service manager or `docker stop` does:
//! a connected client is told with connection.close 320 CONNECTION_FORCED (RabbitMQ's
//! shutdown close), and the process exits with status 0.

use futures_lite::StreamExt;
use lapin::Event;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};
use warren_testkit::{connect_when_up, free_port, spawn_warren};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_clients_with_connection_forced_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut warren = spawn_warren(
        Path::new(env!("CARGO_BIN_EXE_warren")),
        &tmp.path().join("data"),
        port,
    );
    let conn = connect_when_up(port).await;
    // Subscribed before the signal: lapin reports the broker's connection.close as an
    // error event carrying its code and text.
    let mut events = conn.events_listener();
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        "before-shutdown".into(),
        Default::default(),
        Default::default(),
    )
    .await
    .unwrap();

    // std has no way to send SIGTERM (Child::kill is SIGKILL); kill(1) does.
    let sent = Command::new("kill")
        .args(["-TERM", &warren.id().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(sent.success());

    let error = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.next().await {
                Some(Event::Error(e)) => return e,
                Some(_) => continue,
                None => panic!("event stream ended without an error event"),
            }
        }
    })
    .await
    .expect("connection.close from the broker within 10 s");
    match error.kind() {
        lapin::ErrorKind::ProtocolError(e) => {
            assert_eq!(e.get_id(), 320, "{e}");
            assert!(
                e.get_message()
                    .as_str()
                    .contains("broker forced connection closure with reason 'shutdown'"),
                "{e}"
            );
        }
        other => panic!("expected a protocol error (connection.close), got {other:?}"),
    }
    assert!(!conn.status().connected());

    let deadline = Instant::now() + Duration::from_secs(10);
    let status: ExitStatus = loop {
        if let Some(status) = warren.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            warren.kill().unwrap();
            panic!("warren still running 10 s after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status}"
    );
}
