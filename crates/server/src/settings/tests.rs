//! The settings layer as a whole: real files in a temporary directory, an environment given
//! as pairs, flags parsed by clap. Precedence (each layer beats the one below), every key of
//! a RabbitMQ-style rabbitmq.conf, error messages, conflicts and unknown keys.

use super::*;
use crate::config::{CertLoginFrom, DiskFreeLimit, MemoryWatermark, TlsVersion};
use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;

/// Files in a temporary directory plus an environment and a command line; `{dir}` in a
/// file, a variable or an argument stands for the directory.
struct Case {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
            args: Vec::new(),
        }
    }

    fn dir(&self) -> String {
        self.dir.path().to_str().unwrap().to_string()
    }

    fn file(self, name: &str, text: &str) -> Case {
        let text = text.replace("{dir}", &self.dir());
        std::fs::write(self.dir.path().join(name), text).unwrap();
        self
    }

    fn env(mut self, name: &str, value: &str) -> Case {
        let value = value.replace("{dir}", &self.dir());
        self.env.push((name.into(), value));
        self
    }

    fn args(mut self, args: &[&str]) -> Case {
        let dir = self.dir();
        self.args
            .extend(args.iter().map(|a| a.replace("{dir}", &dir)));
        self
    }

    fn load(&self) -> Result<Settings, Vec<SettingsError>> {
        let argv = std::iter::once("warren".to_string()).chain(self.args.iter().cloned());
        load(&Flags::try_parse_from(argv).unwrap(), &self.env)
    }

    fn config(&self) -> Config {
        match self.load() {
            Ok(s) => s.config,
            Err(e) => panic!("{e:?}"),
        }
    }

    /// The one error, as the binary prints it.
    fn error(&self) -> String {
        match self.load() {
            Ok(_) => panic!("loaded, expected an error"),
            Err(e) => {
                assert_eq!(e.len(), 1, "{e:?}");
                e[0].to_string()
            }
        }
    }
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

/// The same keys in every layer; removing the top layer each time shows the next one win.
#[test]
fn each_layer_beats_the_one_below_for_the_same_key() {
    let base = || {
        Case::new()
            .file(
                "w.toml",
                "heartbeat = 10\ndefault_user = \"toml\"\n[listeners.tcp]\na = \"127.0.0.1:1\"\n",
            )
            .file(
                "r.conf",
                "heartbeat = 20\nlisteners.tcp.b = 127.0.0.1:2\nchannel_max = 7\n",
            )
    };
    let toml_only = base().args(&["--config-toml", "{dir}/w.toml"]);
    let c = toml_only.config();
    assert_eq!((c.heartbeat, c.default_user.as_str()), (10, "toml"));
    assert_eq!(c.listen, addrs(&["127.0.0.1:1"]));
    assert_eq!(c.channel_max, 2047, "untouched keys keep the default");

    let with_conf = base().args(&["--config-toml", "{dir}/w.toml", "--config", "{dir}/r.conf"]);
    let c = with_conf.config();
    assert_eq!(c.heartbeat, 20);
    assert_eq!(
        c.default_user, "toml",
        "a key only the TOML file sets stays"
    );
    // A family takes all of its keys from the highest layer that sets any of them.
    assert_eq!(c.listen, addrs(&["127.0.0.1:2"]));
    assert_eq!(c.channel_max, 7);

    let with_env = base()
        .args(&["--config-toml", "{dir}/w.toml", "--config", "{dir}/r.conf"])
        .env("WARREN_HEARTBEAT", "30")
        .env("WARREN_LISTENERS__TCP__C", "127.0.0.1:3");
    let c = with_env.config();
    assert_eq!(c.heartbeat, 30);
    assert_eq!(c.listen, addrs(&["127.0.0.1:3"]));
    assert_eq!(c.channel_max, 7);

    let with_flags = base()
        .args(&["--config-toml", "{dir}/w.toml", "--config", "{dir}/r.conf"])
        .env("WARREN_HEARTBEAT", "30")
        .env("WARREN_LISTENERS__TCP__C", "127.0.0.1:3")
        .args(&["--heartbeat", "40", "--listen", "127.0.0.1:4"]);
    let c = with_flags.config();
    assert_eq!(c.heartbeat, 40);
    assert_eq!(c.listen, addrs(&["127.0.0.1:4"]));
    assert_eq!(c.default_user, "toml");
}

