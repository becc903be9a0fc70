//! The HTTP side: axum routes for the three paths, RabbitMQ's query parameters, and the
//! OpenMetrics content type.

use axum::extract::{RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warren_server::Admin;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The three paths over `admin`.
pub fn router(admin: Admin) -> Router {
    Router::new()
        .route("/metrics", get(aggregated))
        .route("/metrics/per-object", get(per_object))
        .route("/metrics/detailed", get(detailed))
        .with_state(admin)
}

pub(crate) async fn run(listener: TcpListener, admin: Admin, shutdown: CancellationToken) {
    let app = router(admin);
    let stop = async move { shutdown.cancelled().await };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "prometheus endpoint failed");
    }
}

fn text(body: String) -> impl IntoResponse {
    ([(CONTENT_TYPE, OPENMETRICS)], body)
}

async fn aggregated(State(admin): State<Admin>) -> impl IntoResponse {
    text(crate::render_aggregated(&admin))
}

async fn per_object(State(admin): State<Admin>) -> impl IntoResponse {
    text(crate::render_per_object(&admin))
}

/// `family` and `vhost` may each repeat (`?family=a&family=b`), as RabbitMQ reads them.
async fn detailed(State(admin): State<Admin>, RawQuery(query): RawQuery) -> impl IntoResponse {
    let (mut families, mut vhosts) = (Vec::new(), Vec::new());
    for (key, value) in parse_query(query.as_deref().unwrap_or("")) {
        match key.as_str() {
            "family" => families.push(value),
            "vhost" => vhosts.push(value),
            _ => {}
        }
    }
    text(crate::render_detailed(&admin, &families, &vhosts))
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `%2F` and `+` as a form encodes them; a malformed escape is kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? * 16 + hex(*bytes.get(i + 2)?)?))
            .flatten();
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_escapes_decode() {
        let q = parse_query("family=queue_coarse_metrics&vhost=%2F&family=a+b&vhost=%zz");
        assert_eq!(
            q,
            vec![
                ("family".into(), "queue_coarse_metrics".into()),
                ("vhost".into(), "/".into()),
                ("family".into(), "a b".into()),
                ("vhost".into(), "%zz".into()),
            ]
        );
    }
}
