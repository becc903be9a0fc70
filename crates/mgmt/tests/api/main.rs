//! The management API over real HTTP: an in-process broker, the API served on an ephemeral
//! port, and a hyper client. One test binary, a module per area; RabbitMQ 3.10.8's answers
//! (checked by hand and by interop/tests/test_management.py) are what they assert.

mod access;
mod auth;
mod cli_support;
mod health;
mod lists;
mod live;
mod policies;
mod topology;
mod ui;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use warren_server::Server;

/// A broker with its management API.
pub struct Api {
    pub server: Server,
    pub addr: SocketAddr,
    stop: CancellationToken,
}

/// An answer: status, headers, and the body as JSON (`Null` when empty).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Api {
    pub async fn start() -> Api {
        let server = warren_testkit::start_broker().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(warren_mgmt::serve(server.admin(), listener, stop.clone()));
        Api { server, addr, stop }
    }

    /// A request as `user:pass` (no Authorization header with `None`).
    pub async fn call_as(
        &self,
        auth: Option<(&str, &str)>,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Answer {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(format!("http://{}/api/{path}", self.addr));
        if let Some((u, p)) = auth {
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            req = req.header("authorization", format!("Basic {token}"));
        }
        let body = Full::new(Bytes::from(body.unwrap_or("").to_string()));
        let res = client.request(req.body(body).unwrap()).await.unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let json = match bytes.is_empty() {
            true => Value::Null,
            false => serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        };
        Answer {
            status: parts.status,
            headers: parts.headers,
            json,
        }
    }

    /// A request as guest, the administrator.
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        self.call_as(Some(("guest", "guest")), method, path, body)
            .await
    }

    /// `DELETE /api/connections/{name}` with an `X-Reason` header; the status.
    pub async fn close_with_reason(&self, name: &str, reason: &str) -> StatusCode {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let req = Request::builder()
            .method(Method::DELETE)
            .uri(format!("http://{}/api/connections/{name}", self.addr))
            .header("authorization", "Basic Z3Vlc3Q6Z3Vlc3Q=")
            .header("x-reason", reason)
            .body(Full::new(Bytes::new()))
            .unwrap();
        client.request(req).await.unwrap().status()
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None).await
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.server.shutdown().await;
    }
}

impl Answer {
    /// RabbitMQ's error body: `(error, reason)`.
    pub fn error(&self) -> (String, Value) {
        (
            self.json["error"].as_str().unwrap_or_default().to_string(),
            self.json["reason"].clone(),
        )
    }
}