#[test]
fn conf_d_files_are_one_layer_above_the_main_file_later_files_winning() {
    let c = Case::new()
        .file(
            "main.conf",
            "heartbeat = 1\nlisteners.tcp.1 = 127.0.0.1:1\n",
        )
        .file("a.conf", "heartbeat = 2\n")
        .file("b.conf", "heartbeat = 3\nlisteners.tcp.2 = 127.0.0.1:2\n");
    std::fs::create_dir(c.dir.path().join("conf.d")).unwrap();
    for f in ["a.conf", "b.conf"] {
        std::fs::rename(c.dir.path().join(f), c.dir.path().join("conf.d").join(f)).unwrap();
    }
    let c = c
        .env("RABBITMQ_CONFIG_FILE", "{dir}/main")
        .env("RABBITMQ_CONFIG_FILES", "{dir}/conf.d/*.conf");
    let config = c.config();
    assert_eq!(config.heartbeat, 3);
    // Cuttlefish merges all .conf files into one set of keys: both listeners count.
    assert_eq!(config.listen, addrs(&["127.0.0.1:1", "127.0.0.1:2"]));
    let files = c.load().unwrap().files;
    assert_eq!(files.len(), 3, "{files:?}");
}

#[test]
fn rabbitmq_image_variables_work_below_warren_ones() {
    let c = Case::new()
        .env("RABBITMQ_DEFAULT_USER", "ann")
        .env("RABBITMQ_DEFAULT_PASS", "pw")
        .env("RABBITMQ_DEFAULT_VHOST", "orders")
        .config();
    assert_eq!(
        (
            c.default_user.as_str(),
            c.default_pass.as_str(),
            c.default_vhost.as_str()
        ),
        ("ann", "pw", "orders")
    );
    let c = Case::new()
        .env("RABBITMQ_DEFAULT_VHOST", "orders")
        .env("WARREN_DEFAULT_VHOST", "billing")
        .config();
    assert_eq!(c.default_vhost, "billing");
}

/// A rabbitmq.conf in the style of RabbitMQ's own documentation examples (networking, TLS,
/// access control, memory and disk alarms, management and Prometheus guides), with every key
/// Warren reads.
const DOCS_STYLE_CONF: &str = r#"
# ======================================
# RabbitMQ broker section
# ======================================

## Networking: one plain listener per interface
listeners.tcp.default = 127.0.0.1:5673
listeners.tcp.2       = ::1:5673

## TLS
listeners.ssl.default            = 5671
ssl_options.cacertfile           = {dir}/ca_certificate.pem
ssl_options.certfile             = {dir}/server_certificate.pem
ssl_options.keyfile              = {dir}/server_key.pem
ssl_options.verify               = verify_peer
ssl_options.fail_if_no_peer_cert = true
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2

## Authentication
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = AMQPLAIN
auth_mechanisms.3 = EXTERNAL
ssl_cert_login_from = common_name

## The default user, vhost and permissions, created on first boot
default_vhost = orders
default_user  = orders-admin
default_pass  = a-long-random-secret
default_user_tags.administrator = true
default_user_tags.management    = true
default_permissions.configure = ^orders\..*
default_permissions.read      = .*
default_permissions.write     = ^amq\.default$

## Let the guest user connect from other hosts
loopback_users.guest = false

## Protocol limits
heartbeat        = 30
frame_max        = 256KB
channel_max      = 128
max_message_size = 67108864
handshake_timeout = 5000
consumer_timeout  = 900000

load_definitions = {dir}/definitions.json

## Plugins' HTTP listeners
management.tcp.port = 15673
prometheus.tcp.port = 15693

