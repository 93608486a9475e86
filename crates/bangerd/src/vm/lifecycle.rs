//! Creating, starting, stopping and deleting VMs (QEMU backend).

use super::{
    CONSOLE, FC_API, VHOST_SOCKET, VSOCK, VmError, disks, inject, names, process, refresh, row,
    view,
};
use crate::agent::{AgentClient, AgentError};
use crate::net::{GuestNet, HostNet, guest_addresses, mac_for};
use crate::store::{Store, StoreError, VmRow};
use crate::vmm::firecracker::{self, Firecracker};
use crate::vmm::qemu::{Accel, Qemu};
use crate::vmm::{Backend, HostVmms, Launch, Launched, Vmm, VmmError, kvm, select};
use banger_api::image::Image;
use banger_api::progress::Progress;
use banger_api::vm::{CreateVm, Vm, VmDeleted, VmPort, VmState};
use banger_config::{Config, Paths};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What VM operations need from the daemon.
#[derive(Debug)]
pub struct VmEnv<'a> {
    pub paths: &'a Paths,
    pub store: &'a Store,
    pub config: &'a Config,
    pub agent: Option<&'a Path>,
    /// banger's public key, for the guest's authorized_keys.
    pub ssh_public: &'a str,
    pub net: &'a HostNet,
}

const DEFAULT_WORK_MIB: u64 = 8192;

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

struct BackendChoice {
    backend: Backend,
    reason: String,
    doubtful: bool,
    vmm: AnyVmm,
}

enum AnyVmm {
    Qemu(Qemu),
    Firecracker(Firecracker),
}

impl AnyVmm {
    async fn launch(&self, l: &Launch) -> Result<Launched, VmmError> {
        match self {
            AnyVmm::Qemu(q) => q.launch(l).await,
            AnyVmm::Firecracker(f) => f.launch(l).await,
        }
    }
}

/// The rule `banger doctor` shows (vmm/select.rs): Firecracker where it
/// and a KVM that runs guests exist, QEMU (KVM or TCG) otherwise.
fn backend(config: &Config) -> Result<BackendChoice, VmError> {
    let host = crate::doctor::Host::real(config);
    let vmms = HostVmms {
        firecracker: host.find(config.firecracker_bin.as_deref(), "firecracker"),
        qemu: host.find(config.qemu_bin.as_deref(), "qemu-system-x86_64"),
        vhost_vsock: host.find(config.vhost_vsock_bin.as_deref(), "vhost-device-vsock"),
        kvm: kvm::probe(&host.dev_root, &host.sys_root),
    };
    let sel = select(config.vmm, &vmms)?;
    let vmm = match sel.backend {
        Backend::Firecracker => AnyVmm::Firecracker(Firecracker {
            binary: vmms.firecracker.expect("selected"),
        }),
        b => AnyVmm::Qemu(Qemu {
            qemu: vmms.qemu.expect("selected"),
            vhost: vmms.vhost_vsock.expect("selected"),
            accel: if b == Backend::QemuKvm {
                Accel::Kvm
            } else {
                Accel::Tcg
            },
        }),
    };
    Ok(BackendChoice {
        backend: sel.backend,
        reason: sel.reason,
        doubtful: sel.doubtful,
        vmm,
    })
}

/// The kernel and initrd an image boots with.
fn boot_files(paths: &Paths, image: &Image) -> Result<(PathBuf, Option<PathBuf>), VmError> {
    let (kernel, initrd) = match (&image.kernel, &image.kernel_ref) {
        (Some(k), _) => (PathBuf::from(k), image.initrd.as_ref().map(PathBuf::from)),
        (None, Some(name)) => {
            let dir = paths.kernel_dir(name);
            let initrd = dir.join("initrd.img");
            (dir.join("vmlinux"), initrd.is_file().then_some(initrd))
        }
        (None, None) => unreachable!("the schema requires a kernel"),
    };
    for (what, p) in [("kernel", Some(&kernel)), ("initrd", initrd.as_ref())] {
        if let Some(p) = p
            && !p.is_file()
        {
            return Err(VmError::MissingArtifact {
                what,
                path: p.clone(),
            });
        }
    }
    Ok((kernel, initrd))
}

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

