//! The system `ssh` into a VM, as every command that reaches a guest over
//! SSH uses it: banger's key and known_hosts, host keys always checked, and
//! host keys learned through the agent first when none were recorded.

use crate::context::Context;
use banger_api::routes;
use banger_api::vm::{Vm, VmAction, VmState};

/// `vm` ready for [`ssh`]: a running guest whose host keys were never
/// recorded (its sshd came after boot, e.g. installed at first boot) has
/// them learned through the agent now. Every ssh path goes through here.
pub async fn with_host_keys(client: &banger_api::client::Client, vm: Vm) -> anyhow::Result<Vm> {
    if vm.state != VmState::Running || vm.ssh_host_keys {
        return Ok(vm);
    }
    Ok(client
        .post(&routes::vm_action(&vm.name, "host-keys"), &VmAction {})
        .await?)
}

/// Replaces this process with `ssh` into the VM; returns only on failure.
/// `opts` go before the host: `-t` forces a terminal (a login shell started
/// by a command), `-T` forbids one (a byte-exact pipe).
pub fn ssh(ctx: &Context, vm: &Vm, opts: &[&str], command: &[String]) -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    if vm.state != VmState::Running {
        return anyhow::anyhow!(
            "VM `{}` is {}; start it with `banger vm start {}`",
            vm.name,
            vm.state.as_str(),
            vm.name
        );
    }
    let Some(ip) = vm.ip.as_deref().filter(|_| vm.ssh_host_keys) else {
        return anyhow::anyhow!(
            "VM `{}` has no SSH host keys recorded (its image has no sshd); use `banger vm ports` or the console (`banger vm logs`)",
            vm.name
        );
    };
    let mut cmd = std::process::Command::new("ssh");
    cmd.args(opts).args(ssh_args(
        &ctx.config.ssh_key(&ctx.paths),
        &ctx.paths.known_hosts(),
        ip,
    ));
    if !command.is_empty() {
        cmd.arg("--").args(command);
    }
    let err = cmd.exec();
    anyhow::Error::new(err).context("running ssh (install openssh-client)")
}

/// `ssh -T` into the VM running `command`: a byte-exact pipe (no TTY), the
/// remote status as ours. Replaces this process; returns only on failure.
pub fn ssh_no_tty(ctx: &Context, vm: &Vm, command: &[String]) -> anyhow::Error {
    ssh(ctx, vm, &["-T"], command)
}

/// Key-only, host key always checked against banger's known_hosts.
fn ssh_args(key: &std::path::Path, known_hosts: &std::path::Path, ip: &str) -> Vec<String> {
    let mut a = vec!["-i".to_owned(), key.display().to_string()];
    for opt in [
        "IdentitiesOnly=yes".to_owned(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "GlobalKnownHostsFile=/dev/null".into(),
        "StrictHostKeyChecking=yes".into(),
        "BatchMode=yes".into(),
        "LogLevel=ERROR".into(),
    ] {
        a.push("-o".into());
        a.push(opt);
    }
    a.push(format!("root@{ip}"));
    a
}