## Resource alarms
vm_memory_high_watermark.absolute = 2GB
vm_memory_high_watermark_paging_ratio = 0.75
disk_free_limit.absolute = 1GiB

## Warren's own
data_dir = {dir}/data
closing_timeout = 1000
store.pending_max = 32MiB
store.block_cache_bytes = 64MiB
"#;

#[test]
fn a_documentation_style_rabbitmq_conf_sets_every_key() {
    let mut case = Case::new().file("rabbitmq.conf", DOCS_STYLE_CONF);
    for f in [
        "ca_certificate.pem",
        "server_certificate.pem",
        "server_key.pem",
        "definitions.json",
    ] {
        case = case.file(f, "");
    }
    let dir = case.dir();
    let loaded = case
        .args(&["--config", "{dir}/rabbitmq.conf"])
        .load()
        .unwrap();
    assert_eq!(loaded.unknown, Vec::<String>::new());
    let c = loaded.config;
    assert_eq!(c.listen, addrs(&["[::1]:5673", "127.0.0.1:5673"]));
    assert!(!c.no_tcp_listeners);
    assert_eq!(c.tls_listen, addrs(&["[::]:5671"]));
    let file = |name: &str| Some(std::path::PathBuf::from(format!("{dir}/{name}")));
    assert_eq!(c.tls.cacertfile, file("ca_certificate.pem"));
    assert_eq!(c.tls.certfile, file("server_certificate.pem"));
    assert_eq!(c.tls.keyfile, file("server_key.pem"));
    assert!(c.tls.verify_peer && c.tls.fail_if_no_peer_cert);
    assert_eq!(c.tls.versions, [TlsVersion::Tls13, TlsVersion::Tls12]);
    assert_eq!(c.auth_mechanisms, ["PLAIN", "AMQPLAIN", "EXTERNAL"]);
    assert_eq!(c.ssl_cert_login_from, CertLoginFrom::CommonName);
    assert_eq!(
        (
            c.default_vhost.as_str(),
            c.default_user.as_str(),
            c.default_pass.as_str()
        ),
        ("orders", "orders-admin", "a-long-random-secret")
    );
    assert_eq!(c.default_user_tags, ["administrator", "management"]);
    assert_eq!(c.default_permissions.configure, r"^orders\..*");
    assert_eq!(c.default_permissions.read, ".*");
    assert_eq!(c.default_permissions.write, r"^amq\.default$");
    assert!(c.loopback_users.is_empty());
    assert_eq!(c.heartbeat, 30);
    assert_eq!(c.frame_max, 256 * 1024);
    assert_eq!(c.channel_max, 128);
    assert_eq!(c.max_message_size, 64 << 20);
    assert_eq!(c.handshake_timeout, Duration::from_secs(5));
    assert_eq!(c.consumer_timeout, Some(Duration::from_secs(900)));
    assert_eq!(c.load_definitions, file("definitions.json"));
    assert_eq!((c.management_port, c.prometheus_port), (15673, 15693));
    assert_eq!(
        c.memory_high_watermark,
        MemoryWatermark::Absolute(2_000_000_000)
    );
    assert_eq!(c.memory_paging_ratio, 0.75);
    assert_eq!(c.disk_free_limit, DiskFreeLimit::Absolute(1 << 30));
    assert_eq!(c.data_dir, file("data").unwrap());
    assert_eq!(c.closing_timeout, Duration::from_secs(1));
    assert_eq!(c.store_pending_max, 32 << 20);
    assert_eq!(c.store_options.block_cache_bytes, 64 << 20);
}

