//! warren-mgmt: the management HTTP API, with RabbitMQ 3.10's paths, JSON field names, status
//! codes and error bodies, so tools written for RabbitMQ's management plugin work unchanged.
//!
//! It reaches the broker only through the admin facade ([`warren_server::Admin`]). Rooms:
//! `auth` (HTTP Basic against the broker's users, RabbitMQ's tag rules), `errors` (the
//! `{"error", "reason"}` bodies), `query` (sorting, filtering, columns and pagination of
//! lists), `body` (JSON request bodies), `tables` (field tables as JSON), `rates` (the sampled
//! `message_stats` and their rates), `api`, one module per endpoint family, and `ui`, the web
//! UI's embedded files (docs/ui.md).

mod api;
mod auth;
mod body;
mod errors;
mod query;
mod rates;
mod tables;
mod ui;

use axum::Router;
use std::io;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warren_server::Admin;

pub use errors::ApiError;

/// Largest request body accepted: RabbitMQ's default `management.http.max_body_size` (20 MB);
/// a larger one is 413 before it is read whole.
pub const MAX_BODY: usize = 20_000_000;

/// The API's router over a broker's facade (tests serve it on their own listener). Called
/// inside a tokio runtime, it starts the statistics sampler, which lives as long as the router.
pub fn router(admin: Admin) -> Router {
    let rates = rates::Rates::start(admin.clone());
    // The web UI is everything outside `/api` (docs/ui.md).
    api::routes(admin, rates).fallback(axum::routing::get(ui::asset))
}

/// Serves the API on `listener` until `shutdown` is cancelled.
pub async fn serve(
    admin: Admin,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> io::Result<()> {
    serve_router(router(admin), listener, shutdown).await
}

/// Serves a router made by [`router`] on `listener` until `shutdown` is cancelled: the binary
/// makes one router (one statistics sampler) for all its HTTP and HTTPS listeners.
pub async fn serve_router(
    router: Router,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening for the management HTTP API");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled_owned().await })
        .await
}

/// Binds the management port on each IP the AMQP listeners use (`[::]`, falling back to
/// `0.0.0.0`, when they use every interface), as RabbitMQ listens on all interfaces.
pub async fn bind(amqp: &[SocketAddr], port: u16) -> io::Result<Vec<TcpListener>> {
    let mut ips: Vec<std::net::IpAddr> = amqp.iter().map(|a| a.ip()).collect();
    ips.dedup();
    if ips.is_empty() || ips.iter().any(|ip| ip.is_unspecified()) {
        let v6 = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port));
        return match TcpListener::bind(v6).await {
            Ok(l) => Ok(vec![l]),
            Err(e) if e.kind() != io::ErrorKind::AddrInUse => Ok(vec![
                TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, port)).await?,
            ]),
            Err(e) => Err(e),
        };
    }
    let mut out = Vec::new();
    for ip in ips {
        out.push(TcpListener::bind(SocketAddr::new(ip, port)).await?);
    }
    Ok(out)
}
