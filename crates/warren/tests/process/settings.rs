//! The real `warren` binary configured the ways an operator does it: a rabbitmq.conf, the
//! environment, flags. A client logs in (lapin) with what the settings say, and a bad value
//! stops the start with exit status 78 (EX_CONFIG) and a message naming the key.

use lapin::{Connection, ConnectionProperties};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use warren_testkit::free_port;

/// A `warren` process; killed when dropped. Its stderr goes to `log`.
struct Warren {
    child: Child,
    log: PathBuf,
}

impl Drop for Warren {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Warren {
    /// Starts `warren ARGS` with only `env` of the WARREN_*/RABBITMQ_* variables.
    fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Warren {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let log = dir.join(format!(
            "warren-{}.log",
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warren"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("WARREN_") || name.starts_with("RABBITMQ_") {
                cmd.env_remove(name);
            }
        }
        let child = cmd
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("warren starts");
        Warren { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status, waiting at most 10 s for it.
    fn exit_status(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "warren still running: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Connects to `uri`, retrying while the broker starts (30 s at most).
async fn connect_when_up(warren: &Warren, uri: &str) -> Connection {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Connection::connect(uri, ConnectionProperties::default()).await {
            Ok(c) => return c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot connect to {uri}: {e}\n{}", warren.log()),
        }
    }
}

/// Logging in with `uri` is refused (the broker is known to be up).
async fn refused(uri: &str) -> bool {
    Connection::connect(uri, ConnectionProperties::default())
        .await
        .is_err()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_conf_sets_the_listener_default_user_and_default_vhost() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = write(
        tmp.path(),
        "rabbitmq.conf",
        &format!(
            "# as an operator writes it\nlisteners.tcp.default = 127.0.0.1:{port}\n\
             default_user = sam\ndefault_pass = sam-secret\ndefault_vhost = orders\n\
             cluster_name = not-a-warren-key\n"
        ),
    );
    let data = tmp.path().join("data");
    let warren = Warren::spawn(
        tmp.path(),
        &["--config", &conf, "--data-dir", data.to_str().unwrap()],
        &[],
    );
    let uri = format!("amqp://sam:sam-secret@127.0.0.1:{port}/orders");
    let conn = connect_when_up(&warren, &uri).await;
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare("S-settings".into(), Default::default(), Default::default())
        .await
        .expect("the default user may declare in the default vhost");
    assert_eq!(q.name().as_str(), "S-settings");
    conn.close(200, "bye".into()).await.unwrap();
    // guest is not created when another default user is configured.
    assert!(refused(&format!("amqp://guest:guest@127.0.0.1:{port}/orders")).await);
    let log = warren.log();
    assert!(
        log.contains(&format!("unknown setting cluster_name ({conf}:6): ignored")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_beats_the_file_and_a_flag_beats_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let (file_port, flag_port) = (free_port(), free_port());
    let conf = write(
        tmp.path(),
        "rabbitmq.conf",
        &format!(
            "listeners.tcp.default = 127.0.0.1:{file_port}\ndefault_user = sam\n\
             default_pass = from-file\n"
        ),
    );
    let data = tmp.path().join("data-env");
    let env = [("RABBITMQ_DEFAULT_PASS", "from-env")];
    let args = ["--config", &conf, "--data-dir", data.to_str().unwrap()];
    {
        let warren = Warren::spawn(tmp.path(), &args, &env);
        let uri = |pass: &str| format!("amqp://sam:{pass}@127.0.0.1:{file_port}/%2f");
        let conn = connect_when_up(&warren, &uri("from-env")).await;
        assert!(refused(&uri("from-file")).await, "the file's password lost");
        conn.close(200, "bye".into()).await.unwrap();
    }
    // A fresh data dir: the default user is created on first boot only.
    let data = tmp.path().join("data-flag");
    let listen = format!("127.0.0.1:{flag_port}");
    let warren = Warren::spawn(
        tmp.path(),
        &[
            "--config",
            &conf,
            "--data-dir",
            data.to_str().unwrap(),
            "--default-pass",
            "from-flag",
            "--listen",
            &listen,
        ],
        &env,
    );
    let uri = |pass: &str| format!("amqp://sam:{pass}@127.0.0.1:{flag_port}/%2f");
    let conn = connect_when_up(&warren, &uri("from-flag")).await;
    assert!(
        refused(&uri("from-env")).await,
        "the environment's password lost"
    );
    conn.close(200, "bye".into()).await.unwrap();
    // --listen replaced the file's listener rather than adding one.
    assert!(std::net::TcpStream::connect(("127.0.0.1", file_port)).is_err());
}

#[test]
fn a_bad_value_exits_78_naming_the_key_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = write(
        tmp.path(),
        "rabbitmq.conf",
        "default_user = sam\nheartbeat = soon\n",
    );
    let data = tmp.path().join("data");
    let mut warren = Warren::spawn(
        tmp.path(),
        &["--config", &conf, "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert_eq!(warren.exit_status().code(), Some(78), "{}", warren.log());
    let log = warren.log();
    assert!(
        log.contains(&format!(
            "{conf}:2: heartbeat: 'soon' is not a non-negative integer"
        )),
        "{log}"
    );
    assert!(!data.exists(), "nothing was started");

    let mut warren = Warren::spawn(
        tmp.path(),
        &["--data-dir", data.to_str().unwrap()],
        &[("WARREN_LISTENERS__TCP__DEFAULT", "localhost:5672")],
    );
    assert_eq!(warren.exit_status().code(), Some(78), "{}", warren.log());
    assert!(
        warren.log().contains(
            "environment variable WARREN_LISTENERS__TCP__DEFAULT: listeners.tcp.default: \
             'localhost:5672' is not a port or an IP:PORT address"
        ),
        "{}",
        warren.log()
    );
}