#[test]
fn the_same_settings_as_toml() {
    let c = Case::new()
        .file(
            "warren.toml",
            "default_vhost = \"orders\"\nheartbeat = 30\nauth_mechanisms = [\"PLAIN\"]\n\
             loopback_users = \"none\"\n\n[listeners.tcp]\ndefault = \"127.0.0.1:5673\"\n\n\
             [vm_memory_high_watermark]\nrelative = 0.6\n\n[disk_free_limit]\nrelative = 1.5\n\n\
             [default_user_tags]\nmonitoring = true\n",
        )
        .args(&["--config-toml", "{dir}/warren.toml"])
        .config();
    assert_eq!(c.default_vhost, "orders");
    assert_eq!(c.heartbeat, 30);
    assert_eq!(c.auth_mechanisms, ["PLAIN"]);
    assert!(c.loopback_users.is_empty());
    assert_eq!(c.listen, addrs(&["127.0.0.1:5673"]));
    assert_eq!(c.memory_high_watermark, MemoryWatermark::Relative(0.6));
    assert_eq!(c.disk_free_limit, DiskFreeLimit::MemRelative(1.5));
    assert_eq!(c.default_user_tags, ["monitoring"]);
}

#[test]
fn families_combine_within_a_layer_as_rabbitmq_translates_them() {
    let conf = "listeners.tcp = none\nlisteners.tcp.1 = 5672\n\
                vm_memory_high_watermark.relative = 0.6\nvm_memory_high_watermark.absolute = 2GB\n\
                loopback_users = none\nloopback_users.guest = true\n\
                default_user_tags.administrator = false\ndefault_user_tags.policymaker = true\n";
    let c = Case::new()
        .file("r.conf", conf)
        .args(&["--config", "{dir}/r.conf"])
        .config();
    // Checked with cuttlefish and rabbit.schema of 3.10.8: `none` wins, relative wins.
    assert!(c.listen.is_empty() && c.no_tcp_listeners);
    assert_eq!(c.memory_high_watermark, MemoryWatermark::Relative(0.6));
    assert!(c.loopback_users.is_empty());
    assert_eq!(c.default_user_tags, ["policymaker"]);
    // A layer that sets only loopback_users.alice replaces the default [guest].
    let c = Case::new()
        .env("WARREN_LOOPBACK_USERS__ALICE", "true")
        .config();
    assert_eq!(c.loopback_users, ["alice"]);
}

#[test]
fn warrens_earlier_config_file_keeps_working() {
    let c = Case::new()
        .file(
            "warren.conf",
            "# old style\nlisten = 127.0.0.1:5672, [::1]:5672\ndata_dir = /var/lib/warren\n\
             default_user = orders\ndefault_pass = \"s3cret\"\nheartbeat = 30\n",
        )
        .args(&["--config", "{dir}/warren.conf"])
        .config();
    assert_eq!(c.listen, addrs(&["127.0.0.1:5672", "[::1]:5672"]));
    assert_eq!(c.data_dir, std::path::PathBuf::from("/var/lib/warren"));
    assert_eq!(
        (c.default_user.as_str(), c.default_pass.as_str()),
        ("orders", "s3cret")
    );
    assert_eq!(c.heartbeat, 30);
}

#[test]
fn a_bad_value_names_the_key_and_where_it_was_set() {
    let conf = Case::new()
        .file("r.conf", "# limits\nchannel_max = 100\nheartbeat = soon\n")
        .args(&["--config", "{dir}/r.conf"]);
    let dir = conf.dir();
    assert_eq!(
        conf.error(),
        format!("{dir}/r.conf:3: heartbeat: 'soon' is not a non-negative integer")
    );
    let toml = Case::new()
        .file(
            "w.toml",
            "[ssl_options]\n\nverify = \"verify_everything\"\n",
        )
        .args(&["--config-toml", "{dir}/w.toml"]);
    assert_eq!(
        toml.error(),
        format!("{dir}/w.toml:3: ssl_options.verify: 'verify_everything' is not verify_peer or verify_none", dir = toml.dir())
    );
    let env = Case::new().env("WARREN_FRAME_MAX", "1GB").error();
    assert!(
        env.starts_with(
            "environment variable WARREN_FRAME_MAX: frame_max: 1073741824 is not between 4096"
        ),
        "{env}"
    );
    let flag = Case::new().args(&["--listen", "127.0.0.1:99999"]).error();
    assert_eq!(
        flag,
        "flag --listen: listen: '127.0.0.1:99999' is not a port or an IP:PORT address"
    );
    let set = Case::new()
        .args(&["--set", "vm_memory_high_watermark.absolute=2TB"])
        .error();
    assert!(
        set.starts_with("flag --set vm_memory_high_watermark.absolute: vm_memory_high_watermark.absolute: '2TB'"),
        "{set}"
    );
    let syntax = Case::new()
        .file("r.conf", "heartbeat = 1\ndefault_user\n")
        .args(&["--config", "{dir}/r.conf"]);
    assert_eq!(
        syntax.error(),
        format!("{}/r.conf:2: expected `key = value`", syntax.dir())
    );
}

