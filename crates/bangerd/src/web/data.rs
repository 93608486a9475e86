//! The JSON the pages are drawn from: what the API's routes give, with
//! what only a page wants (metrics history, time until auto-stop, disks,
//! the commands to reach a VM). Reading never counts as using a VM.

use crate::api::{ApiFailure, blocking};
use crate::state::AppState;
use crate::store::VmRow;
use crate::vm;
use axum::Json;
use axum::extract::{Path, State};
use banger_api::vm::{Vm, VmState};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How long a page waits for a guest's agent (sessions, ports).
const GUEST_WAIT: Duration = Duration::from_secs(5);

pub async fn overview(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiFailure> {
    blocking(move || {
        let mut vms = Vec::new();
        for row in state.store.vms().map_err(|e| fail(e.into()))? {
            let mut row = row;
            vm::refresh(&state.paths, &state.store, &mut row).map_err(fail)?;
            let view = vm::view(&state.paths, &state.store, &row).map_err(fail)?;
            vms.push(vm_json(&state, &row, view));
        }
        // Problems first: a crashed VM or one with an error is what a user
        // opens the page for.
        vms.sort_by_key(|v| {
            let problem = v["state"] == "crashed" || !v["last_error"].is_null();
            (!problem, v["name"].as_str().unwrap_or_default().to_owned())
        });
        let vmm = match &state.vmm {
            Ok(c) => json!({ "backend": c.vmm.backend().as_str(), "reason": c.reason }),
            Err(e) => json!({ "backend": null, "reason": e.to_string() }),
        };
        Ok(Json(json!({
            "now": crate::clock::unix_now(),
            "daemon": {
                "version": banger_api::VERSION,
                "pid": std::process::id(),
                "uptime_secs": state.started.elapsed().as_secs(),
                "socket": state.paths.socket().display().to_string(),
                "data_dir": state.paths.data_dir.display().to_string(),
                "log_file": state.paths.log_file().display().to_string(),
                "vmm": vmm,
                "auto_stop_after_secs": state.config.auto_stop_stale_after.map(|d| d.as_secs()),
                "previous_run_unclean": state.previous_run_unclean,
                "warm_pool": crate::warm::summary(&state),
            },
            "vms": vms,
        })))
    })
    .await
}

pub async fn vm(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let st = state.clone();
    let n = name.clone();
    let (row, mut out) = blocking(move || {
        let mut row = vm::row(&st.store, &n).map_err(fail)?;
        vm::refresh(&st.paths, &st.store, &mut row).map_err(fail)?;
        let view = vm::view(&st.paths, &st.store, &row).map_err(fail)?;
        let out = vm_json(&st, &row, view);
        Ok((row, out))
    })
    .await?;
    let env = state.vm_env();
    out["sessions"] =
        match tokio::time::timeout(GUEST_WAIT, crate::session::list(&env, &name)).await {
            Ok(Ok(s)) => json!(s),
            // Not running, or the guest is slow: what was last recorded.
            _ => json!(state.store.sessions(&row.id).unwrap_or_default()),
        };
    let dir = state.paths.vm_dir(&row.id);
    out["disks"] = json!(
        [("rootfs", dir.rootfs()), ("work", dir.work())]
            .iter()
            .map(|(what, path)| {
                use std::os::unix::fs::MetadataExt;
                let meta = std::fs::metadata(path).ok();
                json!({
                    "disk": what,
                    "path": path.display().to_string(),
                    "bytes": meta.as_ref().map(|m| m.len()),
                    "allocated_bytes": meta.as_ref().map(|m| m.blocks() * 512),
                })
            })
            .collect::<Vec<_>>()
    );
    out["workspaces"] = json!(
        state
            .store
            .workspaces(&row.id)
            .unwrap_or_default()
            .iter()
            .map(|w| json!({
                "host_path": w.host_path,
                "guest_path": w.guest_path,
                "mode": w.mode,
                "readonly": w.readonly,
                "prepared_at": w.prepared_at,
            }))
            .collect::<Vec<_>>()
    );
    out["commands"] = json!(commands(&row, &out["sessions"]));
    Ok(Json(out))
}

/// The guest's listening ports: asked on the page's load, not on every
/// event (it is a call into the guest).
pub async fn ports(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let env = state.vm_env();
    match tokio::time::timeout(GUEST_WAIT, vm::ports_looked_at(&env, &name)).await {
        Ok(Ok((ip, ports))) => Ok(Json(json!({ "ip": ip, "ports": ports }))),
        Ok(Err(e)) => Err(fail(e)),
        Err(_) => Err(ApiFailure::message(
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            format!("the guest's agent did not list its ports within {GUEST_WAIT:?}"),
        )),
    }
}

fn vm_json(state: &AppState, row: &VmRow, view: Vm) -> Value {
    let view = state.with_metrics(view);
    let mut v = json!(view);
    let history: Vec<Value> = state
        .metrics_history(&row.id)
        .iter()
        .map(|(t, m)| json!([t, m.cpu_percent, m.rss_mib]))
        .collect();
    v["history"] = json!(history);
    v["last_activity"] = json!(row.last_activity);
    // When the monitor will stop it as idle, if it stays idle.
    v["auto_stop_at"] = json!(match (row.state, state.config.auto_stop_stale_after) {
        (VmState::Running, Some(after)) => row
            .last_activity
            .or(row.started_at)
            .map(|t| t + after.as_secs()),
        _ => None,
    });
    v
}

fn commands(row: &VmRow, sessions: &Value) -> Vec<String> {
    let name = &row.name;
    let mut out = match row.state {
        VmState::Running => vec![
            format!("banger vm ssh {name}"),
            format!("banger vm exec {name} -- uname -a"),
            format!("banger vm ports {name}"),
        ],
        _ => vec![format!("banger vm start {name}")],
    };
    for s in sessions.as_array().into_iter().flatten() {
        if s["state"] == "running"
            && let Some(s) = s["name"].as_str()
        {
            out.push(format!("banger vm session attach {name} {s}"));
        }
    }
    out.push(format!("banger vm logs {name}"));
    out.push(format!("banger vm delete {name}"));
    out
}

fn fail(e: vm::VmError) -> ApiFailure {
    ApiFailure::from_error(e.kind(), &e)
}
