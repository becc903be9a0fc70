//! The management web UI: the compiled single-page app (built from `ui/` by Vite, committed in
//! `ui/dist/`, see docs/ui.md) embedded in the binary and served at `/`. The page itself holds
//! no data; it logs in and reads everything through the public `/api` routes, so the API's
//! login and tag rules are the UI's rules.

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

/// `ui/dist/`, embedded at compile time in every profile (`debug-embed`), so a fresh checkout
/// needs no npm to run.
#[derive(RustEmbed)]
#[folder = "ui/dist/"]
struct Assets;

/// The page's policy: everything from this origin only (no CDN, fonts or beacons); uPlot and
/// Preact set inline styles, hence `'unsafe-inline'` for styles alone.
const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'self'";

/// Serves `/` as `index.html` and any other embedded file by its path; 404 otherwise.
pub async fn asset(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    };
    let mime = file.metadata.mimetype().to_string();
    // Vite names the bundles after their hash, so they may be cached for good; the page
    // itself must be revalidated to pick up a new build.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = (StatusCode::OK, file.data.into_owned()).into_response();
    let headers = response.headers_mut();
    let pairs = [
        (header::CONTENT_TYPE, mime.as_str()),
        (header::CACHE_CONTROL, cache),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    response
}
