//! The routes, one module per endpoint family, behind the login layer and the body size
//! limit. Paths are RabbitMQ's; a path it does not know is its 404 body.

mod args;
mod bindings;
mod connections;
mod definitions;
mod exchanges;
mod health;
mod import;
mod limits;
mod messages;
mod overview;
mod permissions;
mod phash;
mod policies;
mod queues;
mod users;
mod vhosts;
// Warren's extensions (issue 16, helper C: the CLI's memory watermark).
mod warren;

use crate::auth;
use crate::errors::ApiError;
use crate::rates::Rates;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::{Extension, Router};
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;
use warren_server::Admin;

/// Every family's routes, under `/api`.
pub fn routes(admin: Admin, rates: Arc<Rates>) -> Router {
    let api = Router::new()
        .merge(overview::routes())
        .merge(health::routes())
        .merge(vhosts::routes())
        .merge(users::routes())
        .merge(permissions::routes())
        .merge(limits::routes())
        .merge(definitions::routes())
        // Topology and live objects (helper M2).
        .merge(exchanges::routes())
        .merge(queues::routes())
        .merge(messages::routes())
        .merge(bindings::routes())
        .merge(connections::routes())
        // Policies and operator policies (helper P).
        .merge(policies::routes())
        .merge(warren::routes())
        .fallback(|| async { ApiError::not_found().into_response() })
        .layer(Extension(rates))
        .layer(axum::middleware::from_fn_with_state(
            admin.clone(),
            auth::login,
        ))
        .with_state(admin);
    Router::new()
        .nest("/api", api)
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(crate::MAX_BODY))
}
