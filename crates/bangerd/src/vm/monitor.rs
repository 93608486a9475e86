//! The daemon's watch over running VMs: every `stats_poll_interval` a VMM
//! that died is noticed (and recorded as crashed) without anyone asking;
//! every `metrics_poll_interval` the VMM's CPU use and resident memory are
//! sampled from /proc for `vm list` and `vm show`. With
//! `auto_stop_stale_after`, VMs idle that long are stopped (see idle.rs).

use crate::state::AppState;
use banger_api::vm::VmState;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One VMM's resource use, from two samples of its CPU time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    pub cpu_percent: f64,
    pub rss_mib: u64,
}

/// CPU ticks (utime + stime) and resident memory of a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    ticks: u64,
    rss_kib: u64,
    at: Instant,
}

pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is 3rd, utime 14th, stime 15th.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Some(Sample {
        ticks,
        rss_kib,
        at: Instant::now(),
    })
}

/// CPU use between two samples, as a percentage of one CPU.
pub fn metrics(before: Sample, after: Sample) -> Metrics {
    let ticks_per_sec = rustix::param::clock_ticks_per_second() as f64;
    let secs = after.at.duration_since(before.at).as_secs_f64().max(1e-3);
    let cpu = after.ticks.saturating_sub(before.ticks) as f64 / ticks_per_sec / secs * 100.0;
    Metrics {
        cpu_percent: (cpu * 10.0).round() / 10.0,
        rss_mib: after.rss_kib / 1024,
    }
}

/// Runs until the daemon stops.
pub async fn run(state: Arc<AppState>) {
    let stats_every = state.config.stats_poll_interval;
    let metrics_every = state.config.metrics_poll_interval;
    let mut last_metrics = Instant::now() - metrics_every;
    let mut samples: HashMap<String, Sample> = HashMap::new();
    loop {
        tokio::time::sleep(stats_every.min(metrics_every).min(Duration::from_secs(60))).await;
        let Ok(vms) = state.store.vms() else { continue };
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
            if let Err(e) = super::refresh(&state.paths, &state.store, &mut vm) {
                tracing::warn!(vm = %vm.name, error = %e, "checking VM");
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
                        state.set_metrics(&vm.id, metrics(before, now));
                    }
                }
                (VmState::Running, _) => {}
                _ => {
                    samples.remove(&vm.id);
                    state.clear_metrics(&vm.id);
                }
            }
        }
    }
}

/// Records an SSH connection as activity; stops the VM (returning true)
/// when it has been idle for `auto_stop_stale_after`.
async fn stop_if_idle(state: &AppState, vm: &mut crate::store::VmRow) -> bool {
    let now = crate::server::unix_now();
    let ip = vm.ip.as_deref().and_then(|i| i.parse().ok());
    if ip.is_some_and(|ip| super::idle::connected_to(ip, 22)) {
        vm.last_activity = Some(now);
        if let Err(e) = state.store.touch_vm(&vm.id, now) {
            tracing::warn!(vm = %vm.name, error = %e, "recording activity");
        }
    }
    let Some(limit) = state.config.auto_stop_stale_after else {
        return false;
    };
    let idle = now.saturating_sub(super::idle::idle_since(vm.started_at, vm.last_activity));
    if idle < limit.as_secs() {
        return false;
    }
    tracing::info!(vm = %vm.name, idle_secs = idle, "stopping idle VM (auto_stop_stale_after)");
    let mut quiet = |_| {};
    match super::stop(&state.vm_env(), &vm.name, &mut quiet).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(vm = %vm.name, error = %e, "stopping idle VM");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_process_shows_cpu_and_memory() {
        let mut busy = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let before = sample(busy.id()).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let after = sample(busy.id()).unwrap();
        busy.kill().unwrap();
        busy.wait().unwrap();
        let m = metrics(before, after);
        assert!(m.cpu_percent > 20.0, "{m:?}");
        assert!(sample(std::process::id()).unwrap().rss_kib > 1024);
        assert!(sample(u32::MAX).is_none());
    }
}
