//! `/v1/vms/{vm}/sessions`.

use super::{ApiFailure, StrictJson};
use crate::session::{self, SessionError};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use banger_api::session::{KillSession, Session, SessionLogs, StartSession, StopSession};
use std::sync::Arc;

fn fail(e: SessionError) -> ApiFailure {
    ApiFailure::from_error(e.kind(), &e)
}

pub async fn start(
    State(state): State<Arc<AppState>>,
    Path(vm): Path<String>,
    StrictJson(req): StrictJson<StartSession>,
) -> Result<Json<Session>, ApiFailure> {
    session::start(&state.vm_env(), &vm, req)
        .await
        .map(Json)
        .map_err(fail)
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(vm): Path<String>,
) -> Result<Json<Vec<Session>>, ApiFailure> {
    session::list(&state.vm_env(), &vm)
        .await
        .map(Json)
        .map_err(fail)
}

pub async fn show(
    State(state): State<Arc<AppState>>,
    Path((vm, name)): Path<(String, String)>,
) -> Result<Json<Session>, ApiFailure> {
    session::get(&state.vm_env(), &vm, &name)
        .await
        .map(Json)
        .map_err(fail)
}

pub async fn stop(
    State(state): State<Arc<AppState>>,
    Path((vm, name)): Path<(String, String)>,
    StrictJson(req): StrictJson<StopSession>,
) -> Result<Json<Session>, ApiFailure> {
    session::stop(&state.vm_env(), &vm, &name, req.grace_secs.unwrap_or(10))
        .await
        .map(Json)
        .map_err(fail)
}

pub async fn kill(
    State(state): State<Arc<AppState>>,
    Path((vm, name)): Path<(String, String)>,
    StrictJson(req): StrictJson<KillSession>,
) -> Result<Json<Session>, ApiFailure> {
    session::kill(&state.vm_env(), &vm, &name, req.signal)
        .await
        .map(Json)
        .map_err(fail)
}

/// Upgraded like exec: the agent's log frames, relayed.
pub async fn logs(
    State(state): State<Arc<AppState>>,
    Path((vm, name)): Path<(String, String)>,
    super::upgrade::Upgrade(on_upgrade): super::upgrade::Upgrade,
    StrictJson(req): StrictJson<SessionLogs>,
) -> Result<Response, ApiFailure> {
    let agent = session::logs(&state.vm_env(), &vm, &name, req)
        .await
        .map_err(fail)?;
    super::upgrade::relay(
        on_upgrade,
        agent,
        format!("logs of session {name} in {vm}"),
        (),
        std::future::pending(),
    );
    Ok(super::upgrade::switching())
}

/// Exclusive attach: the daemon's `stdio_mux_v1` socket for this client.
pub async fn attach(
    State(state): State<Arc<AppState>>,
    Path((vm, name)): Path<(String, String)>,
    StrictJson(req): StrictJson<banger_api::session::AttachSession>,
) -> Result<Json<banger_api::session::Attached>, ApiFailure> {
    let socket = session::attach(&state.vm_env(), &vm, &name, &req.holder)
        .await
        .map_err(fail)?;
    Ok(Json(banger_api::session::Attached {
        socket: socket.display().to_string(),
        protocol: banger_api::mux::PROTOCOL.into(),
    }))
}
