//! VMs.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmState {
    /// Disks exist, no VMM runs.
    Stopped,
    /// The VMM runs; the guest is booting or up.
    Running,
    /// The VMM died without being asked to.
    Crashed,
}

impl VmState {
    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Stopped => "stopped",
            VmState::Running => "running",
            VmState::Crashed => "crashed",
        }
    }

    pub fn parse(s: &str) -> Option<VmState> {
        match s {
            "stopped" => Some(VmState::Stopped),
            "running" => Some(VmState::Running),
            "crashed" => Some(VmState::Crashed),
            _ => None,
        }
    }
}

/// A warm-pool VM: kept booted for `vm create` and `vm run` to claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WarmState {
    /// Booting into the pool.
    Booting,
    /// Booted and ready to be claimed.
    Ready,
}

impl WarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            WarmState::Booting => "booting",
            WarmState::Ready => "ready",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vm {
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: VmState,
    /// `qemu (tcg)`, `qemu (kvm)` or `firecracker`.
    pub backend: String,
    pub vcpus: u32,
    pub memory_mib: u32,
    pub guest_cid: u32,
    /// The guest's address on the bridge, held from create to delete.
    pub ip: Option<String>,
    /// The host TAP device, while running.
    pub tap: Option<String>,
    /// Whether banger knows the guest's SSH host keys (`vm ssh` works).
    pub ssh_host_keys: bool,
    pub vmm_pid: Option<u32>,
    pub dir: String,
    pub created_at: u64,
    pub started_at: Option<u64>,
    /// Why the VM last failed (boot, crash), when it did.
    pub last_error: Option<String>,
    /// The end of the serial console, for a crashed VM.
    pub console_tail: Option<String>,
    /// The VMM's CPU use (% of one CPU) and resident memory, sampled every
    /// `metrics_poll_interval` while running.
    pub cpu_percent: Option<f64>,
    pub rss_mib: Option<u64>,
    /// Set while the VM belongs to the warm pool (not yet anyone's).
    #[serde(default)]
    pub warm: Option<WarmState>,
    /// Whether this VM came out of the warm pool (in `vm create`'s and
    /// `vm run`'s answer).
    #[serde(default)]
    pub claimed_warm: bool,
}

/// Body of `POST /v1/vms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateVm {
    /// Default: `default_image_name` from the config.
    #[serde(default)]
    pub image: Option<String>,
    /// Default: generated.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub no_start: bool,
    #[serde(default)]
    pub vcpus: Option<u32>,
    #[serde(default)]
    pub memory_mib: Option<u32>,
    /// Size of a fresh work disk when the image has no work-seed.
    #[serde(default)]
    pub disk_size_mib: Option<u64>,
    /// Boot a new VM even when the warm pool has a matching one ready.
    #[serde(default)]
    pub cold: bool,
}

/// Body of `POST /v1/vms/{name}/start` and `/stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmAction {}

/// Answer of `DELETE /v1/vms/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmDeleted {
    pub name: String,
}

/// How to reach a VM's guest opencode service (a dev box's, port 4096):
/// HTTP basic auth with the VM's own password. The one answer that carries
/// it: `GET /v1/vms/{name}/opencode`, on the daemon's socket only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpencodeAccess {
    pub vm: String,
    /// `http://<guest-ip>:4096`
    pub url: String,
    pub username: String,
    pub password: String,
}

/// Never the password in a debug print (logs, panics).
impl std::fmt::Debug for OpencodeAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpencodeAccess")
            .field("vm", &self.vm)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmPorts {
    /// The guest's address: where ports bound to all addresses are reached.
    pub ip: Option<String>,
    pub ports: Vec<VmPort>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmPort {
    pub proto: String,
    pub address: String,
    pub port: u16,
    pub process: Option<String>,
}

/// Answer of `GET /v1/vms/{name}/console?offset=N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleChunk {
    pub data: String,
    /// Pass as `offset` to get what follows.
    pub next_offset: u64,
}

/// Body of `POST /v1/vms/{name}/exec`. After `101 Switching Protocols` the
/// client sends stdin frames (an empty one is EOF) and reads stdout/stderr
/// frames, then the final `exit` (or `error`) message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    pub argv: Vec<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: Vec<(String, String)>,
}
