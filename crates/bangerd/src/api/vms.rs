//! `/v1/vms`.

use super::blocking;
use super::{ApiFailure, StrictJson, streamed};
use crate::state::AppState;
use crate::vm::{self, VmEnv, VmError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use banger_api::vm::{ConsoleChunk, CreateVm, OpencodeAccess, Vm, VmAction, VmDeleted, VmPorts};
use serde::Deserialize;
use std::sync::Arc;

fn fail(e: VmError) -> ApiFailure {
    ApiFailure::from_error(e.kind(), &e)
}

fn env(state: &AppState) -> VmEnv<'_> {
    state.vm_env()
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Vec<Vm>>, ApiFailure> {
    blocking(move || {
        let vms = vm::list(&state.paths, &state.store).map_err(fail)?;
        Ok(Json(
            vms.into_iter().map(|v| state.with_metrics(v)).collect(),
        ))
    })
    .await
}

pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Vm>, ApiFailure> {
    blocking(move || {
        vm::get(&state.paths, &state.store, &name)
            .map(|v| Json(state.with_metrics(v)))
            .map_err(fail)
    })
    .await
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    StrictJson(req): StrictJson<CreateVm>,
) -> Response {
    streamed(move |progress| async move {
        let lock = state.vm_lock(req.name.as_deref().unwrap_or("")).await;
        let _guard = lock.lock().await;
        let made = vm::create(&env(&state), req, &mut |p| progress.try_send(p)).await;
        if made.as_ref().is_ok_and(|vm| vm.claimed_warm) {
            // A claim leaves the pool short: refill now.
            state.warm.wake.notify_one();
        }
        made.map_err(fail)
    })
}

#[derive(Debug, Clone, Copy)]
enum Power {
    Start,
    Stop,
}

/// Start or stop, streamed, under the VM's lock.
fn power(state: Arc<AppState>, name: String, op: Power) -> Response {
    streamed(move |progress| async move {
        let lock = state.vm_lock(&name).await;
        if let Power::Stop = op {
            state.preempt.claim(&name);
        }
        let _guard = lock.lock().await;
        let env = env(&state);
        let mut report = |p| progress.try_send(p);
        match op {
            Power::Start => vm::start(&env, &name, &mut report).await,
            Power::Stop => vm::stop(&env, &name, &mut report).await,
        }
        .map_err(fail)
    })
}

pub async fn start(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    StrictJson(VmAction {}): StrictJson<VmAction>,
) -> Response {
    power(state, name, Power::Start)
}

pub async fn stop(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    StrictJson(VmAction {}): StrictJson<VmAction>,
) -> Response {
    power(state, name, Power::Stop)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<VmDeleted>, ApiFailure> {
    let lock = state.vm_lock(&name).await;
    state.preempt.claim(&name);
    let _guard = lock.lock().await;
    vm::delete(&env(&state), &name, q.force)
        .await
        .map(Json)
        .map_err(fail)
}

pub async fn host_keys(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    StrictJson(VmAction {}): StrictJson<VmAction>,
) -> Result<Json<Vm>, ApiFailure> {
    let lock = state.vm_lock(&name).await;
    let _guard = lock.lock().await;
    let vm = vm::learn_host_keys(&env(&state), &name)
        .await
        .map_err(fail)?;
    Ok(Json(state.with_metrics(vm)))
}

pub async fn ports(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<VmPorts>, ApiFailure> {
    let (ip, ports) = vm::ports(&env(&state), &name).await.map_err(fail)?;
    Ok(Json(VmPorts { ip, ports }))
}

/// The VM's opencode URL and password: asked for explicitly, on the
/// daemon's socket only (not among the web UI's read-only routes).
pub async fn opencode(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<OpencodeAccess>, ApiFailure> {
    blocking(move || {
        vm::opencode::access(&env(&state), &name)
            .map(Json)
            .map_err(fail)
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleQuery {
    #[serde(default)]
    offset: u64,
}

pub async fn console(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<ConsoleQuery>,
) -> Result<Json<ConsoleChunk>, ApiFailure> {
    blocking(move || {
        vm::console(&env(&state), &name, q.offset)
            .map(|(data, next_offset)| Json(ConsoleChunk { data, next_offset }))
            .map_err(fail)
    })
    .await
}

/// `POST /v1/vms/{name}/exec` with an upgrade: the command starts (errors
/// answer as usual), then the connection relays the agent's frames.
pub async fn exec(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    super::upgrade::Upgrade(on_upgrade): super::upgrade::Upgrade,
    StrictJson(req): StrictJson<banger_api::vm::ExecRequest>,
) -> Result<Response, ApiFailure> {
    let (agent, stall) = vm::exec::open(&env(&state), &name, req)
        .await
        .map_err(fail)?;
    let held = state.busy.hold(&name);
    super::upgrade::relay(
        on_upgrade,
        agent,
        format!("exec in {name}"),
        held,
        crate::vmm::stall::stuck(stall),
    );
    Ok(super::upgrade::switching())
}

/// `POST /v1/vms/{name}/workspace`: a host checkout into the VM, streamed,
/// under the VM's lock; a stop or delete interrupts it (crate::preempt).
pub async fn workspace(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    StrictJson(req): StrictJson<banger_api::workspace::PrepareWorkspace>,
) -> Response {
    streamed(move |progress| async move {
        let lock = state.vm_lock(&name).await;
        let watch = state.preempt.watch(&name);
        let _guard = lock.lock().await;
        let env = env(&state);
        let mut report = |p| progress.try_send(p);
        let work = crate::workspace::prepare(&env, &name, req, &mut report);
        watch
            .run("the workspace prepare", work)
            .await
            .map_err(|e| ApiFailure::from_error(banger_api::ErrorKind::Conflict, &e))?
            .map_err(|e| ApiFailure::from_error(e.kind(), &e))
    })
}

/// `POST /v1/workspaces/check`: a prepare's refusals, without a VM.
pub async fn workspace_check(
    StrictJson(req): StrictJson<banger_api::workspace::PrepareWorkspace>,
) -> Result<Json<banger_api::workspace::WorkspaceCheck>, ApiFailure> {
    crate::workspace::check(req)
        .await
        .map(Json)
        .map_err(|e| ApiFailure::from_error(e.kind(), &e))
}

/// `POST /v1/vms/{name}/workspace/export`: the guest's work as a host branch.
pub async fn workspace_export(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    StrictJson(req): StrictJson<banger_api::workspace::ExportWorkspace>,
) -> Result<Json<banger_api::workspace::ExportedWorkspace>, ApiFailure> {
    let lock = state.vm_lock(&name).await;
    let watch = state.preempt.watch(&name);
    let _guard = lock.lock().await;
    watch
        .run(
            "the workspace export",
            crate::workspace::export(&env(&state), &name, req),
        )
        .await
        .map_err(|e| ApiFailure::from_error(banger_api::ErrorKind::Conflict, &e))?
        .map(Json)
        .map_err(|e| ApiFailure::from_error(e.kind(), &e))
}
