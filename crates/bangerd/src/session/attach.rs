//! `session attach`: the daemon asks the agent for the (exclusive) attach,
//! then serves one `stdio_mux_v1` client on a fresh Unix socket in its
//! runtime directory, bridged to the agent by `agent::stdio`.
//! The guest keeps the session's state, so after a daemon restart a new
//! bridge is simply built the same way.

use super::{SessionError, running_agent};
use crate::agent::AgentError;
use crate::vm::VmEnv;
use banger_agent_proto::{FrameKind, Request, Response, read_frame_async};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::UnixListener;

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
                if let Err(e) = crate::agent::stdio::bridge(client, conn).await {
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
