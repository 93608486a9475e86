//! The HTTP/JSON API served on the daemon's Unix socket.

mod builds;
mod daemon;
mod doctor;
mod error;
mod images;
mod json;
mod kernels;
mod sessions;
mod stream;
mod throttle;
mod upgrade;
mod vms;

pub use error::ApiFailure;
pub use json::StrictJson;
pub use stream::{Progress, streamed};
pub(crate) use throttle::Throttle;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};
use banger_api::routes;
use images as img;
use std::sync::Arc;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(routes::DAEMON_STATUS, get(daemon::status))
        .route(routes::DAEMON_SHUTDOWN, post(daemon::shutdown))
        .route(routes::DOCTOR, post(doctor::run))
        .route(routes::IMAGES, get(img::list).post(img::register))
        .route("/v1/images/{name}", get(img::show).delete(img::delete))
        .route("/v1/images/{name}/promote", post(img::promote))
        .route(routes::IMAGE_PULL, post(img::pull))
        .route(routes::IMAGE_BUILD, post(builds::build))
        .route(routes::IMAGE_BUILD_DOWNLOAD, post(builds::download))
        .route(routes::KERNELS, get(kernels::list))
        .route(routes::KERNEL_CATALOG, get(kernels::available))
        .route(routes::KERNEL_PULL, post(kernels::pull))
        .route(routes::KERNEL_IMPORT, post(kernels::import))
        .route(
            "/v1/kernels/{name}",
            get(kernels::show).delete(kernels::delete),
        )
        .route(routes::VMS, get(vms::list).post(vms::create))
        .route("/v1/vms/{name}", get(vms::show).delete(vms::delete))
        .route("/v1/vms/{name}/start", post(vms::start))
        .route("/v1/vms/{name}/stop", post(vms::stop))
        .route("/v1/vms/{name}/ports", get(vms::ports))
        .route("/v1/vms/{name}/opencode", get(vms::opencode))
        .route("/v1/vms/{name}/host-keys", post(vms::host_keys))
        .route("/v1/vms/{name}/exec", post(vms::exec))
        .route("/v1/vms/{name}/workspace", post(vms::workspace))
        .route(routes::WORKSPACE_CHECK, post(vms::workspace_check))
        .route(
            "/v1/vms/{name}/sessions",
            get(sessions::list).post(sessions::start),
        )
        .route("/v1/vms/{name}/sessions/{session}", get(sessions::show))
        .route(
            "/v1/vms/{name}/sessions/{session}/stop",
            post(sessions::stop),
        )
        .route(
            "/v1/vms/{name}/sessions/{session}/kill",
            post(sessions::kill),
        )
        .route(
            "/v1/vms/{name}/sessions/{session}/logs",
            post(sessions::logs),
        )
        .route(
            "/v1/vms/{name}/sessions/{session}/attach",
            post(sessions::attach),
        )
        .route(
            "/v1/vms/{name}/workspace/export",
            post(vms::workspace_export),
        )
        .route("/v1/vms/{name}/console", get(vms::console))
        .fallback(error::no_such_route)
        .with_state(state)
}

/// Read-only routes, also served to the web UI listener.
pub fn read_only_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(routes::DAEMON_STATUS, get(daemon::status))
        .route(routes::IMAGES, get(img::list))
        .route(routes::VMS, get(vms::list))
        .route(routes::KERNELS, get(kernels::list))
        .route(routes::KERNEL_CATALOG, get(kernels::available))
}

/// Runs blocking work (files, SQLite, child processes) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiFailure> + Send + 'static,
) -> Result<T, ApiFailure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiFailure::internal(&e))?
}
