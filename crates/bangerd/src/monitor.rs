//! The daemon's watch over running VMs: every `stats_poll_interval` a VMM
//! that died is noticed (and recorded as crashed) without anyone asking;
//! every `metrics_poll_interval` the VMM's CPU use and resident memory are
//! sampled from /proc for `vm list` and `vm show`. With
//! `auto_stop_stale_after`, VMs idle that long are stopped (see vm/idle.rs).
//! Each tick also rotates the VMs' logs and the daemon's (log_rotation),
//! and a running guest found stuck (vmm::stall) gets that as its error,
//! shown by `vm show` and `vm list` while it still runs.
//! A daemon service over the VM core: it reads the daemon's state, the VM
//! core never reads it.

use crate::state::AppState;
use crate::vm;
use crate::vmm::metrics::{Sample, metrics, sample};
use crate::vmm::stall::StallWatch;
use banger_api::session::SessionState;
use banger_api::vm::VmState;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs until the daemon stops.
pub async fn run(state: Arc<AppState>) {
    let stats_every = state.config.stats_poll_interval;
    let metrics_every = state.config.metrics_poll_interval;
    let mut last_metrics = Instant::now() - metrics_every;
    let mut samples: HashMap<String, Sample> = HashMap::new();
    let mut stalls = Stalls::default();
    loop {
        tokio::time::sleep(stats_every.min(metrics_every).min(Duration::from_secs(60))).await;
        let Ok(vms) = state.store.vms() else { continue };
        rotate_logs(&state.paths, &vms).await;
        stalls.forget_all_but(&vms);
        let take_metrics = last_metrics.elapsed() >= metrics_every;
        if take_metrics {
            last_metrics = Instant::now();
        }
        for mut vm in vms.into_iter().filter(|v| v.state == VmState::Running) {
            // A VM in the middle of start/stop/delete is that operation's business.
            let lock = state.vm_lock(&vm.name).await;
            let Ok(_guard) = lock.try_lock() else {
                continue;
            };
            if let Err(e) = vm::refresh(&state.paths, &state.store, &mut vm) {
                tracing::warn!(vm = %vm.name, error = %e, "checking VM");
            }
            if vm.state == VmState::Running {
                stalls.check(&state, &mut vm);
            }
            if vm.state == VmState::Running && stop_if_idle(&state, &mut vm).await {
                samples.remove(&vm.id);
                state.clear_metrics(&vm.id);
                continue;
            }
            match (vm.state, vm.vmm_pid) {
                (VmState::Running, Some(pid)) if take_metrics => {
                    if let Some(now) = sample(pid)
                        && let Some(before) = samples.insert(vm.id.clone(), now)
                    {
                        state.set_metrics(&vm.id, crate::clock::unix_now(), metrics(before, now));
                    }
                }
                (VmState::Running, _) => {}
                _ => {
                    samples.remove(&vm.id);
                    state.clear_metrics(&vm.id);
                }
            }
        }
        if take_metrics {
            // One event a round, whatever the number of VMs.
            state.events.publish(crate::events::Topic::Metrics);
        }
    }
}

/// Keeps every VM's logs and the daemon's own to `log_rotation::CAP`
/// (a guest can print without end); the copying runs off the async threads.
pub async fn rotate_logs(paths: &banger_config::Paths, vms: &[crate::store::VmRow]) {
    let mut logs: Vec<_> = vms
        .iter()
        .flat_map(|v| crate::log_rotation::vm_logs(&paths.vm_dir(&v.id)))
        .collect();
    logs.push((paths.log_file(), crate::log_rotation::Keep::Rotate));
    let _ = tokio::task::spawn_blocking(move || {
        crate::log_rotation::rotate_all(
            logs.iter().map(|(p, k)| (p.as_path(), *k)),
            crate::log_rotation::CAP,
        )
    })
    .await;
}

/// Records an SSH connection or a `vm exec` in flight as activity; stops
/// the VM (returning true) when it has been idle for
/// `auto_stop_stale_after` and runs no session.
async fn stop_if_idle(state: &AppState, vm: &mut crate::store::VmRow) -> bool {
    // A warm VM is idle by design; the pool's service owns it.
    if vm.warm.is_some() {
        return false;
    }
    let now = crate::clock::unix_now();
    let ip = vm.ip.as_deref().and_then(|i| i.parse().ok());
    if ip.is_some_and(|ip| vm::idle::connected_to(ip, 22)) || state.busy.is_busy(&vm.name) {
        active(state, vm, now);
    }
    let Some(limit) = state.config.auto_stop_stale_after else {
        return false;
    };
    let idle = now.saturating_sub(vm::idle::idle_since(vm.started_at, vm.last_activity));
    if idle < limit.as_secs() {
        return false;
    }
    // Asked only now, so an idle VM costs its agent one request per check.
    match crate::session::list(&state.vm_env(), &vm.name).await {
        Ok(sessions) if sessions.iter().any(|s| s.state == SessionState::Running) => {
            active(state, vm, now);
            return false;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(vm = %vm.name, error = %e, "listing sessions before an idle stop")
        }
    }
    tracing::info!(vm = %vm.name, idle_secs = idle, "stopping idle VM (auto_stop_stale_after)");
    let mut quiet = |_| {};
    match vm::stop(&state.vm_env(), &vm.name, &mut quiet).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(vm = %vm.name, error = %e, "stopping idle VM");
            false
        }
    }
}

fn active(state: &AppState, vm: &mut crate::store::VmRow, now: u64) {
    vm.last_activity = Some(now);
    if let Err(e) = state.store.touch_vm(&vm.id, now) {
        tracing::warn!(vm = %vm.name, error = %e, "recording activity");
    }
}

/// One stall watch per running VM (per VMM process: a restart starts
/// afresh), and whether its stall was recorded (once: the verdict holds).
#[derive(Default)]
struct Stalls(HashMap<(String, u32), (StallWatch, bool)>);

impl Stalls {
    fn forget_all_but(&mut self, vms: &[crate::store::VmRow]) {
        self.0.retain(|(id, pid), _| {
            vms.iter()
                .any(|v| v.id == *id && v.vmm_pid == Some(*pid) && v.state == VmState::Running)
        });
    }

    fn check(&mut self, state: &AppState, vm: &mut crate::store::VmRow) {
        let Some(pid) = vm.vmm_pid else { return };
        let (watch, recorded) = self.0.entry((vm.id.clone(), pid)).or_insert_with(|| {
            let console = state.paths.vm_dir(&vm.id).console();
            (StallWatch::since_boot(console, pid), false)
        });
        if *recorded {
            return;
        }
        let Some(stall) = watch.check() else { return };
        *recorded = true;
        tracing::warn!(vm = %vm.name, "{stall}");
        vm.last_error = Some(stall.to_string());
        if let Err(e) = state.store.update_vm_run(vm) {
            tracing::warn!(vm = %vm.name, error = %e, "recording a stuck guest");
        }
    }
}
