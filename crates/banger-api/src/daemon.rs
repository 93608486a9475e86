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
