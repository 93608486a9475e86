//! `vm start`: a TAP, the VMM launched through the chosen backend, and the
//! wait until the guest is ready (agent, then sshd where the image has it).
//! A boot that fails marks the VM crashed and gives its TAP back.

use super::{VmEnv, VmError, blocking, refresh, row, view};
use crate::agent::{AgentClient, AgentError};
use crate::net::{GuestNet, mac_for};
use crate::store::VmRow;
use crate::vmm::{Chosen, Launch, Launched, process};
use banger_api::image::Image;
use banger_api::progress::{Progress, Stage};
use banger_api::vm::{Vm, VmState};
use banger_config::Paths;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The kernel and initrd an image boots with.
pub(super) fn boot_files(
    paths: &Paths,
    image: &Image,
) -> Result<(PathBuf, Option<PathBuf>), VmError> {
    let (kernel, initrd) = match (&image.kernel, &image.kernel_ref) {
        (Some(k), _) => (PathBuf::from(k), image.initrd.as_ref().map(PathBuf::from)),
        (None, Some(name)) => {
            let dir = paths.kernel_dir(name);
            let initrd = dir.initrd();
            (dir.vmlinux(), initrd.is_file().then_some(initrd))
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
    let chosen = env.vmm()?;
    let dir = env.paths.vm_dir(&vm.id);
    // A previous run's socket would be taken for this one's.
    let _ = std::fs::remove_file(dir.vsock());

    // Asked of the disk before boot (debugfs, milliseconds), not of the
    // booted guest (a round trip that is slow under emulation).
    let needs_sshd = blocking(|| crate::disk::debugfs::exists(&dir.rootfs(), "/usr/sbin/sshd"))?;
    // A warm VM gets them when claimed (pool.rs), as the host has them then.
    if let Some(home) = env.paths.home.as_ref().filter(|_| vm.warm.is_none()) {
        let synced = blocking(|| super::auth::sync(home, &dir.work()))?;
        if !synced.is_empty() {
            tracing::info!(vm = %vm.name, files = ?synced, "synced the coding agents' credentials");
        }
    }
    let guest = guest_net(env, &vm)?;
    progress(Progress::step(
        Stage::Network,
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
        chosen,
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
pub(super) fn refill_taps(env: &VmEnv<'_>) {
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
    chosen: &Chosen,
    (kernel, initrd): (PathBuf, Option<PathBuf>),
    guest: &GuestNet,
    tap: &str,
    needs_sshd: bool,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), VmError> {
    let vmm = &chosen.vmm;
    let dir = env.paths.vm_dir(&vm.id);
    let vsock = dir.vsock();
    progress(Progress::step(
        Stage::Boot,
        format!("{} ({})", vm.name, vmm.backend().as_str()),
    ));
    if chosen.doubtful {
        tracing::warn!(vm = %vm.name, "{}", chosen.reason);
    }
    let launch = Launch {
        dir: dir.to_path_buf(),
        id: vm.id.clone(),
        kernel,
        initrd,
        cmdline: format!(
            "root=/dev/vda rw {} {}",
            guest.cmdline(),
            crate::vmm::stall::KERNEL_ARG
        ),
        drives: vec![dir.rootfs(), dir.work()],
        tap: tap.to_owned(),
        mac: mac_for(guest.ip),
        vcpus: vm.vcpus,
        memory_mib: vm.memory_mib,
        guest_cid: vm.guest_cid,
        vsock: vsock.clone(),
        console_log: dir.console(),
    };
    // Listening before the guest can say it is up (see wait_ready).
    let ready_socket = dir.guest_port_socket(banger_agent_proto::READY_PORT);
    let _ = std::fs::remove_file(&ready_socket);
    let announced = tokio::net::UnixListener::bind(&ready_socket)
        .inspect_err(|e| tracing::warn!(vm = %vm.name, error = %e, "listening for the agent's announcement; polling instead"))
        .ok();
    let Launched {
        vmm_pid,
        helper_pid,
    } = vmm.launch(&launch).await?;
    vm.state = VmState::Running;
    vm.backend = vmm.backend().as_str().into();
    vm.vmm_pid = Some(vmm_pid);
    vm.helper_pid = helper_pid;
    vm.last_error = None;
    vm.started_at = Some(crate::clock::unix_now());
    vm.tap = Some(tap.to_owned());
    env.store.update_vm_run(vm)?;

    progress(Progress::step(Stage::Agent, "waiting for the guest agent"));
    let ssh = needs_sshd.then_some(std::net::SocketAddr::from((guest.ip, 22)));
    let ready = wait_ready(
        &vsock,
        announced,
        vmm_pid,
        &dir,
        vmm.ready_limit(),
        ssh,
        progress,
    )
    .await;
    let _ = std::fs::remove_file(&ready_socket);
    if let Err(source) = ready {
        blocking(|| {
            process::terminate(vmm_pid, &dir, Duration::from_secs(5));
            if let Some(helper) = helper_pid {
                process::terminate(helper, &dir, Duration::from_secs(2));
            }
        });
        vm.state = VmState::Crashed;
        vm.vmm_pid = None;
        vm.helper_pid = None;
        vm.tap = None;
        vm.last_error = Some(match vmm.failure_cause(&dir) {
            Some(cause) => format!(
                "did not become ready: {source}; {}: {cause}",
                vmm.backend().as_str()
            ),
            None => format!("did not become ready: {source}"),
        });
        env.store.update_vm_run(vm)?;
        let mut tail = super::console_tail(&dir, 20);
        if let Some(log) = vmm.failure_log(&dir) {
            tail.push('\n');
            tail.push_str(&log);
        }
        return Err(VmError::Boot {
            name: vm.name.clone(),
            tail,
            source,
        });
    }
    if needs_sshd {
        progress(Progress::step(
            Stage::Ssh,
            "learning the guest's SSH host keys",
        ));
        vm.host_keys = Some(super::ssh::learn_host_keys(&AgentClient::hybrid_vsock(&vsock)).await?);
        env.store.update_vm_run(vm)?;
        super::ssh::write_known_hosts(env.paths, env.store)?;
    }
    Ok(())
}

/// How long to wait for the agent's announcement before knocking anyway
/// (an agent from before announcements, or one that could not announce).
const ANNOUNCE_GRACE: Duration = Duration::from_secs(60);

/// Ready means the agent answers and, in guests that have sshd, sshd
/// accepts a connection on the guest's address and greets (its first start
/// waits for this VM's new host keys). Fails at once if the VMM dies, and
/// after `limit` otherwise.
///
/// The agent announces itself once it listens (a connection to the host's
/// `READY_PORT`), and only then does the host connect to it: a host
/// CONNECT that reaches vhost-device-vsock before the guest's vsock driver
/// has set the device up can leave that device unable to serve any later
/// connection (seen as a guest that booted and an agent never answering).
#[allow(clippy::too_many_arguments)]
async fn wait_ready(
    vsock: &Path,
    announced: Option<tokio::net::UnixListener>,
    vmm: u32,
    dir: &banger_config::VmDir,
    limit: Duration,
    ssh: Option<std::net::SocketAddr>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), AgentError> {
    let client = AgentClient::hybrid_vsock(vsock);
    let start = Instant::now();
    let vmm_gone = || {
        (!process::is_ours(vmm, dir)).then(|| AgentError::GuestStopped {
            waited: start.elapsed(),
        })
    };
    let too_late = |last: &str| {
        (start.elapsed() > limit).then(|| AgentError::NotReady {
            waited: start.elapsed(),
            last: last.to_owned(),
        })
    };
    // A guest whose disk stopped answering never becomes ready: said as
    // soon as that is certain, not at the limit (vmm::stall).
    let mut stall = crate::vmm::stall::StallWatch::new(dir.console(), vmm);
    let mut stuck = move || stall.check().map(AgentError::from);
    let mut heard = false;
    if let Some(listener) = announced {
        let grace = ANNOUNCE_GRACE.min(limit);
        loop {
            tokio::select! {
                conn = listener.accept() => {
                    heard = conn.is_ok();
                    break;
                }
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if let Some(e) = vmm_gone().or_else(&mut stuck) {
                        return Err(e);
                    }
                    if start.elapsed() > grace {
                        tracing::debug!("no announcement from the agent; knocking");
                        break;
                    }
                }
            }
        }
    }
    // Then the agent itself: each handshake is given up after a while (an
    // unanswered one only happens before the agent announced), and tried
    // again until the limit.
    let patience = if heard {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(2)
    };
    let mut last;
    loop {
        if let Some(e) = vmm_gone().or_else(&mut stuck) {
            return Err(e);
        }
        let step = async {
            let stream = client.handshake().await?;
            AgentClient::ping_on(stream).await
        };
        match tokio::time::timeout(patience.min(limit), step).await {
            Ok(Ok(_)) => break,
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => {
                last = format!("the agent did not answer within {}s", patience.as_secs());
            }
        }
        if let Some(e) = too_late(&last) {
            return Err(e);
        }
        // Polling is cheap (a local connect the guest answers or resets), and
        // every interval is added to what `vm create` takes.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(addr) = ssh else { return Ok(()) };
    progress(Progress::step(
        Stage::Ssh,
        format!("waiting for sshd on {addr}"),
    ));
    loop {
        if let Some(e) = vmm_gone().or_else(&mut stuck) {
            return Err(e);
        }
        if super::ssh::greets(addr).await {
            return Ok(());
        }
        if let Some(e) = too_late("sshd does not accept connections yet") {
            return Err(e);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
