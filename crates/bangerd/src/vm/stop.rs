//! `vm stop` (the agent asks the guest to shut down; the backend's own way
//! next; the VMM terminated last) and `vm delete`.

use super::boot::refill_taps;
use super::{VmEnv, VmError, blocking, refresh, row, view};
use crate::agent::AgentClient;
use crate::vmm::process;
use banger_api::progress::{Progress, Stage};
use banger_api::vm::{Vm, VmDeleted, VmState};
use std::time::{Duration, Instant};

pub async fn stop(
    env: &VmEnv<'_>,
    name: &str,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vm, VmError> {
    let mut vm = row(env.store, name)?;
    refresh(env.paths, env.store, &mut vm)?;
    if vm.state != VmState::Running {
        return view(env.paths, env.store, &vm);
    }
    let dir = env.paths.vm_dir(&vm.id);
    let vmm = vm.vmm_pid.expect("running VMs have a VMM");
    progress(Progress::step(Stage::Stop, "asking the guest to shut down"));
    let client = AgentClient::hybrid_vsock(&dir.vsock());
    let agreed = matches!(
        tokio::time::timeout(Duration::from_secs(5), client.shutdown()).await,
        Ok(Ok(()))
    );
    let mut asked = agreed;
    // The backend's own way, when it is the one that booted this VM.
    let backend = env
        .vmm
        .as_ref()
        .ok()
        .map(|c| &c.vmm)
        .filter(|v| v.backend().as_str() == vm.backend);
    if !asked && let Some(backend) = backend {
        progress(Progress::step(
            Stage::Stop,
            "the agent did not answer; asking the VMM to stop the guest",
        ));
        asked = backend.request_shutdown(&dir).await;
    }
    // A guest whose agent agreed gets time for a clean shutdown (slow under
    // emulation); one whose agent is silent (dead, or hostile) gets little:
    // it must not hold `vm stop` for long.
    let grace = match (agreed, asked) {
        (true, _) => Duration::from_secs(60),
        (false, true) => Duration::from_secs(10),
        (false, false) => Duration::ZERO,
    };
    let deadline = Instant::now() + grace;
    while process::is_ours(vmm, &dir) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if process::is_ours(vmm, &dir) {
        progress(Progress::step(
            Stage::Stop,
            "the guest did not stop by itself; terminating the VMM",
        ));
        blocking(|| process::terminate(vmm, &dir, Duration::from_secs(10)));
    }
    if let Some(helper) = vm.helper_pid {
        blocking(|| process::terminate(helper, &dir, Duration::from_secs(2)));
    }
    vm.state = VmState::Stopped;
    vm.vmm_pid = None;
    vm.helper_pid = None;
    vm.tap = None;
    env.store.update_vm_run(&vm)?;
    env.store.end_sessions(&vm.id, crate::clock::unix_now())?;
    refill_taps(env);
    tracing::info!(vm = %vm.name, clean = asked, "VM stopped");
    view(env.paths, env.store, &vm)
}

pub async fn delete(env: &VmEnv<'_>, name: &str, force: bool) -> Result<VmDeleted, VmError> {
    let mut vm = row(env.store, name)?;
    refresh(env.paths, env.store, &mut vm)?;
    let dir = env.paths.vm_dir(&vm.id);
    if vm.state == VmState::Running {
        if !force {
            return Err(VmError::Running(vm.name));
        }
        blocking(|| {
            for pid in [vm.vmm_pid, vm.helper_pid].into_iter().flatten() {
                process::terminate(pid, &dir, Duration::from_secs(5));
            }
        });
    }
    if dir.exists() {
        crate::staging::remove_atomically(env.paths, &dir).map_err(|source| VmError::Io {
            what: format!("removing {}", dir.display()),
            source,
        })?;
    }
    env.store.delete_vm(&vm.id)?;
    super::ssh::write_known_hosts(env.paths, env.store)?;
    refill_taps(env);
    tracing::info!(vm = %vm.name, "deleted VM");
    Ok(VmDeleted { name: vm.name })
}
