//! `session attach`: the daemon asks the agent for the (exclusive) attach,
//! then serves one `stdio_mux_v1` client on a fresh Unix socket in its
//! runtime directory and translates between it and the agent's frames.
//! The guest keeps the session's state, so after a daemon restart a new
//! bridge is simply built the same way.

use super::{SessionError, running_agent};
use crate::agent::AgentError;
use crate::vm::VmEnv;
use banger_agent_proto::{
    Frame, FrameKind, Request, Response, read_frame_async, write_frame_async,
};
use banger_api::mux::{self, ExitStatus, Kind};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};

/// How long the bridge waits for its client to connect.
const ACCEPT_WITHIN: Duration = Duration::from_secs(30);

pub async fn attach(
    env: &VmEnv<'_>,
    vm: &str,
    name: &str,
    holder: &str,
) -> Result<PathBuf, SessionError> {
    let (vm, agent) = running_agent(env, vm)?;
    let mut conn = agent
        .open_raw(&Request::SessionAttach {
            name: name.into(),
            holder: holder.into(),
        })
        .await?;
    match read_frame_async(&mut conn)
        .await
        .map_err(AgentError::from)?
    {
        Some(f) if f.kind == FrameKind::Message => {
            match f.as_response().map_err(AgentError::from)? {
                Response::Ok => {}
                Response::Error { message } => return Err(SessionError::Refused(message)),
                other => return Err(AgentError::Unexpected(format!("{other:?}")).into()),
            }
        }
        _ => return Err(AgentError::Closed.into()),
    }
    env.store.touch_vm(&vm.id, crate::clock::unix_now())?;
    let socket = env
        .paths
        .runtime_dir
        .join(format!("attach-{}.sock", crate::staging::random_hex(6)));
    let listener = UnixListener::bind(&socket).map_err(|source| SessionError::Socket {
        path: socket.clone(),
        source,
    })?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600));
    let (vm_name, session) = (vm.name.clone(), name.to_owned());
    let path = socket.clone();
    tokio::spawn(async move {
        let accepted = tokio::time::timeout(ACCEPT_WITHIN, listener.accept()).await;
        let _ = std::fs::remove_file(&path);
        match accepted {
            Ok(Ok((client, _))) => {
                if let Err(e) = bridge(client, conn).await {
                    tracing::debug!(vm = %vm_name, session = %session, error = %e, "attach bridge ended");
                }
                tracing::info!(vm = %vm_name, session = %session, "detached");
            }
            _ => {
                tracing::info!(vm = %vm_name, session = %session, "nobody connected to the attach socket")
            }
        }
        // Dropping the agent connection detaches in the guest.
    });
    Ok(socket)
}

async fn bridge(client: UnixStream, agent: UnixStream) -> std::io::Result<()> {
    let (mut c_rd, mut c_wr) = client.into_split();
    let (mut a_rd, mut a_wr) = agent.into_split();
    let to_agent = async {
        while let Some((kind, payload)) = mux::read(&mut c_rd).await? {
            let frame = match kind {
                Kind::Stdin if !payload.is_empty() => Frame::data(FrameKind::Stdin, &payload),
                Kind::CloseStdin => Frame::data(FrameKind::Stdin, b""),
                Kind::Detach => break,
                _ => continue,
            };
            write_frame_async(&mut a_wr, &frame)
                .await
                .map_err(std::io::Error::other)?;
        }
        Ok::<(), std::io::Error>(())
    };
    let to_client = async {
        loop {
            let Some(f) = read_frame_async(&mut a_rd)
                .await
                .map_err(std::io::Error::other)?
            else {
                return Ok::<(), std::io::Error>(());
            };
            match f.kind {
                FrameKind::Stdout => mux::write(&mut c_wr, Kind::Stdout, &f.payload).await?,
                FrameKind::Stderr => mux::write(&mut c_wr, Kind::Stderr, &f.payload).await?,
                FrameKind::Message => {
                    if let Ok(Response::Exit { code, signal }) = f.as_response() {
                        let status =
                            serde_json::to_vec(&ExitStatus { code, signal }).expect("serializable");
                        mux::write(&mut c_wr, Kind::Exit, &status).await?;
                    }
                    return Ok(());
                }
                FrameKind::Stdin => {}
            }
        }
    };
    // Whichever side ends first ends the bridge (detach or session exit).
    tokio::select! {
        r = to_agent => r,
        r = to_client => r,
    }
}
