//! The `warren` binary: reads its settings (crates/server/src/settings: defaults, files,
//! environment, flags), starts the broker, its management HTTP API (crates/mgmt) and its
//! Prometheus metrics (crates/prometheus), and stops them on SIGTERM or SIGINT. `warren ctl ...`,
//! or the binary run through a `rabbitmqctl` / `rabbitmq-diagnostics` link, is the CLI
//! (crates/ctl) instead.

mod allocator;
mod https;
mod logging;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use warren_server::settings::{self, Flags};
use warren_server::Server;

fn main() -> std::process::ExitCode {
    // >>> the CLI (issue 16, helper C): dispatch on the program name or `ctl` before anything
    // of the broker starts.
    let mut args = std::env::args_os();
    let program = std::path::PathBuf::from(args.next().unwrap_or_default());
    let rest: Vec<_> = args.collect();
    if let Some(tool) = warren_ctl::Tool::from_program_name(&program) {
        return std::process::ExitCode::from(warren_ctl::run(tool, rest));
    }
    if rest.first().is_some_and(|a| a == "ctl") {
        let ctl = warren_ctl::Tool::WarrenCtl;
        return std::process::ExitCode::from(warren_ctl::run(ctl, rest[1..].to_vec()));
    }
    // <<< the CLI
    broker()
}

#[tokio::main]
async fn broker() -> std::process::ExitCode {
    let flags = Flags::parse();
    let settings = match settings::load(&flags, &settings::process_environment()) {
        Ok(s) => s,
        Err(errors) => {
            logging::init(&Default::default());
            for e in errors {
                tracing::error!("invalid setting: {e}");
            }
            return std::process::ExitCode::from(settings::EX_CONFIG);
        }
    };
    logging::init(&settings.config.log);
    allocator::install();
    // Loading warned of these before the log existed (its settings were being read).
    for key in &settings.unknown {
        tracing::warn!("unknown setting {key}: ignored");
    }
    for file in &settings.files {
        tracing::info!(file = %file.display(), "settings file read");
    }
    let server = match Server::start(settings.config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let management = CancellationToken::new();
    let started = async {
        start_management(&server, management.clone()).await?;
        start_prometheus(&server, management.clone()).await
    };
    if let Err(e) = started.await {
        tracing::error!("cannot start: {e}");
        management.cancel();
        server.shutdown().await;
        return std::process::ExitCode::from(1);
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    management.cancel();
    server.shutdown().await;
    std::process::ExitCode::SUCCESS
}

/// The management API on `management.tcp.port`, on the AMQP listeners' addresses, and on
/// `management.ssl.port` over HTTPS when that is set. A port that cannot be bound is logged and
/// the broker runs on without it: AMQP clients matter more than the dashboard (RabbitMQ would
/// refuse to boot; docs/management.md says so). Unusable TLS files stop the start (`Err`), as
/// for AMQPS.
async fn start_management(server: &Server, shutdown: CancellationToken) -> std::io::Result<()> {
    let admin = server.admin();
    if !admin.management_enabled() {
        tracing::info!("management API disabled (management.enabled = false)");
        return Ok(());
    }
    let https = admin.management_https()?;
    let router = warren_mgmt::router(admin.clone());
    for listener in bind(server, admin.management_port(), "management API").await {
        let (router, shutdown) = (router.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = warren_mgmt::serve_router(router, listener, shutdown).await {
                tracing::error!(error = %e, "management API stopped");
            }
        });
    }
    if let Some((port, tls)) = https {
        serve_https(server, port, tls, router, shutdown, "management API").await;
    }
    Ok(())
}

/// The Prometheus metrics on `prometheus.tcp.port` (and `prometheus.ssl.port` over HTTPS), on
/// the same addresses as the management API; as there, a port that cannot be bound is logged.
async fn start_prometheus(server: &Server, shutdown: CancellationToken) -> std::io::Result<()> {
    let admin = server.admin();
    let https = admin.prometheus_https()?;
    for listener in bind(server, admin.prometheus_port(), "Prometheus metrics").await {
        if let Err(e) = warren_prometheus::serve_on(admin.clone(), listener, shutdown.clone()) {
            tracing::error!(error = %e, "Prometheus metrics stopped");
        }
    }
    if let Some((port, tls)) = https {
        let router = warren_prometheus::router(admin);
        serve_https(server, port, tls, router, shutdown, "Prometheus metrics").await;
    }
    Ok(())
}

/// `router` over HTTPS on `port`, on the AMQP listeners' addresses.
async fn serve_https(
    server: &Server,
    port: u16,
    tls: rustls::ServerConfig,
    router: axum::Router,
    shutdown: CancellationToken,
    what: &'static str,
) {
    for listener in bind(server, port, &format!("{what} (HTTPS)")).await {
        let (tls, router, shutdown) = (tls.clone(), router.clone(), shutdown.clone());
        tokio::spawn(https::serve(listener, tls, router, shutdown, what));
    }
}

/// The listeners for `port` on the AMQP listeners' addresses; none (logged) if it cannot be
/// bound.
async fn bind(server: &Server, port: u16, what: &str) -> Vec<tokio::net::TcpListener> {
    match warren_mgmt::bind(server.local_addrs(), port).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(port, error = %e, "cannot listen for the {what}");
            Vec::new()
        }
    }
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