pub async fn create(
    env: &VmEnv<'_>,
    req: CreateVm,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vm, VmError> {
    let image_name = req
        .image
        .or_else(|| env.config.default_image_name.clone())
        .ok_or(VmError::NoImage)?;
    let image = env
        .store
        .image(&image_name)?
        .ok_or(VmError::ImageNotFound(image_name))?;
    let taken: Vec<String> = env.store.vms()?.into_iter().map(|v| v.name).collect();
    let name = match req.name {
        Some(n) => {
            banger_config::config::check_name(&n).map_err(VmError::InvalidName)?;
            n
        }
        None => names::generate(&taken),
    };
    if taken.contains(&name) {
        return Err(StoreError::VmExists(name).into());
    }
    let choice = backend(env.config)?;
    // TCG guests are single-CPU by default: SMP under emulation is slower, not faster.
    let default_vcpus = if choice.backend == Backend::QemuTcg {
        1
    } else {
        2
    };
    let vcpus = range("--vcpus", req.vcpus.map_or(default_vcpus, u64::from), 1, 32)? as u32;
    let memory = range(
        "--memory (MiB)",
        req.memory_mib.map_or(1024, u64::from),
        128,
        256 * 1024,
    )? as u32;
    let work_mib = range(
        "--disk-size (MiB)",
        req.disk_size_mib.unwrap_or(DEFAULT_WORK_MIB),
        64,
        4 << 20,
    )?;
    boot_files(env.paths, &image)?;
    let agent = env.agent.ok_or(VmError::NoAgent)?;

    let mut vm = VmRow {
        id: crate::staging::random_hex(8),
        name,
        image_id: image.id.clone(),
        state: VmState::Stopped,
        backend: choice.backend.as_str().into(),
        vcpus,
        memory_mib: memory,
        guest_cid: 0,
        vmm_pid: None,
        helper_pid: None,
        last_error: None,
        created_at: crate::server::unix_now(),
        started_at: None,
        ip: None,
        tap: None,
        host_keys: None,
        last_activity: None,
    };
    let addresses = guest_addresses(env.net.net, env.net.host).map(|a| a.to_string());
    env.store
        .insert_vm(&mut vm, addresses, &env.net.net.to_string())?;
    let dir = env.paths.vm_dir(&vm.id);
    let made: Result<(), VmError> = (|| {
        std::fs::create_dir_all(&dir).map_err(|source| VmError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        progress(Progress::step(
            "clone",
            format!("disks from image {}", image.name),
        ));
        let seed = image.work_seed.as_deref().map(Path::new);
        blocking(|| disks::prepare(&dir, Path::new(&image.rootfs), seed, work_mib))?;
        progress(Progress::step(
            "inject",
            "guest agent, units, fstab, SSH key",
        ));
        blocking(|| inject::inject_rootfs(&dir.join(disks::ROOTFS), agent))?;
        blocking(|| inject::inject_work_disk(&dir.join(disks::WORK), env.ssh_public))?;
        Ok(())
    })();
    if let Err(e) = made {
        // Nothing half-made stays: no directory, no record.
        let _ = crate::staging::remove_atomically(env.paths, &dir);
        let _ = env.store.delete_vm(&vm.id);
        return Err(e);
    }
    tracing::info!(vm = %vm.name, image = %image.name, "created VM");
    if req.no_start {
        return view(env.paths, env.store, &vm);
    }
    start(env, &vm.name, progress).await
}

pub async fn start(
    env: &VmEnv<'_>,
    name: &str,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vm, VmError> {
    let mut vm = row(env.store, name)?;
    refresh(env.paths, env.store, &mut vm)?;
    if vm.state == VmState::Running {
        return Err(VmError::AlreadyRunning(vm.name));
    }
    let image = env
        .store
        .image_by_id(&vm.image_id)?
        .ok_or_else(|| VmError::ImageNotFound(vm.image_id.clone()))?;
    let (kernel, initrd) = boot_files(env.paths, &image)?;
    let choice = backend(env.config)?;
    let dir = env.paths.vm_dir(&vm.id);
    for stale in [VHOST_SOCKET, VSOCK, FC_API] {
        let _ = std::fs::remove_file(dir.join(stale));
    }

    // Asked of the disk before boot (debugfs, milliseconds), not of the
    // booted guest (a round trip that is slow under emulation).
    let needs_sshd = blocking(|| inject::exists(&dir.join(disks::ROOTFS), "/usr/sbin/sshd"))?;
    let guest = guest_net(env, &vm)?;
    progress(Progress::step(
        "network",
        format!("{} on {}", guest.ip, env.net.bridge),
    ));
    let tap = blocking(|| -> Result<String, VmError> {
        env.net.ensure()?;
        Ok(env.net.take_tap(&env.store.taps_in_use()?)?)
    })?;
    // Until the record names the TAP, it is reserved in memory only.
    let booted = boot(
        env,
        &mut vm,
        &choice,
        &dir,
        (kernel, initrd),
        &guest,
        &tap,
        needs_sshd,
        progress,
    )
    .await;
    env.net.settle(&tap);
    // A failed boot's TAP goes back to the pool (or away) as a stop's does.
    refill_taps(env);
    booted?;
    tracing::info!(vm = %vm.name, ip = %guest.ip, "VM ready");
    view(env.paths, env.store, &vm)
}

/// Back to `tap_pool_size` spare TAPs. A failure here costs a later start
/// a few milliseconds, so it is logged, not returned.
fn refill_taps(env: &VmEnv<'_>) {
    let refilled = blocking(|| {
        env.net
            .refill(&env.store.taps_in_use()?)
            .map_err(VmError::from)
    });
    if let Err(e) = refilled {
        tracing::warn!(error = %e, "refilling the TAP pool");
    }
}

/// The guest's address (held since create), gateway and DNS.
fn guest_net(env: &VmEnv<'_>, vm: &VmRow) -> Result<GuestNet, VmError> {
    let ip = vm
        .ip
        .as_deref()
        .and_then(|a| a.parse().ok())
        .filter(|a| env.net.net.contains(a) && *a != env.net.host)
        .ok_or_else(|| VmError::AddressOutsidePool {
            name: vm.name.clone(),
            ip: vm.ip.clone().unwrap_or_default(),
            pool: env.net.net.to_string(),
        })?;
    Ok(GuestNet {
        ip,
        net: env.net.net,
        gateway: env.net.host,
        dns: env.config.default_dns.clone(),
        hostname: vm.name.clone(),
    })
}

#[allow(clippy::too_many_arguments)]
async fn boot(
    env: &VmEnv<'_>,
    vm: &mut VmRow,
    choice: &BackendChoice,
    dir: &Path,
    (kernel, initrd): (PathBuf, Option<PathBuf>),
    guest: &GuestNet,
    tap: &str,
    needs_sshd: bool,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), VmError> {
    let vsock = dir.join(VSOCK);
    progress(Progress::step(
        "boot",
        format!("{} ({})", vm.name, choice.backend.as_str()),
    ));
    if choice.doubtful {
        tracing::warn!(vm = %vm.name, "{}", choice.reason);
    }
    let launch = Launch {
        dir: dir.to_owned(),
        id: vm.id.clone(),
        kernel,
        initrd,
        cmdline: format!("root=/dev/vda rw {}", guest.cmdline()),
        drives: vec![dir.join(disks::ROOTFS), dir.join(disks::WORK)],
        tap: tap.to_owned(),
        mac: mac_for(guest.ip),
        vcpus: vm.vcpus,
        memory_mib: vm.memory_mib,
        guest_cid: vm.guest_cid,
        vsock: vsock.clone(),
        console_log: dir.join(CONSOLE),
    };
    let Launched {
        vmm_pid: vmm,
        helper_pid: helper,
    } = choice.vmm.launch(&launch).await?;
    vm.state = VmState::Running;
    vm.backend = choice.backend.as_str().into();
    vm.vmm_pid = Some(vmm);
    vm.helper_pid = helper;
    vm.last_error = None;
    vm.started_at = Some(crate::server::unix_now());
    vm.tap = Some(tap.to_owned());
    env.store.update_vm_run(vm)?;

    progress(Progress::step("agent", "waiting for the guest agent"));
    let limit = if choice.backend == Backend::QemuTcg {
        Duration::from_secs(300)
    } else {
        Duration::from_secs(90)
    };
    let ssh = needs_sshd.then_some(std::net::SocketAddr::from((guest.ip, 22)));
    if let Err(source) = wait_ready(&vsock, vmm, dir, limit, ssh, progress).await {
        blocking(|| {
            process::terminate(vmm, dir, Duration::from_secs(5));
            if let Some(helper) = helper {
                process::terminate(helper, dir, Duration::from_secs(2));
            }
        });
        vm.state = VmState::Crashed;
        vm.vmm_pid = None;
        vm.helper_pid = None;
        vm.tap = None;
        vm.last_error = Some(format!("did not become ready: {source}"));
        if let Some(cause) =
            firecracker_error(dir).filter(|_| choice.backend == Backend::Firecracker)
        {
            vm.last_error = vm
                .last_error
                .take()
                .map(|e| format!("{e}; firecracker: {cause}"));
        }
        env.store.update_vm_run(vm)?;
        return Err(VmError::Boot {
            name: vm.name.clone(),
            tail: boot_failure_tail(dir, choice.backend),
            source,
        });
    }
    if needs_sshd {
        progress(Progress::step("ssh", "learning the guest's SSH host keys"));
        vm.host_keys = Some(super::ssh::learn_host_keys(&AgentClient::hybrid_vsock(&vsock)).await?);
        env.store.update_vm_run(vm)?;
        super::ssh::write_known_hosts(env.paths, env.store)?;
    }
    Ok(())
}

/// The console's end, and for Firecracker its own log's end too (where a
/// KVM failure is told).
fn boot_failure_tail(dir: &Path, backend: Backend) -> String {
    let mut tail = super::console_tail(dir, 20);
    if backend == Backend::Firecracker {
        let log = std::fs::read_to_string(dir.join(super::FC_LOG)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        tail.push_str(&format!(
            "\nfirecracker.log ended with:\n{}",
            lines[lines.len().saturating_sub(10)..].join("\n")
        ));
    }
    tail
}

/// Firecracker's first ERROR line: the cause (later ones are consequences).
fn firecracker_error(dir: &Path) -> Option<String> {
    let log = std::fs::read_to_string(dir.join(super::FC_LOG)).ok()?;
    let line = log.lines().find(|l| l.contains(":ERROR] "))?;
    Some(line.split(":ERROR] ").nth(1)?.trim().to_owned())
}

/// Ready means the agent answers and, in guests that have sshd, sshd
/// accepts a connection on the guest's address and greets (its first start
/// waits for this VM's new host keys). Fails at once if the VMM dies, and
/// after `limit` otherwise.
async fn wait_ready(
    vsock: &Path,
    vmm: u32,
    dir: &Path,
    limit: Duration,
    ssh: Option<std::net::SocketAddr>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), AgentError> {
    let client = AgentClient::hybrid_vsock(vsock);
    let start = Instant::now();
    let mut last: String;
    let mut agent_up = false;
    loop {
        if !process::is_ours(vmm, dir) {
            return Err(AgentError::GuestStopped {
                waited: start.elapsed(),
            });
        }
        let step = async {
            if !agent_up {
                client.ping().await?;
                agent_up = true;
                if let Some(addr) = ssh {
                    progress(Progress::step("ssh", format!("waiting for sshd on {addr}")));
                }
            }
            match ssh {
                None => Ok::<bool, AgentError>(true),
                Some(addr) => Ok(super::ssh::greets(addr).await),
            }
        };
        match tokio::time::timeout(Duration::from_secs(10), step).await {
            Ok(Ok(true)) => return Ok(()),
            Ok(Ok(false)) => last = "sshd does not accept connections yet".into(),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "the agent did not answer in time".into(),
        }
        if start.elapsed() > limit {
            return Err(AgentError::NotReady {
                waited: start.elapsed(),
                last,
            });
        }
        // Polling is cheap (a local connect the guest answers or resets), and
        // every interval is added to what `vm create` takes.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

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
    progress(Progress::step("stop", "asking the guest to shut down"));
    let client = AgentClient::hybrid_vsock(&dir.join(VSOCK));
    let mut asked = matches!(
        tokio::time::timeout(Duration::from_secs(5), client.shutdown()).await,
        Ok(Ok(()))
    );
    if !asked && vm.backend == Backend::Firecracker.as_str() {
        progress(Progress::step(
            "stop",
            "the agent did not answer; sending Ctrl+Alt+Del",
        ));
        asked = firecracker::send_ctrl_alt_del(&dir).await.is_ok();
    }
    let deadline = Instant::now() + Duration::from_secs(if asked { 60 } else { 0 });
    while process::is_ours(vmm, &dir) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if process::is_ours(vmm, &dir) {
        progress(Progress::step(
            "stop",
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
    env.store.end_sessions(&vm.id, crate::server::unix_now())?;
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

/// The guest's address and its listening ports.
pub async fn ports(env: &VmEnv<'_>, name: &str) -> Result<(Option<String>, Vec<VmPort>), VmError> {
    let mut vm = row(env.store, name)?;
    refresh(env.paths, env.store, &mut vm)?;
    if vm.state != VmState::Running {
        return Err(VmError::NotRunning(vm.name));
    }
    env.store.touch_vm(&vm.id, crate::server::unix_now())?;
    let client = AgentClient::hybrid_vsock(&env.paths.vm_dir(&vm.id).join(VSOCK));
    let ports = client
        .ports()
        .await?
        .into_iter()
        .map(|p| VmPort {
            proto: p.proto,
            address: p.address,
            port: p.port,
            process: p.process,
        })
        .collect();
    Ok((vm.ip, ports))
}

/// Learns a running guest's SSH host keys now: for guests whose sshd came
/// after boot (a pulled image installs it at first boot), so `vm ssh` need
/// not wait for a restart. Keys already recorded are read again.
pub async fn learn_host_keys(env: &VmEnv<'_>, name: &str) -> Result<Vm, VmError> {
    let mut vm = row(env.store, name)?;
    refresh(env.paths, env.store, &mut vm)?;
    if vm.state != VmState::Running {
        return Err(VmError::NotRunning(vm.name));
    }
    let client = AgentClient::hybrid_vsock(&env.paths.vm_dir(&vm.id).join(VSOCK));
    let keys = match super::ssh::learn_host_keys(&client).await {
        Ok(k) => k,
        Err(VmError::Agent(source)) => {
            return Err(VmError::NoSshYet {
                name: vm.name,
                source,
            });
        }
        Err(e) => return Err(e),
    };
    vm.host_keys = Some(keys);
    env.store.update_vm_run(&vm)?;
    super::ssh::write_known_hosts(env.paths, env.store)?;
    view(env.paths, env.store, &vm)
}

/// Serial console output from byte `offset`; returns it and the next offset.
pub fn console(env: &VmEnv<'_>, name: &str, offset: u64) -> Result<(String, u64), VmError> {
    let vm = row(env.store, name)?;
    let path = env.paths.vm_dir(&vm.id).join(CONSOLE);
    let bytes = std::fs::read(&path).unwrap_or_default();
    let from = (offset as usize).min(bytes.len());
    Ok((
        String::from_utf8_lossy(&bytes[from..]).into_owned(),
        bytes.len() as u64,
    ))
}
