//! The `warren` binary: parses flags and environment, starts the broker, and stops it on
//! SIGTERM or SIGINT.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use warren_server::{Config, Server};

/// Warren: an AMQP 0-9-1 message broker.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (repeatable). Default: [::]:5672, dual-stack.
    #[arg(long, env = "WARREN_LISTEN", value_delimiter = ',')]
    listen: Vec<SocketAddr>,
    /// Directory for durable state (default: ./data).
    #[arg(long, env = "WARREN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Optional configuration file of `key = value` lines (see docs/configuration.md).
    #[arg(long, env = "WARREN_CONFIG")]
    config: Option<PathBuf>,
    /// Default user, created at start, like RABBITMQ_DEFAULT_USER (default: guest).
    #[arg(long, env = "WARREN_DEFAULT_USER")]
    default_user: Option<String>,
    /// Default user's password, like RABBITMQ_DEFAULT_PASS (default: guest).
    #[arg(long, env = "WARREN_DEFAULT_PASS")]
    default_pass: Option<String>,
    /// Largest accepted message body in bytes.
    #[arg(long, env = "WARREN_MAX_MESSAGE_SIZE")]
    max_message_size: Option<u64>,
    /// A RabbitMQ definitions JSON file to import at start (users, vhosts, permissions).
    #[arg(long, env = "WARREN_LOAD_DEFINITIONS")]
    load_definitions: Option<PathBuf>,
    /// Heartbeat interval proposed to clients, in seconds (0 disables).
    #[arg(long, env = "WARREN_HEARTBEAT")]
    heartbeat: Option<u16>,
}

fn apply_file(config: &mut Config, path: &PathBuf) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    let mut mechanisms_seen = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("{}:{}: expected key = value", path.display(), n + 1))?;
        let (key, value) = (key.trim(), value.trim().trim_matches('"'));
        let bad = |e: &dyn std::fmt::Display| format!("{}:{}: {key}: {e}", path.display(), n + 1);
        match key {
            "listen" => {
                config.listen = value
                    .split(',')
                    .map(|a| a.trim().parse().map_err(|e| bad(&e)))
                    .collect::<Result<_, _>>()?
            }
            "data_dir" => config.data_dir = value.into(),
            "default_user" => config.default_user = value.into(),
            "default_pass" => config.default_pass = value.into(),
            "frame_max" => config.frame_max = value.parse().map_err(|e| bad(&e))?,
            "channel_max" => config.channel_max = value.parse().map_err(|e| bad(&e))?,
            "heartbeat" => config.heartbeat = value.parse().map_err(|e| bad(&e))?,
            "max_message_size" => config.max_message_size = value.parse().map_err(|e| bad(&e))?,
            k if tls_setting(config, k, value, &mut mechanisms_seen).map_err(|e| bad(&e))? => {}
            other => {
                return Err(format!(
                    "{}:{}: unknown setting '{other}'",
                    path.display(),
                    n + 1
                ))
            }
        }
    }
    Ok(())
}

