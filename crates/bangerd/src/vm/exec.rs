//! Commands in a running guest for a client: the daemon opens the agent
//! connection (so the VM's state is checked and its use recorded) and the
//! API relays the agent's frames to the client unchanged.

use super::{VmEnv, VmError, refresh, row};
use crate::agent::AgentClient;
use banger_api::vm::{ExecRequest, VmState};
use tokio::net::UnixStream;

pub async fn open(env: &VmEnv<'_>, name: &str, req: ExecRequest) -> Result<UnixStream, VmError> {
    if req.argv.is_empty() {
        return Err(VmError::EmptyCommand);
    }
    let mut vm = row(env.store, name)?;
    refresh(env.paths, env.store, &mut vm)?;
    if vm.state != VmState::Running {
        return Err(VmError::NotRunning(vm.name));
    }
    env.store.touch_vm(&vm.id, crate::clock::unix_now())?;
    let client = AgentClient::hybrid_vsock(&env.paths.vm_dir(&vm.id).vsock());
    Ok(client.open_exec(req.argv, req.cwd, req.env).await?)
}
