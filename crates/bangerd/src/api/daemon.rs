//! `/v1/daemon/*`: status and shutdown.

use super::StrictJson;
use crate::state::{AppState, WebState};
use axum::Json;
use axum::extract::State;
use banger_api::daemon::{DaemonStatus, ShutdownReply, ShutdownRequest};
use std::sync::Arc;

pub async fn status(State(state): State<Arc<AppState>>) -> Json<DaemonStatus> {
    let (web_url, web_error) = match &state.web {
        WebState::Disabled => (None, None),
        // The token is part of the address: the page is not reachable without it.
        WebState::Listening(addr) => (Some(format!("http://{addr}/{}/", state.web_token)), None),
        WebState::Failed(why) => (None, Some(why.clone())),
    };
    Json(DaemonStatus {
        pid: std::process::id(),
        version: banger_api::VERSION.to_owned(),
        socket: state.paths.socket().display().to_string(),
        started_at: state.started_at,
        uptime_secs: state.started.elapsed().as_secs(),
        web_url,
        web_error,
        data_dir: state.paths.data_dir.display().to_string(),
        log_file: state.paths.log_file().display().to_string(),
        agent_path: state.agent_path.as_ref().map(|p| p.display().to_string()),
        previous_run_unclean: state.previous_run_unclean,
        warm_pool: crate::warm::summary(&state),
    })
}

pub async fn shutdown(
    State(state): State<Arc<AppState>>,
    StrictJson(ShutdownRequest {}): StrictJson<ShutdownRequest>,
) -> Json<ShutdownReply> {
    tracing::info!("shutdown requested over the API");
    // Graceful shutdown lets this response finish before the listener closes.
    let _ = state.shutdown.send(true);
    Json(ShutdownReply {
        pid: std::process::id(),
    })
}
