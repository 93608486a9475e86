//! `vm create`: checks, the record (name, CID, address), the disks and the
//! guest parts; then a boot unless `--no-start`. Nothing half-made stays.

use super::{VmEnv, VmError, blocking, boot, disks, inject, names, opencode, view};
use crate::store::{StoreError, VmRow, Warm};
use banger_api::progress::{Progress, Stage};
use banger_api::vm::{CreateVm, Vm, VmState};
use std::path::Path;

const DEFAULT_WORK_MIB: u64 = 8192;
const DEFAULT_MEMORY_MIB: u32 = 1024;

fn range(what: &'static str, value: u64, min: u64, max: u64) -> Result<u64, VmError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(VmError::OutOfRange {
            what,
            value,
            min,
            max,
        })
    }
}

/// What a create asked for, checked: the image, the name and the VM's size.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub image: banger_api::image::Image,
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u32,
    pub work_mib: u64,
}

/// The size a warm-pool VM is made with: what a create asking for nothing
/// gets.
pub fn default_size(env: &VmEnv<'_>) -> Result<(u32, u32, u64), VmError> {
    let vcpus = env.vmm()?.vmm.default_vcpus();
    Ok((vcpus, DEFAULT_MEMORY_MIB, DEFAULT_WORK_MIB))
}

pub(super) fn plan(env: &VmEnv<'_>, req: &CreateVm) -> Result<Plan, VmError> {
    let image_name = req
        .image
        .clone()
        .or_else(|| env.config.default_image_name.clone())
        .ok_or(VmError::NoImage)?;
    let image = env
        .store
        .image(&image_name)?
        .ok_or(VmError::ImageNotFound(image_name))?;
    let taken: Vec<String> = env.store.vms()?.into_iter().map(|v| v.name).collect();
    let name = match &req.name {
        Some(n) => {
            banger_config::config::check_name(n).map_err(VmError::InvalidName)?;
            n.clone()
        }
        None => names::generate(&taken),
    };
    if taken.contains(&name) {
        return Err(StoreError::VmExists(name).into());
    }
    let (default_vcpus, default_memory, default_work) = default_size(env)?;
    let vcpus = range(
        "--vcpus",
        req.vcpus.map_or(u64::from(default_vcpus), u64::from),
        1,
        32,
    )? as u32;
    let memory_mib = range(
        "--memory (MiB)",
        req.memory_mib.map_or(u64::from(default_memory), u64::from),
        128,
        256 * 1024,
    )? as u32;
    let work_mib = range(
        "--disk-size (MiB)",
        req.disk_size_mib.unwrap_or(default_work),
        64,
        4 << 20,
    )?;
    Ok(Plan {
        image,
        name,
        vcpus,
        memory_mib,
        work_mib,
    })
}

/// A VM for a user: a ready warm-pool VM that matches (image, vCPUs,
/// memory, work disk) when there is one and the request allows it,
/// otherwise made and booted here.
pub async fn create(
    env: &VmEnv<'_>,
    req: CreateVm,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vm, VmError> {
    let plan = plan(env, &req)?;
    if !req.no_start && !req.cold && env.config.warm_pool_size > 0 {
        if let Some(vm) = super::pool::claim(env, &plan, progress).await? {
            return Ok(vm);
        }
        // Room for a cold boot is taken from the pool, never refused for it.
        super::pool::make_room(env, plan.memory_mib).await;
    }
    make(env, plan, req.no_start, None, progress).await
}

/// Makes the VM `plan` describes (a warm-pool VM when `warm` is set) and
/// boots it unless `no_start`.
pub(super) async fn make(
    env: &VmEnv<'_>,
    plan: Plan,
    no_start: bool,
    warm: Option<Warm>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vm, VmError> {
    let Plan {
        image,
        name,
        vcpus,
        memory_mib: memory,
        work_mib,
    } = plan;
    let vmm = &env.vmm()?.vmm;
    boot::boot_files(env.paths, &image)?;
    let agent = env.agent.ok_or(VmError::NoAgent)?;

    let mut vm = VmRow {
        id: crate::staging::random_hex(8),
        name,
        image_id: image.id.clone(),
        state: VmState::Stopped,
        backend: vmm.backend().as_str().into(),
        vcpus,
        memory_mib: memory,
        guest_cid: 0,
        vmm_pid: None,
        helper_pid: None,
        last_error: None,
        created_at: crate::clock::unix_now(),
        started_at: None,
        ip: None,
        tap: None,
        host_keys: None,
        last_activity: None,
        warm,
    };
    let addresses =
        || crate::net::guest_addresses(env.net.net, env.net.host).map(|a| a.to_string());
    let pool = env.net.net.to_string();
    match env.store.insert_vm(&mut vm, addresses(), &pool) {
        // A user's VM takes a warm-pool VM's address rather than fail.
        Err(StoreError::NoFreeAddress { .. })
            if warm.is_none() && super::pool::evict_one(env).await =>
        {
            env.store.insert_vm(&mut vm, addresses(), &pool)?
        }
        other => other?,
    }
    crate::fault::point("vm-create:recorded");
    let dir = env.paths.vm_dir(&vm.id);
    let made: Result<(), VmError> = (|| {
        let io = |what: String| move |source| VmError::Io { what, source };
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        // Until the disks are whole (a crash before then: see clean_unfinished).
        std::fs::write(dir.creating(), b"")
            .map_err(io(format!("writing {}", dir.creating().display())))?;
        progress(Progress::step(
            Stage::Clone,
            format!("disks from image {}", image.name),
        ));
        let seed = image.work_seed.as_deref().map(Path::new);
        blocking(|| disks::prepare(&dir, Path::new(&image.rootfs), seed, work_mib))?;
        crate::fault::point("vm-create:cloned");
        progress(Progress::step(
            Stage::Inject,
            "guest agent, units, fstab, SSH key",
        ));
        // A new password for every VM made, a re-created one included.
        let password = opencode::Password::generate();
        let has_opencode =
            blocking(|| inject::inject_rootfs(&dir.rootfs(), agent, password.expose()))?;
        crate::fault::point("vm-create:rootfs-injected");
        blocking(|| inject::inject_work_disk(&dir.work(), env.ssh_public))?;
        if has_opencode {
            env.store.set_opencode_secret(&vm.id, password.expose())?;
        }
        std::fs::remove_file(dir.creating())
            .map_err(io(format!("removing {}", dir.creating().display())))?;
        Ok(())
    })();
    if let Err(e) = made {
        // Nothing half-made stays: no directory, no record (and with the
        // record goes the address).
        let _ = crate::staging::remove_atomically(env.paths, &dir);
        let _ = env.store.delete_vm(&vm.id);
        return Err(e);
    }
    tracing::info!(vm = %vm.name, image = %image.name, "created VM");
    if no_start {
        return view(env.paths, env.store, &vm);
    }
    let booted = boot::start(env, &vm.name, progress).await;
    if booted.is_ok() {
        crate::fault::point("vm-create:booted");
    }
    booted
}
