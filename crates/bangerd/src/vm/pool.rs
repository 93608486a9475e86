//! The warm pool: per image named by `warm_pool_images` (the default image
//! when empty), `warm_pool_size` VMs booted ahead of need. Each is an
//! ordinary VM made and booted on its own (its own disks, address, CID,
//! host keys, machine-id, opencode password, entropy), recorded with
//! `warm` = booting, then ready. A create that matches (image, vCPUs,
//! memory, work disk) claims one in a single statement, which renames it;
//! the claim then makes it the user's: hostname, clock stepped to the
//! host's, the guest RNG reseeded from the host, the coding agents'
//! credentials synced. A user's VM is never refused for the pool: a create
//! short of addresses or memory deletes warm VMs first.
//!
//! This module is the VM core's side; `crate::warm` is the daemon service
//! that keeps the pool filled.

use super::create::{Plan, default_size, make};
use super::{VmEnv, VmError, refresh, view};
use crate::agent::AgentClient;
use crate::store::{VmRow, Warm};
use banger_api::progress::{Progress, Stage};
use banger_api::vm::{Vm, VmState};
use std::time::Duration;

/// Memory left to the host beyond a warm VM's own before the pool grows.
const FILL_HEADROOM_MIB: u64 = 1024;
/// Memory a user's create wants free beyond the VM's before it boots; the
/// pool gives way until there is.
const CREATE_HEADROOM_MIB: u64 = 256;

/// The images the pool keeps warm.
pub fn images(env: &VmEnv<'_>) -> Vec<String> {
    if env.config.warm_pool_size == 0 {
        return Vec::new();
    }
    if env.config.warm_pool_images.is_empty() {
        return env.config.default_image_name.iter().cloned().collect();
    }
    env.config.warm_pool_images.clone()
}

/// The warm-pool VMs, all images.
pub fn members(env: &VmEnv<'_>) -> Result<Vec<VmRow>, VmError> {
    Ok(env
        .store
        .vms()?
        .into_iter()
        .filter(|v| v.warm.is_some())
        .collect())
}

/// A name no VM has: `warm-` and 8 random hex digits.
fn fresh_name(env: &VmEnv<'_>) -> Result<String, VmError> {
    let taken: Vec<String> = env.store.vms()?.into_iter().map(|v| v.name).collect();
    loop {
        let name = format!("warm-{}", crate::staging::random_hex(4));
        if !taken.contains(&name) {
            return Ok(name);
        }
    }
}

/// The memory the host could still give (`MemAvailable`), in MiB; `None`
/// where /proc/meminfo cannot be read.
pub fn available_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// Whether the host has room for one more warm VM of `memory_mib`.
pub fn room_for(memory_mib: u32) -> bool {
    available_mib().is_none_or(|free| free >= u64::from(memory_mib) + FILL_HEADROOM_MIB)
}

/// Boots one warm VM of `image` (the default size) into the pool.
/// Returns its name.
pub async fn fill_one(env: &VmEnv<'_>, image: &str) -> Result<String, VmError> {
    let (vcpus, memory_mib, work_mib) = default_size(env)?;
    let image = env
        .store
        .image(image)?
        .ok_or_else(|| VmError::ImageNotFound(image.to_owned()))?;
    let name = fresh_name(env)?;
    let plan = Plan {
        image,
        name: name.clone(),
        vcpus,
        memory_mib,
        work_mib,
    };
    // Made stopped, then booted: a failed boot is deleted here, not left
    // crashed in the user's `vm list`.
    let made = make(env, plan, true, Some(Warm::Booting), &mut |_| {}).await?;
    match super::start(env, &made.name, &mut |_| {}).await {
        Ok(_) => {
            env.store.set_warm(&made.id, Warm::Ready)?;
            tracing::info!(vm = %name, image = %made.image, "warm VM ready");
            Ok(name)
        }
        Err(e) => {
            let _ = super::delete(env, &made.name, true).await;
            Err(e)
        }
    }
}

