//! VMs: their records, disks and processes: the VM core. `create.rs`,
//! `boot.rs` (start), `stop.rs` (stop, delete) and `guest.rs` change or ask
//! VMs; this file reports state, noticing VMMs that died. Everything comes
//! in through `VmEnv` (env.rs); the core never reads the daemon's state,
//! and the VMM is a trait object chosen once (`vmm::select`), so the whole
//! lifecycle runs in unit tests against a fake VMM (tests.rs).

mod auth;
mod boot;
pub mod console;
mod create;
pub mod disks;
mod env;
pub mod exec;
mod guest;
pub mod idle;
pub mod inject;
mod names;
pub mod opencode;
pub mod pool;
pub mod ssh;
#[cfg(test)]
mod tests;

pub use boot::start;
pub use console::{console, console_tail};
pub use create::{create, default_size};
pub use env::VmEnv;
pub use guest::{learn_host_keys, ports, ports_looked_at};
pub use stop::{delete, stop};
mod stop;

use crate::agent::{AgentClient, AgentError};
use crate::store::{Store, StoreError, VmRow};
use crate::vmm::process;
use banger_api::vm::{Vm, VmState};
use banger_config::Paths;

#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("invalid VM name: {0}")]
    InvalidName(String),
    #[error("no VM named `{0}`")]
    NotFound(String),
    #[error("no --image given and no default_image_name in the config")]
    NoImage,
    #[error("no image named `{0}` (see `banger image list`)")]
    ImageNotFound(String),
    #[error("VM `{0}` is running; stop it first, or use --force")]
    Running(String),
    #[error("no command given")]
    EmptyCommand,
    #[error("VM `{0}` is not running")]
    NotRunning(String),
    #[error("VM `{0}` is already running")]
    AlreadyRunning(String),
    #[error(
        "VM `{0}` has no opencode service banger secured: its image is not a dev box (see `banger image build`), or the VM was created by an older banger (re-create it)"
    )]
    NoOpencode(String),
    #[error(transparent)]
    NoVmm(#[from] crate::vmm::select::NoVmm),
    #[error("the guest agent (banger-vsock-agent) was not found beside bangerd; reinstall banger")]
    NoAgent,
    #[error("{what} {} is missing", path.display())]
    MissingArtifact {
        what: &'static str,
        path: std::path::PathBuf,
    },
    #[error("{what} must be between {min} and {max}, not {value}")]
    OutOfRange {
        what: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
    #[error("preparing the VM's disks")]
    Disk(#[from] disks::DiskError),
    #[error("installing banger's guest parts into the VM's disks")]
    Inject(#[from] inject::InjectError),
    #[error("syncing the coding agents' credentials")]
    Auth(#[from] auth::AuthError),
    #[error("reading the VM's disk")]
    ReadDisk(#[from] crate::disk::debugfs::DebugfsError),
    #[error("starting the VMM")]
    Vmm(#[from] crate::vmm::VmmError),
    #[error("VM `{name}` did not become ready; its console ended with:\n{tail}")]
    Boot {
        name: String,
        tail: String,
        #[source]
        source: AgentError,
    },
    #[error("setting up the guest network")]
    Net(#[from] crate::net::NetError),
    #[error(
        "VM `{name}` holds address {ip}, which is outside bridge_ipcidr {pool}; delete and recreate it, or restore bridge_ipcidr"
    )]
    AddressOutsidePool {
        name: String,
        ip: String,
        pool: String,
    },
    #[error("VM `{0}` has no SSH host keys recorded: its image has no sshd (/usr/sbin/sshd)")]
    NoSsh(String),
    #[error(
        "VM `{name}` has no sshd host keys yet: the guest has no sshd (a pulled image without one installs it at first boot; see /var/log/banger-install-sshd.log, or `journalctl -u banger-install-sshd` under systemd, with `banger vm exec`)"
    )]
    NoSshYet {
        name: String,
        #[source]
        source: AgentError,
    },
    #[error("writing {}", path.display())]
    KnownHosts {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("asking the guest agent")]
    Agent(#[from] AgentError),
    #[error("making a warm VM the user's: {0}")]
    Claim(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl VmError {
    /// What kind of failure this is (the API picks the HTTP status from it).
    pub fn kind(&self) -> banger_api::ErrorKind {
        use banger_api::ErrorKind as S;
        match self {
            VmError::NotFound(_) | VmError::ImageNotFound(_) => S::NotFound,
            VmError::Running(_)
            | VmError::NotRunning(_)
            | VmError::AlreadyRunning(_)
            | VmError::NoOpencode(_)
            | VmError::NoSsh(_)
            | VmError::NoSshYet { .. }
            | VmError::AddressOutsidePool { .. }
            | VmError::Auth(auth::AuthError::Unusable { .. })
            | VmError::Store(StoreError::VmExists(_) | StoreError::NoFreeAddress { .. }) => {
                S::Conflict
            }
            VmError::InvalidName(_)
            | VmError::NoImage
            | VmError::EmptyCommand
            | VmError::Inject(inject::InjectError::UnservedInit(_))
            | VmError::OutOfRange { .. } => S::BadRequest,
            _ => S::Internal,
        }
    }
}

/// Disk and process work (debugfs, copies, waits) off the async threads.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

pub fn row(store: &Store, name: &str) -> Result<VmRow, VmError> {
    store
        .vm(name)?
        .ok_or_else(|| VmError::NotFound(name.to_owned()))
}

/// A VM that must be running (a dead VMM noticed first), and its agent.
pub fn running(env: &VmEnv<'_>, name: &str) -> Result<(VmRow, AgentClient), VmError> {
    let mut vm = row(env.store, name)?;
    refresh(env.paths, env.store, &mut vm)?;
    if vm.state != VmState::Running {
        return Err(VmError::NotRunning(vm.name));
    }
    let agent = AgentClient::hybrid_vsock(&env.paths.vm_dir(&vm.id).vsock());
    Ok((vm, agent))
}

/// Notices a VMM that is gone although the VM is recorded as running: a
/// guest that shut itself down is `stopped`, anything else `crashed`.
pub fn refresh(paths: &Paths, store: &Store, vm: &mut VmRow) -> Result<(), VmError> {
    if vm.state != VmState::Running {
        return Ok(());
    }
    let dir = paths.vm_dir(&vm.id);
    if vm.vmm_pid.is_some_and(|pid| process::is_ours(pid, &dir)) {
        return Ok(());
    }
    if let Some(helper) = vm.helper_pid {
        process::terminate(helper, &dir, std::time::Duration::from_secs(2));
    }
    let tail = console_tail(&dir, 40);
    let clean = tail.contains("reboot: Restarting system") || tail.contains("reboot: Power down");
    if clean && !tail.contains("Kernel panic") {
        vm.state = VmState::Stopped;
        vm.last_error = None;
    } else {
        vm.state = VmState::Crashed;
        vm.last_error = Some(if tail.contains("Kernel panic") {
            "the guest kernel panicked".into()
        } else {
            "the VMM exited unexpectedly".into()
        });
        tracing::warn!(vm = %vm.name, "VMM is gone: {}", vm.last_error.as_deref().unwrap_or_default());
    }
    vm.vmm_pid = None;
    vm.helper_pid = None;
    vm.tap = None;
    store.update_vm_run(vm)?;
    store.end_sessions(&vm.id, crate::clock::unix_now())?;
    Ok(())
}

/// At daemon start, before adopting: removes what a crash in the middle of
/// `vm create` left (a record whose directory is missing or still marked
/// `creating`: its disks are half-made), and VM directories no record
/// owns. Returns how many were removed.
pub fn clean_unfinished(paths: &Paths, store: &Store) -> Result<usize, VmError> {
    let mut removed = 0;
    let mut owned = std::collections::HashSet::new();
    for vm in store.vms()? {
        let dir = paths.vm_dir(&vm.id);
        owned.insert(vm.id.clone());
        if vm.state == VmState::Running || (dir.is_dir() && !dir.creating().exists()) {
            continue;
        }
        tracing::warn!(vm = %vm.name, dir = %dir.display(), "removing a VM whose create was interrupted (its disks were half-made)");
        if dir.exists() {
            crate::staging::remove_atomically(paths, &dir).map_err(|source| VmError::Io {
                what: format!("removing {}", dir.display()),
                source,
            })?;
        }
        store.delete_vm(&vm.id)?;
        removed += 1;
    }
    let entries = match std::fs::read_dir(paths.vms_dir()) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(source) => {
            return Err(VmError::Io {
                what: format!("reading {}", paths.vms_dir().display()),
                source,
            });
        }
    };
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        if owned.contains(&id) {
            continue;
        }
        tracing::warn!(dir = %entry.path().display(), "removing a VM directory no VM owns (an interrupted create or delete)");
        crate::staging::remove_atomically(paths, &entry.path()).map_err(|source| VmError::Io {
            what: format!("removing {}", entry.path().display()),
            source,
        })?;
        removed += 1;
    }
    Ok(removed)
}

/// At daemon start: re-adopt running VMs whose VMM lives on, and record
/// those that died while no daemon watched.
pub fn adopt_all(paths: &Paths, store: &Store) -> Result<(usize, usize), VmError> {
    let (mut alive, mut gone) = (0, 0);
    for mut vm in store.vms()? {
        if vm.state == VmState::Running {
            refresh(paths, store, &mut vm)?;
            if vm.state == VmState::Running {
                alive += 1;
            } else {
                gone += 1;
            }
        }
    }
    Ok((alive, gone))
}

pub fn view(paths: &Paths, store: &Store, vm: &VmRow) -> Result<Vm, VmError> {
    let image = store
        .image_by_id(&vm.image_id)?
        .map_or_else(|| vm.image_id.clone(), |i| i.name);
    let dir = paths.vm_dir(&vm.id);
    Ok(Vm {
        id: vm.id.clone(),
        name: vm.name.clone(),
        image,
        state: vm.state,
        backend: vm.backend.clone(),
        vcpus: vm.vcpus,
        memory_mib: vm.memory_mib,
        guest_cid: vm.guest_cid,
        ip: vm.ip.clone(),
        tap: vm.tap.clone(),
        ssh_host_keys: vm.host_keys.is_some(),
        vmm_pid: vm.vmm_pid,
        dir: dir.display().to_string(),
        created_at: vm.created_at,
        started_at: vm.started_at,
        last_error: vm.last_error.clone(),
        console_tail: (vm.state == VmState::Crashed).then(|| console_tail(&dir, 20)),
        cpu_percent: None,
        rss_mib: None,
        warm: vm.warm.map(|w| match w {
            crate::store::Warm::Booting => banger_api::vm::WarmState::Booting,
            crate::store::Warm::Ready => banger_api::vm::WarmState::Ready,
        }),
        claimed_warm: false,
    })
}

pub fn list(paths: &Paths, store: &Store) -> Result<Vec<Vm>, VmError> {
    let mut out = Vec::new();
    for mut vm in store.vms()? {
        refresh(paths, store, &mut vm)?;
        out.push(view(paths, store, &vm)?);
    }
    Ok(out)
}

pub fn get(paths: &Paths, store: &Store, name: &str) -> Result<Vm, VmError> {
    let mut vm = row(store, name)?;
    refresh(paths, store, &mut vm)?;
    view(paths, store, &vm)
}
