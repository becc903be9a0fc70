//! warren-prometheus: Warren's metrics in RabbitMQ's `rabbitmq_prometheus` shape, so the
//! dashboards and alerts people already run against RabbitMQ 3.10 work unchanged.
//!
//! [`serve`] binds `prometheus.tcp.port` and answers three paths, as RabbitMQ does:
//! - `/metrics`: aggregated, node-wide families without a series per queue, so its cost does
//!   not grow with the number of queues' names;
//! - `/metrics/per-object`: the same plus one series per queue;
//! - `/metrics/detailed?family=...&vhost=...`: only the asked-for families, per queue
//!   (`rabbitmq_detailed_*`), optionally of some vhosts.
//!
//! Every scrape takes a fresh snapshot through the [`Admin`] facade and encodes it with
//! prometheus-client (OpenMetrics text). Names, types, help texts and labels are RabbitMQ
//! 3.10.8's (docs/metrics.md lists each family and whether Warren has it).

mod families;
mod http;
mod process;

use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use warren_server::Admin;

pub use families::{render_aggregated, render_detailed, render_per_object};
/// The endpoint's routes, for a listener of the caller's own (the binary's HTTPS one).
pub use http::router;

/// Binds `addr` and serves the metrics endpoint until `shutdown` is cancelled; returns the
/// bound address (port 0 picks a free one). The server runs in a task of its own.
pub async fn serve(
    admin: Admin,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(admin, listener, shutdown)
}

/// Serves the metrics endpoint on a bound `listener` until `shutdown` is cancelled; returns
/// its address. The server runs in a task of its own.
pub fn serve_on(
    admin: Admin,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let bound = listener.local_addr()?;
    tracing::info!(%bound, "prometheus metrics listening");
    tokio::spawn(http::run(listener, admin, shutdown));
    Ok(bound)
}