/// The size of a VM's work disk, in MiB.
fn work_mib(env: &VmEnv<'_>, vm: &VmRow) -> Option<u64> {
    let len = std::fs::metadata(env.paths.vm_dir(&vm.id).work())
        .ok()?
        .len();
    Some(len >> 20)
}

/// Claims a ready warm VM matching `plan` for the user: renamed to the
/// plan's name and made theirs (see `personalize`). `None` when none is
/// ready (the caller boots one cold).
pub(super) async fn claim(
    env: &VmEnv<'_>,
    plan: &Plan,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Option<Vm>, VmError> {
    let ready = members(env)?.into_iter().filter(|v| {
        v.warm == Some(Warm::Ready)
            && v.image_id == plan.image.id
            && v.vcpus == plan.vcpus
            && v.memory_mib == plan.memory_mib
            && work_mib(env, v) == Some(plan.work_mib)
    });
    for mut vm in ready {
        refresh(env.paths, env.store, &mut vm)?;
        if vm.state != VmState::Running {
            // Its VMM died: the pool's service removes it.
            continue;
        }
        let now = crate::clock::unix_now();
        if !env.store.claim_warm(&vm.id, &plan.name, now)? {
            continue;
        }
        let was = std::mem::replace(&mut vm.name, plan.name.clone());
        vm.warm = None;
        progress(Progress::step(
            Stage::Claim,
            format!("{} from the warm pool ({was})", vm.name),
        ));
        match personalize(env, &vm).await {
            Ok(()) => {
                super::ssh::write_known_hosts(env.paths, env.store)?;
                tracing::info!(vm = %vm.name, warm = %was, "claimed a warm VM");
                let mut out = view(env.paths, env.store, &vm)?;
                out.claimed_warm = true;
                return Ok(Some(out));
            }
            Err(e) => {
                // Never hand out a VM that is not wholly the user's.
                tracing::warn!(vm = %vm.name, error = %e, "a claimed warm VM could not be made the user's; deleting it and booting one cold");
                let _ = super::delete(env, &vm.name, true).await;
                return Ok(None);
            }
        }
    }
    Ok(None)
}

/// What makes a claimed VM the user's and unlike its pool siblings, in one
/// guest command: the hostname (in the kernel, /etc/hostname and the
/// 127.0.1.1 line of /etc/hosts, as the agent writes it at boot), the
/// clock stepped to the host's (a warm VM may have sat for hours under a
/// drifting emulated clock), the RNG reseeded with 64 bytes from the host
/// (written to /dev/urandom: mixed in, so siblings' streams part even if
/// their boots had drawn alike); then the coding agents' credentials as
/// the host has them now.
async fn personalize(env: &VmEnv<'_>, vm: &VmRow) -> Result<(), VmError> {
    let agent = AgentClient::hybrid_vsock(&env.paths.vm_dir(&vm.id).vsock());
    let seed = crate::staging::random_bytes(64);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
    let script = r#"set -e
printf '%s' "$1" > /proc/sys/kernel/hostname
if [ -f /etc/hostname ]; then printf '%s\n' "$1" > /etc/hostname; fi
{ grep -v '^127\.0\.1\.1[[:space:]]' /etc/hosts 2>/dev/null || true; printf '127.0.1.1\t%s\n' "$1"; } > /etc/.hosts.banger
mv /etc/.hosts.banger /etc/hosts
date -u -s "@$2" >/dev/null 2>&1 || date -u -s "@${2%.*}" >/dev/null
cat > /dev/urandom
"#;
    let out = agent
        .exec_input(
            &["/bin/sh", "-c", script, "banger-claim", &vm.name, &stamp],
            None,
            &[],
            &seed[..],
        )
        .await?;
    if out.status != 0 {
        return Err(VmError::Claim(format!(
            "the guest's claim script exited with {}: {}",
            out.status,
            banger_api::text::printable(String::from_utf8_lossy(&out.stderr).trim())
        )));
    }
    if let Some(home) = &env.paths.home {
        let synced = super::auth::sync_running(home, &agent).await?;
        if !synced.is_empty() {
            tracing::info!(vm = %vm.name, files = ?synced, "synced the coding agents' credentials");
        }
    }
    Ok(())
}

/// Deletes one ready warm VM to give its address and memory to a user's
/// VM (one still booting is its boot's business). Whether one went.
pub async fn evict_one(env: &VmEnv<'_>) -> bool {
    for vm in members(env).unwrap_or_default() {
        if take_and_remove(env, &vm, true).await {
            tracing::info!(vm = %vm.name, "deleted a warm VM to make room for a user's VM");
            return true;
        }
    }
    false
}

/// Removes warm VM `vm` if it is still the pool's (and ready, with
/// `only_ready`): taken out of the claimable set first, so a claim racing
/// this either won it before (and it is left alone) or cannot now.
pub async fn take_and_remove(env: &VmEnv<'_>, vm: &VmRow, only_ready: bool) -> bool {
    match env.store.take_warm(&vm.id, only_ready) {
        Ok(true) => remove(env, vm).await,
        Ok(false) => false,
        Err(e) => {
            tracing::warn!(vm = %vm.name, error = %e, "taking a warm VM back");
            false
        }
    }
}

/// Deletes the ready warm VMs of image `name`, so that deleting the image
/// is not refused for VMs no one owns. (One still booting holds the image
/// until its boot ends; the refusal then names it.)
pub async fn release_image(env: &VmEnv<'_>, name: &str) -> usize {
    let Ok(Some(image)) = env.store.image(name) else {
        return 0;
    };
    let mut gone = 0;
    for vm in members(env).unwrap_or_default() {
        if vm.image_id == image.id && take_and_remove(env, &vm, true).await {
            gone += 1;
        }
    }
    gone
}

/// Deletes warm VMs while the host has less than `memory_mib` (and a
/// margin) available.
pub async fn make_room(env: &VmEnv<'_>, memory_mib: u32) {
    let want = u64::from(memory_mib) + CREATE_HEADROOM_MIB;
    while available_mib().is_some_and(|free| free < want) {
        if !evict_one(env).await {
            return;
        }
    }
}

/// Removes a VM whatever its state, the processes a boot cut short left
/// included (callers take it from the pool first: `take_and_remove`).
async fn remove(env: &VmEnv<'_>, vm: &VmRow) -> bool {
    let dir = env.paths.vm_dir(&vm.id);
    let deleted = super::delete(env, &vm.name, true).await;
    let leftover = crate::vmm::process::all_for(&dir);
    if !leftover.is_empty() {
        super::blocking(|| {
            for pid in leftover {
                crate::vmm::process::terminate(pid, &dir, Duration::from_secs(2));
            }
        });
    }
    match deleted {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(vm = %vm.name, error = %e, "deleting a warm VM");
            false
        }
    }
}

