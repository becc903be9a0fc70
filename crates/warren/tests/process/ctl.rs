//! `warren ctl` and the `rabbitmqctl` / `rabbitmq-diagnostics` links (scripts/install-links)
//! against a spawned `warren` with its management API on a free port: every command's round
//! trip over real HTTP, the output formats, the exit codes, and finding the node and the
//! credentials from the broker's own settings (rabbitmq.conf and RABBITMQ_* variables).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use warren_testkit::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_warren");

struct Warren {
    child: Child,
    amqp: u16,
    http: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Warren {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A broker whose environment is `env` (the ctl runs get the same one where a test says so).
fn warren(env: &[(&str, String)]) -> Warren {
    let dir = tempfile::tempdir().unwrap();
    let (amqp, http) = (free_port(), free_port());
    let child = Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{amqp}"), "--data-dir"])
        .arg(dir.path())
        .args(["--set", &format!("management.tcp.port={http}")])
        .args(["--set", "prometheus.tcp.port=0"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("warren starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(Instant::now() < deadline, "no management API on {http}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Warren {
        child,
        amqp,
        http,
        _dir: dir,
    }
}

/// The exit status, stdout and stderr of one run.
struct Run {
    code: i32,
    out: String,
    err: String,
}

fn finish(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `warren ctl --port PORT ARGS...`, with no settings from this process's environment.
fn ctl(port: u16, args: &[&str]) -> Run {
    finish(
        Command::new(BIN)
            .arg("ctl")
            .args(["--port", &port.to_string()])
            .args(args)
            .env_remove("WARREN_CTL_URL")
            .output()
            .unwrap(),
    )
}

/// Asserts the run succeeded; its stdout.
fn ok(run: Run) -> String {
    assert_eq!(run.code, 0, "stdout: {}\nstderr: {}", run.out, run.err);
    run.out
}

#[test]
fn users_vhosts_and_permissions_round_trip_with_rabbitmqctl_exit_codes() {
    let w = warren(&[]);
    let p = w.http;
    let out = ok(ctl(p, &["add_user", "c-alice", "s3cret"]));
    assert!(out.starts_with("Adding user \"c-alice\" ...\n"), "{out}");
    let dup = ctl(p, &["add_user", "c-alice", "x"]);
    assert_eq!(
        (dup.code, dup.err.as_str()),
        (70, "Error:\nUser \"c-alice\" already exists\n")
    );
    ok(ctl(
        p,
        &["set_user_tags", "c-alice", "monitoring", "management"],
    ));
    assert_eq!(
        ok(ctl(p, &["-q", "list_users"])),
        "user\ttags\nc-alice\t[monitoring, management]\nguest\t[administrator]\n"
    );
    // The tags kept the password; then a new one works and the old one no longer does.
    let as_alice = |pw: &str| {
        ctl(
            p,
            &[
                "--username",
                "c-alice",
                "--password",
                pw,
                "-q",
                "list_vhosts",
            ],
        )
    };
    assert_eq!(as_alice("s3cret").code, 0);
    ok(ctl(p, &["change_password", "c-alice", "n3w"]));
    assert_eq!(as_alice("n3w").code, 0);
    assert_eq!(as_alice("s3cret").code, 69);
    let out = ok(ctl(p, &["add_vhost", "c-vh"]));
    assert_eq!(out, "Adding vhost \"c-vh\" ...\n");
    // Created over the API, the vhost gave its creator (guest) every permission, as in RabbitMQ.
    ok(ctl(
        p,
        &["set_permissions", "-p", "c-vh", "c-alice", ".*", "", "^a"],
    ));
    assert_eq!(
        ok(ctl(p, &["list_permissions", "-p", "c-vh"])),
        "Listing permissions for vhost \"c-vh\" ...\nuser\tconfigure\twrite\tread\nc-alice\t.*\t\t^a\nguest\t.*\t.*\t.*\n"
    );
    assert_eq!(ok(ctl(p, &["-s", "list_vhosts"])), "/\nc-vh\n");
    let no_user = ctl(
        p,
        &["set_permissions", "-p", "c-vh", "c-nobody", "a", "b", "c"],
    );
    assert_eq!(no_user.code, 67, "{}", no_user.err);
    let no_vhost = ctl(
        p,
        &["set_permissions", "-p", "c-none", "c-alice", "a", "b", "c"],
    );
    assert_eq!(
        (no_vhost.code, no_vhost.err.as_str()),
        (69, "Error:\nVirtual host c-none does not exist\n")
    );
    ok(ctl(p, &["clear_permissions", "-p", "c-vh", "c-alice"]));
    assert_eq!(ok(ctl(p, &["-q", "list_user_permissions", "c-alice"])), "");
    ok(ctl(p, &["clear_permissions", "-p", "c-vh", "c-alice"]));
    assert_eq!(ctl(p, &["clear_permissions", "c-nobody"]).code, 67);
    assert_eq!(
        ctl(p, &["clear_permissions", "-p", "c-none", "c-alice"]).code,
        69
    );
    assert_eq!(ctl(p, &["list_user_permissions", "c-nobody"]).code, 69);
    let none = ctl(p, &["list_permissions", "-p", "c-none"]);
    assert_eq!(
        (none.code, none.err.as_str()),
        (65, "Virtual host 'c-none' does not exist\n")
    );
    ok(ctl(p, &["delete_user", "c-alice"]));
    assert_eq!(ctl(p, &["delete_user", "c-alice"]).code, 67);
    assert_eq!(ctl(p, &["change_password", "c-alice", "x"]).code, 67);
    ok(ctl(p, &["delete_vhost", "c-vh"]));
    let gone = ctl(p, &["delete_vhost", "c-vh"]);
    assert_eq!(
        (gone.code, gone.err.as_str()),
        (65, "Virtual host 'c-vh' does not exist\n")
    );
}

/// A queue, an exchange and a binding between them, by import_definitions from stdin.
const TOPOLOGY: &str = r#"{"queues":[{"name":"c-q","vhost":"/","durable":true,"auto_delete":false,"arguments":{"x-max-length":10}}],
 "exchanges":[{"name":"c-x","vhost":"/","type":"fanout","durable":true,"auto_delete":false,"internal":false,"arguments":{}}],
 "bindings":[{"source":"c-x","vhost":"/","destination":"c-q","destination_type":"queue","routing_key":"k","arguments":{}}]}"#;

fn import_stdin(port: u16, text: &str) -> Run {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args([
            "ctl",
            "--port",
            &port.to_string(),
            "import_definitions",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    finish(child.wait_with_output().unwrap())
}

#[test]
fn topology_lists_and_definitions_round_trip_in_every_format() {
    let w = warren(&[]);
    let p = w.http;
    ok(import_stdin(p, TOPOLOGY));
    let bad = import_stdin(p, "{not json");
    assert_eq!(bad.code, 65, "{}", bad.err);
    let out = ok(ctl(p, &["list_queues"]));
    assert_eq!(
        out,
        "Timeout: 60.0 seconds ...\nListing queues for vhost / ...\nname\tmessages\nc-q\t0\n"
    );
    assert_eq!(
        ok(ctl(p, &["-q", "list_queues", "name", "durable,arguments"])),
        "name\tdurable\targuments\nc-q\ttrue\t[{\"x-max-length\",10}]\n"
    );
    assert_eq!(
        ok(ctl(
            p,
            &["list_queues", "--formatter", "json", "name", "messages"]
        )),
        "[\n{\"name\":\"c-q\",\"messages\":0}\n]\n"
    );
    assert_eq!(
        ok(ctl(p, &["-q", "--no-table-headers", "list_queues"])),
        "c-q\t0\n"
    );
    let bad = ctl(p, &["list_queues", "bogus"]);
    assert_eq!((bad.code, bad.out.as_str()), (64, ""));
    assert!(
        bad.err.contains("Info key(s) bogus are not supported"),
        "{}",
        bad.err
    );
    let out = ok(ctl(p, &["-q", "list_exchanges"]));
    assert!(
        out.starts_with("name\ttype\n") && out.contains("\nc-x\tfanout\n"),
        "{out}"
    );
    let out = ok(ctl(p, &["-q", "list_bindings"]));
    assert!(out.contains("c-x\texchange\tc-q\tqueue\tk\t[]\n"), "{out}");
    // Export to stdout and to a file: the same definitions, with what was imported.
    let stdout = ok(ctl(p, &["export_definitions", "-"]));
    let file = w._dir.path().join("defs.json");
    let file_s = file.to_str().unwrap();
    assert_eq!(
        ok(ctl(p, &["export_definitions", file_s])),
        format!("Exporting definitions in JSON to a file at \"{file_s}\" ...\n")
    );
    let parsed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        parsed,
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&file).unwrap())
            .unwrap()
    );
    assert_eq!(parsed["queues"][0]["name"], "c-q");
    assert_eq!(ok(ctl(p, &["-q", "import_definitions", file_s])), "");
    assert_eq!(
        ctl(p, &["import_definitions", "/nonexistent.json"]).code,
        64
    );
    let out = ok(ctl(p, &["delete_queue", "c-q", "--if-empty"]));
    assert_eq!(out, "Deleting queue 'c-q' on vhost '/' if queue is empty ...\nQueue was successfully deleted with 0 ready messages\n");
    assert_eq!(ctl(p, &["delete_queue", "c-q"]).code, 64);
    assert_eq!(ctl(p, &["purge_queue", "c-q"]).code, 69);
}

#[test]
fn messages_connections_purge_and_close_over_a_live_amqp_connection() {
    let w = warren(&[]);
    let (p, amqp) = (w.http, w.amqp);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (conn, _consumer) = rt.block_on(async {
        use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
        let url = format!("amqp://guest:guest@127.0.0.1:{amqp}/%2F");
        let c = lapin::Connection::connect(&url, Default::default())
            .await
            .unwrap();
        let ch = c.create_channel().await.unwrap();
        for q in ["c-m", "c-cq"] {
            ch.queue_declare(q.into(), QueueDeclareOptions::default(), Default::default())
                .await
                .unwrap();
        }
        for _ in 0..3 {
            ch.basic_publish(
                "".into(),
                "c-m".into(),
                BasicPublishOptions::default(),
                b"m",
                Default::default(),
            )
            .await
            .unwrap();
        }
        let consumer = ch
            .basic_consume(
                "c-cq".into(),
                "c-tag".into(),
                BasicConsumeOptions::default(),
                Default::default(),
            )
            .await
            .unwrap();
        (c, consumer)
    });
    let consumers = [
        "-s",
        "list_consumers",
        "queue_name",
        "consumer_tag",
        "prefetch_count",
    ];
    assert_eq!(ok(ctl(p, &consumers)), "c-cq\tc-tag\t0\n");
    let channels = ["-q", "list_channels", "user", "consumer_count"];
    assert_eq!(ok(ctl(p, &channels)), "user\tconsumer_count\nguest\t1\n");
    // The queue's counts are the broker's live ones; wait for the three messages.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok(ctl(p, &["-s", "list_queues"])).contains("c-m\t3\n") {
        assert!(Instant::now() < deadline, "three messages never listed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        ok(ctl(p, &["purge_queue", "c-m"])),
        "Purging queue 'c-m' in vhost '/' ...\n"
    );
    assert_eq!(ok(ctl(p, &["-s", "list_queues"])), "c-cq\t0\nc-m\t0\n");
    let out = ok(ctl(p, &["-q", "list_connections"]));
    assert!(
        out.starts_with("user\tpeer_host\tpeer_port\tstate\nguest\t127.0.0.1\t"),
        "{out}"
    );
    let name = ok(ctl(p, &["-s", "list_connections", "name"]));
    let name = name.trim();
    ok(ctl(p, &["close_connection", name, "bye from c"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while conn.status().connected() {
        assert!(Instant::now() < deadline, "the connection was not closed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ctl(p, &["close_connection", name, "again"]).code, 69);
    assert_eq!(
        ok(ctl(p, &["-q", "delete_queue", "c-m"])),
        "Queue was successfully deleted with 0 ready messages\n"
    );
}

#[test]
fn node_commands_the_watermark_and_the_alarm_check() {
    let w = warren(&[]);
    let p = w.http;
    assert_eq!(ok(ctl(p, &["-q", "ping"])), "Ping succeeded\n");
    let out = ok(ctl(p, &["status"]));
    assert!(
        out.starts_with("Status of node ") && out.contains("Queue count: 0"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(ctl(p, &["status", "--formatter", "json"]))).unwrap();
    assert_eq!(json["product_name"], "Warren");
    let out = ok(ctl(p, &["-q", "check_port_connectivity"]));
    assert!(
        out.starts_with("Successfully connected to ports ") && out.contains(&w.amqp.to_string()),
        "{out}"
    );
    assert!(ok(ctl(p, &["-q", "check_running"])).ends_with("is fully booted and running\n"));
    assert!(ok(ctl(p, &["-q", "is_running"])).ends_with("is fully booted and running\n"));
    assert!(
        ok(ctl(p, &["-q", "check_virtual_hosts"])).ends_with("reported all vhosts as running\n")
    );
    assert_eq!(
        ok(ctl(p, &["-q", "node_health_check"])),
        "Health check passed\n"
    );
    assert!(ok(ctl(p, &["-q", "check_if_node_is_quorum_critical"])).ends_with("does not apply\n"));
    assert!(ok(ctl(p, &["-q", "await_startup"])).ends_with("is fully booted and running\n"));
    // A watermark of 0 blocks every publisher: the alarm check fails with 69 until it is lifted.
    let out = ok(ctl(p, &["set_vm_memory_high_watermark", "0"]));
    assert!(
        out.starts_with("Setting memory threshold on ") && out.ends_with(" to 0 ...\n"),
        "{out}"
    );
    let alarm = ctl(p, &["-q", "check_local_alarms"]);
    assert_eq!(alarm.code, 69, "{}", alarm.out);
    assert!(
        alarm.err.starts_with("Error:\nMemory alarm on node "),
        "{}",
        alarm.err
    );
    ok(ctl(
        p,
        &["set_vm_memory_high_watermark", "absolute", "64GiB"],
    ));
    assert!(ok(ctl(p, &["-q", "check_local_alarms"])).contains("reported no local alarms"));
    ok(ctl(p, &["set_vm_memory_high_watermark", "0.4"]));
    assert_eq!(ctl(p, &["set_vm_memory_high_watermark", "2"]).code, 65);
    assert_eq!(
        ctl(p, &["set_vm_memory_high_watermark", "absolute", "lots"]).code,
        65
    );
    // A non-administrator may not set it.
    ok(ctl(p, &["add_user", "c-mon", "pw"]));
    ok(ctl(p, &["set_user_tags", "c-mon", "monitoring"]));
    let refused = ctl(
        p,
        &[
            "--username",
            "c-mon",
            "--password",
            "pw",
            "set_vm_memory_high_watermark",
            "0.5",
        ],
    );
    assert_eq!(refused.code, 70, "{}", refused.err);
}

#[test]
fn usage_errors_are_64_and_an_unreachable_node_is_69() {
    let w = warren(&[]);
    let unknown = ctl(w.http, &["no_such_command"]);
    assert_eq!(unknown.code, 64);
    assert_eq!(ctl(w.http, &["add_user", "only-a-name"]).code, 64);
    assert!(ok(ctl(w.http, &["--help"])).contains("list_queues"));
    let down = ctl(free_port(), &["-q", "ping"]);
    assert_eq!((down.code, down.out.as_str()), (69, ""));
    assert!(
        down.err
            .starts_with("Error: unable to perform an operation on node"),
        "{}",
        down.err
    );
    let wrong = ctl(w.http, &["--password", "wrong", "list_users"]);
    assert_eq!(wrong.code, 69, "{}", wrong.err);
}

/// `rabbitmqctl` and `rabbitmq-diagnostics` links made by scripts/install-links beside a link
/// to the binary in `dir`.
fn install_links(dir: &Path) -> PathBuf {
    let warren = dir.join("warren");
    std::os::unix::fs::symlink(BIN, &warren).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/install-links");
    let status = Command::new(script)
        .arg(&warren)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    dir.to_path_buf()
}

#[test]
fn rabbitmq_names_find_the_node_from_the_broker_settings() {
    // The container's environment: the broker and the CLI see the same variables and the
    // same rabbitmq.conf (the port and password from the file, the user from a variable).
    let http = free_port();
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("rabbitmq.conf");
    std::fs::write(
        &conf,
        format!("management.tcp.port = {http}\ndefault_pass = c-pass\n"),
    )
    .unwrap();
    let env = [
        ("RABBITMQ_DEFAULT_USER", "c-admin".to_string()),
        ("RABBITMQ_CONFIG_FILE", conf.to_str().unwrap().to_string()),
    ];
    let w = {
        let dir = tempfile::tempdir().unwrap();
        let amqp = free_port();
        let child = Command::new(BIN)
            .args(["--listen", &format!("127.0.0.1:{amqp}"), "--data-dir"])
            .arg(dir.path())
            .args(["--set", "prometheus.tcp.port=0"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Warren {
            child,
            amqp,
            http,
            _dir: dir,
        }
    };
    let links = tempfile::tempdir().unwrap();
    let dir = install_links(links.path());
    let tool = |name: &str, args: &[&str]| {
        finish(
            Command::new(dir.join(name))
                .args(args)
                .env_clear()
                .envs(env.iter().map(|(k, v)| (k, v)))
                .output()
                .unwrap(),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while tool("rabbitmq-diagnostics", &["-q", "ping"]).code != 0 {
        assert!(
            Instant::now() < deadline,
            "rabbitmq-diagnostics -q ping never succeeded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        ok(tool("rabbitmq-diagnostics", &["-q", "ping"])),
        "Ping succeeded\n"
    );
    for check in [
        "check_running",
        "check_local_alarms",
        "check_port_connectivity",
        "status",
    ] {
        ok(tool("rabbitmq-diagnostics", &[check]));
    }
    assert_eq!(
        ok(tool("rabbitmqctl", &["-q", "list_users"])),
        "user\ttags\nc-admin\t[administrator]\n"
    );
    ok(tool("rabbitmqctl", &["add_user", "c-bob", "pw"]));
    ok(tool(
        "rabbitmqctl",
        &["set_permissions", "c-bob", ".*", ".*", ".*"],
    ));
    let defs = links.path().join("defs.json");
    ok(tool(
        "rabbitmqctl",
        &["export_definitions", defs.to_str().unwrap()],
    ));
    ok(tool(
        "rabbitmqctl",
        &["import_definitions", defs.to_str().unwrap()],
    ));
    assert!(ok(tool("rabbitmqctl", &["-q", "list_queues"])).is_empty());
    // Usage text names the tool it was run as.
    let usage = tool("rabbitmqctl", &[]);
    assert_eq!(usage.code, 64);
    assert!(usage.err.contains("rabbitmqctl"), "{}", usage.err);
    drop(w);
    assert_eq!(tool("rabbitmq-diagnostics", &["-q", "ping"]).code, 69);
}
