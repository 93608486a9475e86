//! Daemon lifecycle messages.

use serde::{Deserialize, Serialize};

/// Answer to `GET /v1/daemon/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonStatus {
    pub pid: u32,
    pub version: String,
    pub socket: String,
    /// Unix seconds when this daemon started.
    pub started_at: u64,
    pub uptime_secs: u64,
    /// `http://ADDR/TOKEN/` of the web UI as actually bound (the token is
    /// the secret that lets a page in), or `None` when disabled.
    pub web_url: Option<String>,
    /// Why the web UI is not listening although configured, if so.
    pub web_error: Option<String>,
    pub data_dir: String,
    pub log_file: String,
    /// Where the daemon found the guest agent binary it injects into guests.
    pub agent_path: Option<String>,
    /// The previous daemon run did not record a clean stop (crash, kill -9,
    /// power loss). Recovery work on start reports itself in the log.
    pub previous_run_unclean: bool,
    /// The warm pool: VMs kept booted for creates to claim.
    #[serde(default)]
    pub warm_pool: WarmPool,
}

/// `daemon status`'s account of the warm pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmPool {
    /// `warm_pool_size`: VMs kept per image (0: no pool).
    pub size: u32,
    pub images: Vec<WarmPoolImage>,
    /// Guest memory the warm VMs hold, all images.
    pub memory_mib: u64,
    /// Why the pool is short, when it is (a boot that failed).
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmPoolImage {
    pub image: String,
    pub ready: u32,
    pub booting: u32,
}

/// Body of `POST /v1/daemon/shutdown`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownRequest {}

/// Answer to `POST /v1/daemon/shutdown`: the daemon stops after replying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownReply {
    pub pid: u32,
}