/// Deletes every warm VM (daemon stop and start: the pool never outlives
/// the daemon that keeps it).
pub async fn drain(env: &VmEnv<'_>) -> usize {
    let mut gone = 0;
    for vm in members(env).unwrap_or_default() {
        if take_and_remove(env, &vm, false).await {
            gone += 1;
        }
    }
    gone
}

/// Warm VMs the pool should no longer hold: ones whose VMM died, of images
/// no longer kept warm, or beyond `warm_pool_size`; (booting ones are the
/// filler's own business and are left alone).
pub fn surplus(env: &VmEnv<'_>) -> Result<Vec<VmRow>, VmError> {
    let wanted = images(env);
    let mut kept: std::collections::HashMap<String, u32> = Default::default();
    let mut out = Vec::new();
    for mut vm in members(env)? {
        if vm.warm != Some(Warm::Ready) {
            continue;
        }
        refresh(env.paths, env.store, &mut vm)?;
        let image = env.store.image_by_id(&vm.image_id)?.map(|i| i.name);
        let count = kept.entry(vm.image_id.clone()).or_default();
        let keep = vm.state == VmState::Running
            && image.is_some_and(|i| wanted.contains(&i))
            && *count < env.config.warm_pool_size;
        if keep {
            *count += 1;
        } else {
            out.push(vm);
        }
    }
    Ok(out)
}