/// The TLS and EXTERNAL keys, named as in rabbitmq.conf (`listeners.ssl.*`, `ssl_options.*`,
/// `auth_mechanisms.*`, `ssl_cert_login_from`); `Ok(false)` for any other key. A stopgap for
/// the interop runs until the settings layer reads every key.
fn tls_setting(
    config: &mut Config,
    key: &str,
    value: &str,
    mechanisms_seen: &mut bool,
) -> Result<bool, String> {
    use warren_server::config::{CertLoginFrom, TlsVersion};
    let flag = |v: &str| match v {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("expected true or false, got '{other}'")),
    };
    let path = || Some(PathBuf::from(value));
    match key.split_once('.').map_or((key, ""), |(a, b)| (a, b)) {
        ("listeners", rest) if rest.starts_with("ssl.") => {
            let addr = match value.parse::<u16>() {
                Ok(port) => SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
                Err(_) => value.parse().map_err(|e| format!("{e}"))?,
            };
            config.tls_listen.push(addr);
        }
        ("ssl_options", "cacertfile") => config.tls.cacertfile = path(),
        ("ssl_options", "certfile") => config.tls.certfile = path(),
        ("ssl_options", "keyfile") => config.tls.keyfile = path(),
        ("ssl_options", "verify") => {
            config.tls.verify_peer = match value {
                "verify_peer" => true,
                "verify_none" => false,
                other => {
                    return Err(format!(
                        "expected verify_peer or verify_none, got '{other}'"
                    ))
                }
            }
        }
        ("ssl_options", "fail_if_no_peer_cert") => config.tls.fail_if_no_peer_cert = flag(value)?,
        ("ssl_options", v) if v.starts_with("versions.") => config.tls.versions.push(match value {
            "tlsv1.2" => TlsVersion::Tls12,
            "tlsv1.3" => TlsVersion::Tls13,
            other => return Err(format!("unsupported TLS version '{other}'")),
        }),
        ("auth_mechanisms", _) => {
            // The first entry replaces the default list.
            if !std::mem::replace(mechanisms_seen, true) {
                config.auth_mechanisms.clear();
            }
            config.auth_mechanisms.push(value.to_string());
        }
        ("ssl_cert_login_from", "") => {
            config.ssl_cert_login_from = match value {
                "distinguished_name" => CertLoginFrom::DistinguishedName,
                "common_name" => CertLoginFrom::CommonName,
                other => return Err(format!("unsupported ssl_cert_login_from '{other}'")),
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Built-in defaults, then the configuration file, then flags and environment variables: a flag
/// or variable wins over the file, the file over the default.
fn build_config(args: &Args) -> Result<Config, String> {
    let mut config = Config::default();
    if let Some(path) = &args.config {
        apply_file(&mut config, path)?;
    }
    if !args.listen.is_empty() {
        config.listen = args.listen.clone();
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(user) = &args.default_user {
        config.default_user = user.clone();
    }
    if let Some(pass) = &args.default_pass {
        config.default_pass = pass.clone();
    }
    if let Some(m) = args.max_message_size {
        config.max_message_size = m;
    }
    if let Some(path) = &args.load_definitions {
        config.load_definitions = Some(path.clone());
    }
    if let Some(h) = args.heartbeat {
        config.heartbeat = h;
    }
    Ok(config)
}

/// True when the log goes to a terminal and NO_COLOR (no-color.org) is not set. Logs are
/// written to stderr; a run with stdout sent to a file (`warren > warren.log 2>&1`, a service
/// manager's pipe) must not get colour codes either.
fn log_to_terminal() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: a log file or a pipe gets plain text.
        .with_ansi(log_to_terminal())
        .init();
    let args = Args::parse();
    let config = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let server = match Server::start(config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    std::process::ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("warren").chain(extra.iter().copied())).unwrap()
    }

    #[test]
    fn the_file_beats_defaults_and_flags_beat_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("warren.conf");
        std::fs::write(
            &file,
            "# test\ndata_dir = /srv/warren\ndefault_user = orders\nheartbeat = 30\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let c = build_config(&args(&["--config", path])).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/warren"));
        assert_eq!(c.default_user, "orders");
        assert_eq!(c.default_pass, "guest");
        assert_eq!(c.heartbeat, 30);
        let c = build_config(&args(&[
            "--config",
            path,
            "--data-dir",
            "/x",
            "--heartbeat",
            "5",
        ]))
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/x"));
        assert_eq!(c.default_user, "orders");
        assert_eq!(c.heartbeat, 5);
        let c = build_config(&args(&[])).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn tls_keys_as_rabbitmq_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tls.conf");
        std::fs::write(
            &file,
            "listeners.ssl.default = 127.0.0.1:5671\nssl_options.certfile = /c.pem\n\
             ssl_options.keyfile = /k.pem\nssl_options.cacertfile = /ca.pem\n\
             ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\n\
             ssl_options.versions.1 = tlsv1.3\nauth_mechanisms.1 = EXTERNAL\n\
             auth_mechanisms.2 = PLAIN\nssl_cert_login_from = common_name\n",
        )
        .unwrap();
        let c = build_config(&args(&["--config", file.to_str().unwrap()])).unwrap();
        assert_eq!(c.tls_listen, vec!["127.0.0.1:5671".parse().unwrap()]);
        assert_eq!(c.tls.certfile, Some(PathBuf::from("/c.pem")));
        assert!(c.tls.verify_peer && c.tls.fail_if_no_peer_cert);
        assert_eq!(c.auth_mechanisms, vec!["EXTERNAL", "PLAIN"]);
        assert_eq!(
            c.ssl_cert_login_from,
            warren_server::config::CertLoginFrom::CommonName
        );
    }

    #[test]
    fn a_bad_line_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.conf");
        std::fs::write(&file, "heartbeat = 30\nnot a setting\n").unwrap();
        let err = build_config(&args(&["--config", file.to_str().unwrap()])).unwrap_err();
        assert!(err.contains("bad.conf:2"), "{err}");
    }
}
