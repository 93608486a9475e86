//! The HTTP/JSON API served on the daemon's Unix socket.

mod daemon;
mod doctor;
mod error;
mod json;
mod stream;

pub use error::ApiFailure;
pub use json::StrictJson;
pub use stream::{Progress, streamed};

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};
use banger_api::routes;
use std::sync::Arc;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(routes::DAEMON_STATUS, get(daemon::status))
        .route(routes::DAEMON_SHUTDOWN, post(daemon::shutdown))
        .route(routes::DOCTOR, post(doctor::run))
        .fallback(error::no_such_route)
        .with_state(state)
}

/// Read-only routes, also served to the web UI listener.
pub fn read_only_routes() -> Router<Arc<AppState>> {
    Router::new().route(routes::DAEMON_STATUS, get(daemon::status))
}
