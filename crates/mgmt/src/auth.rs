//! HTTP Basic login against the broker's users, and RabbitMQ's tag rules: any of
//! `management`, `policymaker`, `monitoring` or `administrator` may use the API; monitoring
//! users see every vhost and node details, administrators everything; other users see only
//! the vhosts they have permissions in.

use crate::errors::{ApiError, ApiResult};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use warren_server::Admin;

/// The logged-in user of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub tags: Vec<String>,
}

const MANAGEMENT_TAGS: [&str; 4] = ["management", "policymaker", "monitoring", "administrator"];

impl Caller {
    fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    pub fn is_admin(&self) -> bool {
        self.has("administrator")
    }

    /// Monitoring users (and administrators) see every vhost and the node.
    pub fn is_monitor(&self) -> bool {
        self.is_admin() || self.has("monitoring")
    }

    pub fn require_admin(&self) -> ApiResult<()> {
        match self.is_admin() {
            true => Ok(()),
            false => Err(ApiError::not_authorised("Not administrator user")),
        }
    }

    pub fn require_monitor(&self) -> ApiResult<()> {
        match self.is_monitor() {
            true => Ok(()),
            false => Err(ApiError::not_authorised("Not monitor user")),
        }
    }

    /// Whether the user may see (and act in) a vhost: monitors see all, others the vhosts
    /// they have permissions in.
    pub fn sees_vhost(&self, admin: &Admin, vhost: &str) -> bool {
        self.is_monitor()
            || admin
                .permissions()
                .iter()
                .any(|p| p.user == self.name && p.vhost == vhost)
    }

    /// Like [`Caller::sees_vhost`], refusing as RabbitMQ does.
    pub fn require_vhost(&self, admin: &Admin, vhost: &str) -> ApiResult<()> {
        match self.is_admin() || self.has_permissions_in(admin, vhost) {
            true => Ok(()),
            false => Err(ApiError::not_authorised(
                "User not authorised to access virtual host",
            )),
        }
    }

    fn has_permissions_in(&self, admin: &Admin, vhost: &str) -> bool {
        admin
            .permissions()
            .iter()
            .any(|p| p.user == self.name && p.vhost == vhost)
    }
}

/// `Authorization: Basic base64(user:password)`, decoded; `None` if absent or malformed.
fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// RabbitMQ answers a request without credentials with an empty 401 and the challenge.
fn challenge() -> Response {
    let mut r = StatusCode::UNAUTHORIZED.into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"RabbitMQ Management\""),
    );
    r
}

/// The login layer: puts the [`Caller`] into the request, or answers 401.
pub async fn login(State(admin): State<Admin>, mut request: Request, next: Next) -> Response {
    let Some((user, pass)) = basic_credentials(&request) else {
        return challenge();
    };
    let Some(info) = admin.authenticate(&user, &pass) else {
        return ApiError::login_failed().into_response();
    };
    let caller = Caller {
        name: info.name,
        tags: info.tags,
    };
    if !MANAGEMENT_TAGS.iter().any(|t| caller.has(t)) {
        return ApiError::not_authorised("Not management user").into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}
