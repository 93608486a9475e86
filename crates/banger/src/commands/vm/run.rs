//! `banger vm run`: a fresh VM, optionally a workspace, then a shell or a
//! command. The VM stays afterwards (its name is printed for `vm delete`).

use crate::context::Context;
use crate::progress::ProgressView;
use crate::workspace::{absolute, describe, prepare};
use banger_api::progress::Progress;
use banger_api::routes;
use banger_api::vm::{CreateVm, ExecRequest, Vm};
use banger_api::workspace::{PrepareWorkspace, WorkspaceMode};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

const REPO: &str = "/root/repo";

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A git checkout to prepare at /root/repo
    path: Option<PathBuf>,
    /// VM name (default: generated)
    #[arg(long)]
    name: Option<String>,
    /// Image (default: default_image_name from the config)
    #[arg(long)]
    image: Option<String>,
    /// Check out (creating it) this branch in the guest checkout (needs PATH)
    #[arg(long)]
    branch: Option<String>,
    /// Start --branch from this revision (needs PATH and --branch)
    #[arg(long)]
    from: Option<String>,
    /// Command to run instead of a shell (after `--`)
    #[arg(last = true)]
    command: Vec<String>,
}

pub async fn run(ctx: &Context, a: RunArgs) -> anyhow::Result<ExitCode> {
    if a.path.is_none() && (a.branch.is_some() || a.from.is_some()) {
        anyhow::bail!(
            "--branch and --from choose the branch of the workspace checkout: they need a PATH (banger vm run PATH --branch B)"
        );
    }
    if a.from.is_some() && a.branch.is_none() {
        anyhow::bail!("--from needs --branch (the branch to create from that revision)");
    }
    // Checked before a VM exists, so a typo costs no VM.
    let path = match &a.path {
        Some(p) => Some(check_checkout(p)?),
        None => None,
    };
    let client = ctx.daemon().await?;
    let mut view = ProgressView::new();
    let vm: Vm = client
        .stream(
            routes::VMS,
            &CreateVm {
                image: a.image,
                name: a.name,
                ..Default::default()
            },
            |p: Progress| view.update(p),
        )
        .await?;
    drop(view);
    eprintln!(
        "banger: VM {} is running ({}); it stays after this: `banger vm delete --force {}` removes it",
        vm.name,
        vm.ip.as_deref().unwrap_or("no address"),
        vm.name
    );
    if let Some(path) = &path {
        let req = PrepareWorkspace {
            path: path.clone(),
            guest_path: Some(REPO.into()),
            readonly: false,
            mode: WorkspaceMode::ShallowOverlay,
            branch: a.branch,
            from: a.from,
        };
        let ws = prepare(&client, &vm.name, &req).await?;
        eprintln!("banger: workspace {}", describe(&ws));
    }
    let cwd = if path.is_some() { REPO } else { "/root" };
    if !a.command.is_empty() {
        let req = ExecRequest {
            argv: a.command,
            cwd: Some(cwd.into()),
            env: vec![("HOME".into(), "/root".into())],
        };
        let status = crate::exec::run(&client, &vm.name, &req, true).await?;
        return Ok(ExitCode::from(status.clamp(0, 255) as u8));
    }
    if let Some(path) = &path {
        start_tooling(&client, &vm.name, path).await;
    }
    let shell = vec![format!("cd {cwd} && exec \"${{SHELL:-/bin/sh}}\" -l")];
    let vm = crate::ssh::with_host_keys(&client, vm).await?;
    Err(crate::ssh::ssh(ctx, &vm, &["-t"], &shell))
}

/// PATH must be a git checkout; returned absolute.
fn check_checkout(p: &std::path::Path) -> anyhow::Result<String> {
    let abs = absolute(p)?;
    let ok = std::process::Command::new("git")
        .args(["-C", &abs, "rev-parse", "--show-toplevel"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        anyhow::bail!("{abs} is not a git checkout");
    }
    Ok(abs)
}

/// Interactive workspace mode only: when the guest has mise and the repo
/// declares tools, install them in the background, logging to
/// /root/.cache/banger/vm-run-tooling-<repo>.log. Never fails the session.
async fn start_tooling(client: &banger_api::client::Client, vm: &str, path: &str) {
    let repo = std::path::Path::new(path)
        .file_name()
        .map_or("repo".into(), |n| n.to_string_lossy().into_owned());
    let script = r#"command -v mise >/dev/null 2>&1 || exit 0
cd /root/repo || exit 0
[ -f mise.toml ] || [ -f .mise.toml ] || [ -f .tool-versions ] || exit 0
mkdir -p /root/.cache/banger
nohup sh -c 'mise trust -a; mise install' > "/root/.cache/banger/vm-run-tooling-$1.log" 2>&1 </dev/null &"#;
    let req = ExecRequest {
        argv: vec![
            "sh".into(),
            "-c".into(),
            script.into(),
            "banger-tooling".into(),
            repo,
        ],
        cwd: None,
        env: vec![("HOME".into(), "/root".into())],
    };
    if let Err(e) = crate::exec::run(client, vm, &req, false).await {
        eprintln!("banger: tooling bootstrap skipped: {e:#}");
    }
}
