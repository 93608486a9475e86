//! What both backends are given to boot a VM, and the one trait they share.
//! Both give the guest the same devices (vda rootfs, vdb work disk, one NIC
//! on a TAP, vsock) and the host the same hybrid vsock Unix socket, so
//! everything after launch (agent, readiness, stop) is backend-neutral.

use std::future::Future;
use std::path::PathBuf;

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

pub trait Vmm: Send + Sync {
    /// Starts the VMM (and its helpers) detached, returning once the guest
    /// has been started; the caller then waits for the agent.
    fn launch(&self, l: &Launch) -> impl Future<Output = Result<Launched, VmmError>> + Send;
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
    use crate::vm::process;
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
