//! Guest sessions through the daemon: the agent owns them (process, pipes,
//! exit status, logs on the guest disk); the daemon relays requests and
//! keeps the catalogue in SQLite, so `session list` still answers for a
//! stopped VM and records how its sessions ended.

use crate::agent::{AgentClient, AgentError};
use crate::store::VmRow;
use crate::vm::{VmEnv, VmError, refresh, row};
use banger_agent_proto::{LogStream, Request, Response, SessionInfo, StdinMode};
use banger_api::session::{Session, SessionLogs, SessionState, SessionStdin, StartSession};
use banger_api::vm::VmState;
use tokio::net::UnixStream;

mod attach;
pub use attach::attach;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Vm(#[from] VmError),
    #[error("invalid session name: {0}")]
    InvalidName(String),
    #[error("--env: {0}")]
    InvalidEnv(String),
    #[error("no session named `{name}` in VM `{vm}`")]
    NotFound { vm: String, name: String },
    #[error("--stream must be stdout or stderr, not `{0}`")]
    BadStream(String),
    #[error("{0}")]
    Refused(String),
    #[error("asking the guest agent")]
    Agent(#[source] AgentError),
    #[error("making the attach socket {}", path.display())]
    Socket {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<AgentError> for SessionError {
    fn from(e: AgentError) -> Self {
        match e {
            // The agent's own refusal (preflight, running name, ...) is the message.
            AgentError::Guest(m) => SessionError::Refused(m),
            e => SessionError::Agent(e),
        }
    }
}

impl From<crate::store::StoreError> for SessionError {
    fn from(e: crate::store::StoreError) -> Self {
        SessionError::Vm(e.into())
    }
}

impl SessionError {
    /// What kind of failure this is (the API picks the HTTP status from it).
    pub fn kind(&self) -> banger_api::ErrorKind {
        use banger_api::ErrorKind as S;
        match self {
            SessionError::Vm(e) => e.kind(),
            SessionError::InvalidName(_)
            | SessionError::InvalidEnv(_)
            | SessionError::BadStream(_) => S::BadRequest,
            SessionError::NotFound { .. } => S::NotFound,
            SessionError::Refused(_) => S::Conflict,
            SessionError::Agent(_) | SessionError::Socket { .. } => S::Internal,
        }
    }
}

fn view(vm: &str, s: SessionInfo) -> Session {
    Session {
        vm: vm.into(),
        name: s.name,
        argv: s.argv,
        cwd: s.cwd,
        stdin_mode: match s.stdin_mode {
            StdinMode::Detached => SessionStdin::Detached,
            StdinMode::Pipe => SessionStdin::Pipe,
        },
        pid: s.pid,
        state: match s.state {
            banger_agent_proto::SessionState::Running => SessionState::Running,
            banger_agent_proto::SessionState::Exited => SessionState::Exited,
        },
        started_at: s.started_at,
        ended_at: s.ended_at,
        exit_code: s.exit_code,
        exit_signal: s.exit_signal,
        ended_by: s.ended_by,
    }
}

/// The VM, and its agent if it runs.
fn vm_and_agent(env: &VmEnv<'_>, name: &str) -> Result<(VmRow, Option<AgentClient>), SessionError> {
    let mut vm = row(env.store, name)?;
    refresh(env.paths, env.store, &mut vm)?;
    let agent = (vm.state == VmState::Running)
        .then(|| AgentClient::hybrid_vsock(&env.paths.vm_dir(&vm.id).vsock()));
    Ok((vm, agent))
}

fn running_agent(env: &VmEnv<'_>, name: &str) -> Result<(VmRow, AgentClient), SessionError> {
    Ok(crate::vm::running(env, name)?)
}

fn record(env: &VmEnv<'_>, vm: &VmRow, s: &Session) -> Result<(), SessionError> {
    let now = crate::clock::unix_now();
    env.store.put_session(&vm.id, s, now)?;
    env.store.touch_vm(&vm.id, now)?;
    Ok(())
}

pub async fn start(env: &VmEnv<'_>, vm: &str, req: StartSession) -> Result<Session, SessionError> {
    banger_config::config::check_name(&req.name).map_err(SessionError::InvalidName)?;
    for (k, v) in &req.env {
        banger_api::session::check_env_name(k).map_err(SessionError::InvalidEnv)?;
        if v.contains('\0') {
            return Err(SessionError::InvalidEnv(format!(
                "the value of `{k}` holds a NUL byte"
            )));
        }
    }
    let (vm, agent) = running_agent(env, vm)?;
    let mut vars = vec![("HOME".to_owned(), "/root".to_owned())];
    for (k, v) in req.env {
        vars.retain(|(have, _)| *have != k);
        vars.push((k, v));
    }
    let r = agent
        .request(&Request::SessionStart {
            name: req.name,
            argv: req.argv,
            cwd: req.cwd,
            env: vars,
            stdin_mode: match req.stdin_mode {
                SessionStdin::Detached => StdinMode::Detached,
                SessionStdin::Pipe => StdinMode::Pipe,
            },
            require: req.require,
        })
        .await?;
    let Response::Session { session } = r else {
        return Err(AgentError::Unexpected(format!("{r:?}")).into());
    };
    let s = view(&vm.name, session);
    record(env, &vm, &s)?;
    tracing::info!(vm = %vm.name, session = %s.name, pid = s.pid, "session started");
    Ok(s)
}

/// From the agent when the VM runs (and recorded), else as recorded.
pub async fn list(env: &VmEnv<'_>, vm: &str) -> Result<Vec<Session>, SessionError> {
    let (vm, agent) = vm_and_agent(env, vm)?;
    let Some(agent) = agent else {
        return Ok(env.store.sessions(&vm.id)?);
    };
    let r = agent.request(&Request::SessionList).await?;
    let Response::Sessions { sessions } = r else {
        return Err(AgentError::Unexpected(format!("{r:?}")).into());
    };
    let now = crate::clock::unix_now();
    let live: Vec<Session> = sessions.into_iter().map(|s| view(&vm.name, s)).collect();
    for s in &live {
        env.store.put_session(&vm.id, s, now)?;
    }
    // Recorded as running but unknown to this agent: they ended with an
    // earlier boot of the VM.
    for mut s in env.store.sessions(&vm.id)? {
        if s.state == SessionState::Running && !live.iter().any(|l| l.name == s.name) {
            s.state = SessionState::VmStopped;
            s.ended_at = Some(now);
            env.store.put_session(&vm.id, &s, now)?;
        }
    }
    Ok(env.store.sessions(&vm.id)?)
}

pub async fn get(env: &VmEnv<'_>, vm: &str, name: &str) -> Result<Session, SessionError> {
    list(env, vm)
        .await?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| SessionError::NotFound {
            vm: vm.into(),
            name: name.into(),
        })
}

pub async fn stop(
    env: &VmEnv<'_>,
    vm: &str,
    name: &str,
    grace_secs: u64,
) -> Result<Session, SessionError> {
    let (vm, agent) = running_agent(env, vm)?;
    // The agent waits out the grace period, then up to 10 s after SIGKILL.
    let deadline =
        crate::agent::CALL_DEADLINE + std::time::Duration::from_secs(grace_secs.saturating_add(10));
    let r = agent
        .request_within(
            &Request::SessionStop {
                name: name.into(),
                grace_ms: grace_secs.saturating_mul(1000),
            },
            deadline,
        )
        .await?;
    let Response::Session { session } = r else {
        return Err(AgentError::Unexpected(format!("{r:?}")).into());
    };
    let s = view(&vm.name, session);
    record(env, &vm, &s)?;
    tracing::info!(vm = %vm.name, session = %s.name, ended_by = ?s.ended_by, "session stopped");
    Ok(s)
}

pub async fn kill(
    env: &VmEnv<'_>,
    vm: &str,
    name: &str,
    signal: i32,
) -> Result<Session, SessionError> {
    let (vm_row, agent) = running_agent(env, vm)?;
    agent
        .request(&Request::SessionSignal {
            name: name.into(),
            signal,
        })
        .await?;
    // Give a fatal signal a moment to be reaped, so the answer shows it.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    get(env, &vm_row.name, name).await
}

/// Opens the agent's log stream for a relay to the client.
pub async fn logs(
    env: &VmEnv<'_>,
    vm: &str,
    name: &str,
    req: SessionLogs,
) -> Result<UnixStream, SessionError> {
    let stream = match req.stream.as_deref() {
        None => None,
        Some("stdout") => Some(LogStream::Stdout),
        Some("stderr") => Some(LogStream::Stderr),
        Some(other) => return Err(SessionError::BadStream(other.into())),
    };
    let (vm, agent) = running_agent(env, vm)?;
    if !env.store.sessions(&vm.id)?.iter().any(|s| s.name == name) {
        // Not recorded here: let the agent's list decide (it may predate us).
        get(env, &vm.name, name).await?;
    }
    env.store.touch_vm(&vm.id, crate::clock::unix_now())?;
    Ok(agent
        .open_raw(&Request::SessionLogs {
            name: name.into(),
            stream,
            tail: req.tail,
            follow: req.follow,
        })
        .await?)
}
