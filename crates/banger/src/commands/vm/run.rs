//! `banger vm run`: a fresh VM, optionally a workspace, then a shell or a
//! command. The VM stays afterwards (its name is printed for `vm delete`).

use crate::context::Context;
use crate::progress::ProgressView;
use crate::workspace::{Mode, absolute, check, describe, prepare};
use banger_api::progress::Progress;
use banger_api::routes;
use banger_api::vm::{CreateVm, ExecRequest, Vm};
use banger_api::workspace::PrepareWorkspace;
use clap::Args;
use clap_complete::ArgValueCandidates;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A git checkout to prepare in the VM (checked before the VM is made)
    path: Option<PathBuf>,
    /// How the checkout travels (needs PATH; full_copy and full-copy both work)
    #[arg(long, value_enum, default_value = "shallow-overlay")]
    mode: Mode,
    /// Make the guest's copy read-only (needs PATH)
    #[arg(long)]
    readonly: bool,
    /// Where in the guest the checkout goes, and the command runs (needs PATH)
    #[arg(long, default_value = "/root/repo")]
    guest_path: String,
    /// VM name (default: generated)
    #[arg(long)]
    name: Option<String>,
    /// Image (default: default_image_name from the config)
    #[arg(long, add = ArgValueCandidates::new(crate::complete::images))]
    image: Option<String>,
    /// Check out (creating it) this branch in the guest checkout (needs PATH)
    #[arg(long)]
    branch: Option<String>,
    /// Start --branch from this revision (needs PATH and --branch)
    #[arg(long)]
    from: Option<String>,
    /// Boot a new VM even when the warm pool (warm_pool_size) has one ready
    #[arg(long)]
    cold: bool,
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
    let chosen = a.readonly || a.guest_path != "/root/repo" || a.mode != Mode::ShallowOverlay;
    if a.path.is_none() && chosen {
        anyhow::bail!(
            "--mode, --readonly and --guest-path choose how the workspace checkout travels: they need a PATH"
        );
    }
    let client = ctx.daemon().await?;
    // Checked before a VM exists, so a refusal costs no VM.
    let workspace = match &a.path {
        Some(p) => {
            let req = PrepareWorkspace {
                path: absolute(p)?,
                guest_path: Some(a.guest_path.clone()),
                readonly: a.readonly,
                mode: a.mode.into(),
                branch: a.branch,
                from: a.from,
            };
            check(&client, &req).await?;
            Some(req)
        }
        None => None,
    };
    let mut view = ProgressView::new();
    let vm: Vm = client
        .stream(
            routes::VMS,
            &CreateVm {
                image: a.image,
                name: a.name,
                cold: a.cold,
                ..Default::default()
            },
            |p: Progress| view.update(p),
        )
        .await?;
    drop(view);
    eprintln!(
        "banger: VM {} is running ({}{}); it stays after this: `banger vm delete --force {}` removes it",
        vm.name,
        vm.ip.as_deref().unwrap_or("no address"),
        if vm.claimed_warm {
            ", from the warm pool"
        } else {
            ""
        },
        vm.name
    );
    if let Some(req) = &workspace {
        let ws = prepare(&client, &vm.name, req).await?;
        eprintln!("banger: workspace {}", describe(&ws));
    }
    let path = workspace.as_ref().map(|w| w.path.clone());
    let cwd = match &workspace {
        Some(_) => a.guest_path.as_str(),
        None => "/root",
    };
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
        start_tooling(&client, &vm.name, path, cwd).await;
    }
    let shell = vec![format!("cd {cwd} && exec \"${{SHELL:-/bin/sh}}\" -l")];
    let vm = crate::ssh::with_host_keys(&client, vm).await?;
    Err(crate::ssh::ssh(ctx, &vm, &["-t"], &shell))
}

/// Interactive workspace mode only: when the guest has mise and the repo
/// declares tools, install them in the background, logging to
/// /root/.cache/banger/vm-run-tooling-<repo>.log. Never fails the session.
async fn start_tooling(client: &banger_api::client::Client, vm: &str, path: &str, cwd: &str) {
    let repo = std::path::Path::new(path)
        .file_name()
        .map_or("repo".into(), |n| n.to_string_lossy().into_owned());
    let script = r#"command -v mise >/dev/null 2>&1 || exit 0
cd "$2" || exit 0
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
            cwd.into(),
        ],
        cwd: None,
        env: vec![("HOME".into(), "/root".into())],
    };
    if let Err(e) = crate::exec::run(client, vm, &req, false).await {
        eprintln!("banger: tooling bootstrap skipped: {e:#}");
    }
}
