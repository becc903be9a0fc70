//! RabbitMQ's error responses: a status code and a `{"error": ..., "reason": ...}` body, and
//! how the facade's AMQP errors map onto them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use warren_server::AmqpError;

/// An error answer. `reason` is usually text, but RabbitMQ sends some as JSON lists.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub reason: Value,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, reason: impl Into<Value>) -> Self {
        ApiError {
            status,
            error,
            reason: reason.into(),
        }
    }

    /// RabbitMQ's 404 for any object that is not there.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Object Not Found", "Not Found")
    }

    pub fn bad_request(reason: impl Into<Value>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", reason)
    }

    /// 401 for a logged-in user whose tags or vhosts do not allow the request (RabbitMQ
    /// spells it `not_authorised` here, `not_authorized` for a failed login).
    pub fn not_authorised(reason: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "not_authorised", reason)
    }

    /// A failed or missing login: 401 with the Basic challenge.
    pub fn login_failed() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "not_authorized", "Login failed")
    }
}

impl From<AmqpError> for ApiError {
    /// 404 NOT_FOUND is RabbitMQ's 404; 403 ACCESS_REFUSED its 401 not_authorised; what the
    /// facade refuses as 406 PRECONDITION_FAILED (and other soft errors) is `bad_request`.
    fn from(e: AmqpError) -> Self {
        match e.code as u16 {
            404 => ApiError::not_found(),
            403 => ApiError::not_authorised(&e.text),
            _ => ApiError::bad_request(e.text),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "reason": self.reason});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"RabbitMQ Management\""),
            );
        }
        response
    }
}
