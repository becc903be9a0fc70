//! The web UI's files: served outside `/api` without a login (they hold no data), with a
//! policy that keeps the page to its own origin; `/api` keeps its own answers and login.

use crate::Api;
use axum::body::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A GET without credentials: status, headers and the body as text.
async fn fetch(api: &Api, path: &str) -> (StatusCode, HeaderMap, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let req = Request::get(format!("http://{}{path}", api.addr))
        .body(Empty::new())
        .unwrap();
    let res = client.request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (parts.status, parts.headers, text)
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_without_login() {
    let api = Api::start().await;
    let (status, headers, html) = fetch(&api, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html");
    assert_eq!(headers["cache-control"], "no-cache");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    // The bundle the page names is served, typed, and cacheable for good.
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("index.html names its script");
    assert!(script.starts_with("/assets/"), "{script}");
    let (status, headers, js) = fetch(&api, script).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/javascript");
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert!(!js.is_empty());
    api.stop().await;
}

#[tokio::test]
async fn unknown_files_are_404_and_the_api_keeps_its_login() {
    let api = Api::start().await;
    let (status, _, _) = fetch(&api, "/assets/nope.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = fetch(&api, "/../Cargo.toml").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, headers, _) = fetch(&api, "/api/overview").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key("www-authenticate"));
    let answer = api.call("GET", "nope", None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.error().0, "Object Not Found");
    api.stop().await;
}