#[test]
fn values_that_cannot_work_together_name_every_key() {
    let ssl = Case::new()
        .file("r.conf", "listeners.ssl.default = 5671\n")
        .args(&["--config", "{dir}/r.conf"]);
    assert_eq!(
        ssl.error(),
        format!(
            "listeners.ssl.default ({}/r.conf:1): TLS listeners need ssl_options.certfile and \
             ssl_options.keyfile",
            ssl.dir()
        )
    );
    let peer = Case::new()
        .file("cert.pem", "")
        .file(
            "r.conf",
            "listeners.ssl.1 = 5671\nssl_options.certfile = {dir}/cert.pem\n\
             ssl_options.keyfile = {dir}/cert.pem\nssl_options.fail_if_no_peer_cert = true\n",
        )
        .args(&["--config", "{dir}/r.conf"]);
    let err = peer.error();
    assert!(
        err.contains("ssl_options.fail_if_no_peer_cert (")
            && err.contains("ssl_options.verify (default)")
            && err.ends_with("needs verify = verify_peer"),
        "{err}"
    );
    let regex = Case::new()
        .env("WARREN_DEFAULT_PERMISSIONS__WRITE", "^(orders")
        .error();
    assert!(
        regex.starts_with(
            "environment variable WARREN_DEFAULT_PERMISSIONS__WRITE: default_permissions.write: \
             invalid regular expression '^(orders'"
        ),
        "{regex}"
    );
    let missing = Case::new()
        .args(&["--set", "ssl_options.cacertfile=/no/such/ca.pem"])
        .error();
    assert!(missing.contains("cannot read /no/such/ca.pem"), "{missing}");
}

#[test]
fn several_bad_values_are_all_reported() {
    let errors = Case::new()
        .env("WARREN_HEARTBEAT", "x")
        .env("WARREN_CHANNEL_MAX", "y")
        .load()
        .unwrap_err();
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["heartbeat", "channel_max"]);
}

/// Log lines written by `tracing` while `f` runs.
fn logged(f: impl FnOnce()) -> String {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buf.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn an_unknown_key_is_a_warning_naming_it() {
    let case = Case::new()
        .file(
            "r.conf",
            "heartbeat = 5\ncluster_formation.peer_discovery_backend = classic_config\n",
        )
        .args(&["--config", "{dir}/r.conf"])
        .env("WARREN_HEARTBAET", "5");
    let mut loaded = None;
    let log = logged(|| loaded = Some(case.load().unwrap()));
    let loaded = loaded.unwrap();
    assert_eq!(loaded.config.heartbeat, 5);
    let dir = case.dir();
    assert_eq!(
        loaded.unknown,
        [
            format!("cluster_formation.peer_discovery_backend ({dir}/r.conf:2)"),
            "heartbaet (environment variable WARREN_HEARTBAET)".to_string(),
        ]
    );
    assert!(log.contains("WARN"), "{log}");
    assert!(
        log.contains(&format!(
            "unknown setting cluster_formation.peer_discovery_backend ({dir}/r.conf:2): ignored"
        )),
        "{log}"
    );
    assert!(log.contains("unknown setting heartbaet"), "{log}");
}

#[test]
fn the_management_api_can_be_turned_off() {
    let on = Case::new().load().unwrap();
    assert!(on.config.management_enabled);
    let off = Case::new()
        .args(&["--set", "management.enabled=false"])
        .load()
        .unwrap();
    assert!(!off.config.management_enabled);
}
