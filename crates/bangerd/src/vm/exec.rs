//! Commands in a running guest for a client: the daemon opens the agent
//! connection (so the VM's state is checked and its use recorded) and the
//! API relays the agent's frames to the client unchanged.

use super::{VmEnv, VmError};
use crate::vmm::stall::StallWatch;
use banger_api::vm::ExecRequest;
use tokio::net::UnixStream;

/// The command's agent connection, and a watch over the guest for whoever
/// relays it (a stuck guest would hold the command for ever: vmm::stall).
pub async fn open(
    env: &VmEnv<'_>,
    name: &str,
    req: ExecRequest,
) -> Result<(UnixStream, StallWatch), VmError> {
    if req.argv.is_empty() {
        return Err(VmError::EmptyCommand);
    }
    let (vm, client) = super::running(env, name)?;
    env.store.touch_vm(&vm.id, crate::clock::unix_now())?;
    let watch = StallWatch::new(
        env.paths.vm_dir(&vm.id).console(),
        vm.vmm_pid.unwrap_or_default(),
    );
    Ok((client.open_exec(req.argv, req.cwd, req.env).await?, watch))
}
