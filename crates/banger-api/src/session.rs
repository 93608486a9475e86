//! Guest sessions: long-lived commands the guest agent owns.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStdin {
    /// stdin is /dev/null.
    #[default]
    Detached,
    /// stdin is a pipe kept open by the guest agent.
    Pipe,
}

/// Body of `POST /v1/vms/{vm}/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartSession {
    pub name: String,
    pub argv: Vec<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub stdin_mode: SessionStdin,
    /// Commands that must resolve in the guest's PATH.
    #[serde(default)]
    pub require: Vec<String>,
    /// Environment for the command, over `HOME=/root` and the guest's PATH.
    #[serde(default)]
    pub env: Vec<(String, String)>,
}

/// An environment variable name a shell could set: letters, digits and
/// `_`, not starting with a digit.
pub fn check_env_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an environment variable name (letters, digits and _, not starting with a digit)"
        ))
    }
}

/// Where a session is: on the wire `running`, `exited` or `vm_stopped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Running,
    Exited,
    /// Ended with its VM (stopped or crashed while the session ran).
    VmStopped,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Running => "running",
            SessionState::Exited => "exited",
            SessionState::VmStopped => "vm_stopped",
        }
    }
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub vm: String,
    pub name: String,
    pub argv: Vec<String>,
    pub cwd: Option<String>,
    pub stdin_mode: SessionStdin,
    pub pid: u32,
    pub state: SessionState,
    pub started_at: u64,
    pub ended_at: Option<u64>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    /// How `session stop` ended it: `SIGTERM`, or `SIGKILL` after the grace period.
    pub ended_by: Option<String>,
}

/// Body of `POST /v1/vms/{vm}/sessions/{name}/stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopSession {
    /// Seconds between SIGTERM and SIGKILL (default 10).
    #[serde(default)]
    pub grace_secs: Option<u64>,
}

/// Body of `POST /v1/vms/{vm}/sessions/{name}/kill`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillSession {
    pub signal: i32,
}

/// Body of `POST /v1/vms/{vm}/sessions/{name}/logs` (an upgrade to the
/// agent's frames: stdout and stderr frames, then an `ok` message).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionLogs {
    /// `stdout` or `stderr`; both when absent.
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub tail: Option<u64>,
    #[serde(default)]
    pub follow: bool,
}

/// Body of `POST /v1/vms/{vm}/sessions/{name}/attach`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachSession {
    /// Who attaches, as a second attach is told ("pid 123 (alice)").
    pub holder: String,
}

/// Where to speak `stdio_mux_v1` for this attach (one client, within 30 s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attached {
    pub socket: String,
    pub protocol: String,
}
