//! `banger vm acp`: the caller's stdio bridged to `opencode acp` in the
//! guest over SSH (no TTY, so bytes pass unchanged), for ACP-aware tools.

use crate::context::Context;
use banger_api::routes;
use banger_api::vm::{ExecRequest, Vm};
use clap::Args;
use clap_complete::ArgValueCandidates;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct AcpArgs {
    /// The VM (running, with opencode installed)
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    vm: String,
    /// Working directory in the guest (default: /root/repo when it exists, else /root)
    #[arg(long)]
    cwd: Option<String>,
}

/// Runs `script` in the guest through the agent, without stdin; its status.
async fn probe(client: &banger_api::client::Client, vm: &str, script: &str) -> anyhow::Result<i32> {
    let req = ExecRequest {
        argv: vec!["sh".into(), "-c".into(), script.into()],
        cwd: None,
        env: vec![("HOME".into(), "/root".into())],
    };
    crate::exec::run_captured(client, vm, &req).await
}

pub async fn run(ctx: &Context, a: AcpArgs) -> anyhow::Result<ExitCode> {
    let client = ctx.daemon().await?;
    let vm: Vm = client.get(&routes::vm(&a.vm)).await?;
    if probe(&client, &vm.name, "command -v opencode || PATH=\"$PATH:/root/.opencode/bin:/usr/local/bin\" command -v opencode").await? != 0 {
        anyhow::bail!(
            "opencode is not installed in VM `{}` (install it in the image, e.g. `npm install -g opencode-ai`)",
            vm.name
        );
    }
    let cwd = match a.cwd {
        Some(c) => c,
        None if probe(&client, &vm.name, "test -d /root/repo").await? == 0 => "/root/repo".into(),
        None => "/root".into(),
    };
    let quoted = format!("'{}'", cwd.replace('\'', r"'\''"));
    let command = vec![format!(
        "cd {quoted} && PATH=\"$PATH:/root/.opencode/bin:/usr/local/bin\" exec opencode acp"
    )];
    let vm = crate::ssh::with_host_keys(&client, vm).await?;
    Err(crate::ssh::ssh_no_tty(ctx, &vm, &command))
}
