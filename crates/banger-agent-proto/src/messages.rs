use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Is the agent up? Answered with `Pong`.
    Ping,
    /// Run a program. Output streams as stdout/stderr frames, then `Exit`.
    Exec {
        argv: Vec<String>,
        #[serde(default)]
        cwd: Option<String>,
        /// Added to the agent's environment.
        #[serde(default)]
        env: Vec<(String, String)>,
        /// Whether the host sends stdin frames; otherwise stdin is /dev/null.
        #[serde(default)]
        stdin: bool,
    },
    /// Unpack a tar stream into directory `dest` (made if missing). The tar
    /// bytes follow as stdin frames, an empty one ending them; answered
    /// with `Ok`, or `Error` (nothing outside `dest` is ever written).
    PutTar { dest: String },
    /// Stream `path` (a directory's contents, or one file) as a tar in
    /// stdout frames, then `Ok` (or `Error`). Symlinks stay symlinks.
    GetTar { path: String },
    /// Start a long-lived session (see `sessions` in the agent). Checked
    /// first: `cwd` exists, `argv[0]` and every `require` resolve in PATH;
    /// all that is missing is named in one `Error`, and nothing starts.
    SessionStart {
        name: String,
        argv: Vec<String>,
        #[serde(default)]
        cwd: Option<String>,
        #[serde(default)]
        env: Vec<(String, String)>,
        stdin_mode: StdinMode,
        #[serde(default)]
        require: Vec<String>,
    },
    /// All sessions, running and ended. Answered with `Sessions`.
    SessionList,
    /// A session's logs as stdout/stderr frames, then `Ok`. `tail`: only
    /// the last lines of each stream; `follow`: keep sending until it ends.
    SessionLogs {
        name: String,
        #[serde(default)]
        stream: Option<LogStream>,
        #[serde(default)]
        tail: Option<u64>,
        #[serde(default)]
        follow: bool,
    },
    /// SIGTERM, then SIGKILL after `grace_ms`; answered with the ended
    /// `Session`.
    SessionStop { name: String, grace_ms: u64 },
    /// Send a signal; answered with `Ok`.
    SessionSignal { name: String, signal: i32 },
    /// Attach to a `pipe` session, exclusively: answered with `Ok` (or an
    /// `Error` naming the current holder); then the output produced while
    /// nobody was attached, then live stdout/stderr frames, and `Exit` when
    /// it ends. Stdin frames from the host go to the session (an empty one
    /// closes its stdin); closing the connection detaches.
    SessionAttach { name: String, holder: String },
    /// Listening TCP and UDP sockets in the guest.
    Ports,
    /// Power the guest off cleanly. Answered with `Ok` before it happens.
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Response {
    Pong {
        agent_version: String,
        protocol: u32,
        hostname: String,
        uptime_secs: u64,
    },
    /// How an `Exec` ended: an exit code, or the signal that killed it.
    Exit {
        code: Option<i32>,
        signal: Option<i32>,
    },
    Ports {
        ports: Vec<ListeningPort>,
    },
    Session {
        session: SessionInfo,
    },
    Sessions {
        sessions: Vec<SessionInfo>,
    },
    Ok,
    /// The request failed in the agent (bad request, program not found, ...).
    Error {
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StdinMode {
    /// stdin is /dev/null.
    Detached,
    /// stdin is a pipe the agent holds; clients attach to write to it.
    Pipe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// Where a session is, as the agent knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Running,
    Exited,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Running => "running",
            SessionState::Exited => "exited",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionInfo {
    pub name: String,
    pub argv: Vec<String>,
    pub cwd: Option<String>,
    pub stdin_mode: StdinMode,
    pub pid: u32,
    pub state: SessionState,
    /// Unix seconds.
    pub started_at: u64,
    pub ended_at: Option<u64>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    /// How a stop ended it: `SIGTERM` or `SIGKILL` (after the grace period).
    pub ended_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListeningPort {
    /// `tcp` or `udp`.
    pub proto: String,
    pub address: String,
    pub port: u16,
    pub process: Option<String>,
    pub pid: Option<u32>,
}

impl Response {
    /// The shell convention: the exit code, or 128 + the signal number.
    pub fn exit_status(&self) -> Option<i32> {
        match self {
            Response::Exit { code: Some(c), .. } => Some(*c),
            Response::Exit {
                signal: Some(s), ..
            } => Some(128 + s),
            _ => None,
        }
    }
}
