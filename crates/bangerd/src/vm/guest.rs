//! What a running guest is asked through its agent for the host: its
//! ports, its SSH host keys.

use super::{VmEnv, VmError, view};
use banger_api::vm::{Vm, VmPort};

/// The guest's address and its listening ports, asked on a user's behalf
/// (the VM counts as used).
pub async fn ports(env: &VmEnv<'_>, name: &str) -> Result<(Option<String>, Vec<VmPort>), VmError> {
    let (vm, _) = super::running(env, name)?;
    env.store.touch_vm(&vm.id, crate::clock::unix_now())?;
    ports_looked_at(env, name).await
}

/// `ports` for a page that shows them: looking is not using, so an open
/// web UI never keeps a VM from being stopped as idle.
pub async fn ports_looked_at(
    env: &VmEnv<'_>,
    name: &str,
) -> Result<(Option<String>, Vec<VmPort>), VmError> {
    let (vm, client) = super::running(env, name)?;
    let ports = client
        .ports()
        .await?
        .into_iter()
        .map(|p| VmPort {
            proto: p.proto,
            address: p.address,
            port: p.port,
            process: p.process,
        })
        .collect();
    Ok((vm.ip, ports))
}

/// Learns a running guest's SSH host keys now: for guests whose sshd came
/// after boot (a pulled image installs it at first boot), so `vm ssh` need
/// not wait for a restart. Keys already recorded are read again.
pub async fn learn_host_keys(env: &VmEnv<'_>, name: &str) -> Result<Vm, VmError> {
    let (mut vm, client) = super::running(env, name)?;
    let keys = match super::ssh::learn_host_keys(&client).await {
        Ok(k) => k,
        Err(VmError::Agent(source)) => {
            return Err(VmError::NoSshYet {
                name: vm.name,
                source,
            });
        }
        Err(e) => return Err(e),
    };
    vm.host_keys = Some(keys);
    env.store.update_vm_run(&vm)?;
    super::ssh::write_known_hosts(env.paths, env.store)?;
    view(env.paths, env.store, &vm)
}
