//! What both backends are given to boot a VM, and the one trait they share.
//! Both give the guest the same devices (vda rootfs, vdb work disk, one NIC
//! on a TAP, vsock) and the host the same hybrid vsock Unix socket, so
//! everything after launch (agent, readiness, stop) is backend-neutral;
//! what still differs (defaults, a second way to stop a guest, where a
//! failure is told) is asked of the backend through this trait.

use super::Backend;
use futures_util::future::BoxFuture;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Launch {
    /// The VM's directory: sockets, logs. Every VMM process names it on its
    /// command line (how a restarted daemon recognises them).
    pub dir: PathBuf,
    pub id: String,
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    /// banger's part of the kernel command line (root, network).
    pub cmdline: String,
    /// In order: /dev/vda, /dev/vdb.
    pub drives: Vec<PathBuf>,
    pub tap: String,
    pub mac: String,
    pub vcpus: u32,
    pub memory_mib: u32,
    pub guest_cid: u32,
    /// The hybrid vsock socket the agent client connects to.
    pub vsock: PathBuf,
    /// Where the guest's serial console goes.
    pub console_log: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Launched {
    pub vmm_pid: u32,
    /// A helper process the VM needs (QEMU's vhost-device-vsock).
    pub helper_pid: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum VmmError {
    #[error("starting {what}")]
    Spawn {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} exited or did not create {} within {}s; its output:\n{log}", socket.display(), waited.as_secs())]
    NoSocket {
        what: &'static str,
        socket: PathBuf,
        waited: std::time::Duration,
        log: String,
    },
    #[error("Firecracker refused {request} (HTTP {status}): {fault}")]
    Api {
        request: String,
        status: u16,
        fault: String,
    },
    #[error("talking to Firecracker's API for {request}")]
    ApiIo {
        request: String,
        #[source]
        source: std::io::Error,
    },
}

/// A virtual machine monitor, chosen once (`select.rs`) and used as a
/// trait object by everything that boots or stops VMs.
pub trait Vmm: Send + Sync + std::fmt::Debug {
    /// Which backend this is (recorded with each VM it boots).
    fn backend(&self) -> Backend;

    /// Starts the VMM (and its helpers) detached, returning once the guest
    /// has been started; the caller then waits for the agent.
    fn launch<'a>(&'a self, l: &'a Launch) -> BoxFuture<'a, Result<Launched, VmmError>>;

    /// vCPUs when the user names none.
    fn default_vcpus(&self) -> u32 {
        2
    }

    /// How long a booting guest may take before it counts as failed.
    fn ready_limit(&self) -> Duration {
        Duration::from_secs(90)
    }

    /// A second way to ask a guest in `dir` to stop, for when its agent does
    /// not answer; false when the backend has none or it failed.
    fn request_shutdown<'a>(&'a self, _dir: &'a Path) -> BoxFuture<'a, bool> {
        Box::pin(async { false })
    }

    /// The cause the VMM itself logged for a guest that failed to boot,
    /// short enough for a VM's `last_error`.
    fn failure_cause(&self, _dir: &Path) -> Option<String> {
        None
    }

    /// What the VMM's own log adds to a boot failure's report (the
    /// console's end is always shown).
    fn failure_log(&self, _dir: &Path) -> Option<String> {
        None
    }
}

/// Waits for `socket` to appear while `pid` runs; on failure terminates
/// the process and returns the end of its `log`.
pub async fn wait_for_socket(
    what: &'static str,
    pid: u32,
    dir: &std::path::Path,
    socket: &std::path::Path,
    log: &std::path::Path,
) -> Result<(), VmmError> {
    use super::process;
    use std::time::{Duration, Instant};
    let started = Instant::now();
    let limit = Duration::from_secs(10);
    while !socket.exists() {
        if started.elapsed() > limit || !process::is_ours(pid, dir) {
            process::terminate(pid, dir, Duration::from_secs(2));
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            return Err(VmmError::NoSocket {
                what,
                socket: socket.to_owned(),
                waited: started.elapsed(),
                log: lines[lines.len().saturating_sub(20)..].join("\n"),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
