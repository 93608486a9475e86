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
    Ok,
    /// The request failed in the agent (bad request, program not found, ...).
    Error {
        message: String,
    },
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
