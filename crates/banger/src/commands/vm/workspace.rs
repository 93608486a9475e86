//! `banger vm workspace prepare`.

use crate::context::Context;
use crate::render;
use crate::workspace::{Mode, absolute, describe, prepare};
use banger_api::routes;
use banger_api::workspace::{ExportWorkspace, ExportedWorkspace, PrepareWorkspace};
use clap::{Args, Subcommand};
use clap_complete::ArgValueCandidates;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Materialise a local git checkout in a running VM
    ///
    /// The default mode copies the git metadata at depth 1 (HEAD, its
    /// branch, the remotes), every tracked and untracked (not ignored) file
    /// as it is in your working tree, and your index, so `git status` in the
    /// guest is yours: staged and unstaged changes apart. Submodules come
    /// as they are on the host: populated ones with their HEAD, files and
    /// changes; uninitialised ones as an empty directory. Streamed through
    /// the guest agent; nothing is staged on the host.
    ///
    /// Example: banger vm workspace prepare dev ../repo --readonly
    Prepare(PrepareArgs),
    /// Bring the guest's work back as a branch of the host repository
    ///
    /// The guest's changes are committed there, sent as a git bundle through
    /// the agent and fetched into the host repository as branch NAME
    /// (default banger/<vm>); your working tree and current branch are not
    /// touched. Prints the diffstat against where the workspace started.
    ///
    /// Example: banger vm workspace export dev --branch try-fix
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The VM (running)
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    vm: String,
    /// Host branch to create (default: banger/<vm>)
    #[arg(long)]
    branch: Option<String>,
    /// The guest checkout
    #[arg(long, default_value = "/root/repo")]
    guest_path: String,
    /// Replace the branch if it exists
    #[arg(long)]
    force: bool,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// The VM (running)
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    vm: String,
    /// The git checkout (default: the current directory)
    path: Option<std::path::PathBuf>,
    /// Where in the guest
    #[arg(long, default_value = "/root/repo")]
    guest_path: String,
    /// Make the guest's copy read-only (a read-only bind mount)
    #[arg(long)]
    readonly: bool,
    /// How the checkout travels (full_copy and full-copy both work)
    #[arg(long, value_enum, default_value = "shallow-overlay")]
    mode: Mode,
    /// Check out (creating it) this branch in the guest
    #[arg(long)]
    branch: Option<String>,
    /// Start --branch from this revision instead of HEAD
    #[arg(long, requires = "branch")]
    from: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

pub async fn run(ctx: &Context, cmd: Command) -> anyhow::Result<ExitCode> {
    let client = ctx.daemon().await?;
    match cmd {
        Command::Prepare(a) => {
            let path = absolute(a.path.as_deref().unwrap_or(Path::new(".")))?;
            let req = PrepareWorkspace {
                path,
                guest_path: Some(a.guest_path),
                readonly: a.readonly,
                mode: a.mode.into(),
                branch: a.branch,
                from: a.from,
            };
            let ws = prepare(&client, &a.vm, &req).await?;
            render::output(a.json, &ws, |ws| println!("prepared {}", describe(ws)))?;
        }
        Command::Export(a) => {
            let req = ExportWorkspace {
                guest_path: Some(a.guest_path),
                branch: a.branch,
                force: a.force,
            };
            let path = format!("{}/export", routes::vm_action(&a.vm, "workspace"));
            let ex: ExportedWorkspace = client.post(&path, &req).await?;
            render::output(a.json, &ex, |ex| {
                println!(
                    "exported {} commit(s) from {} into branch {} of {} ({})",
                    ex.commits,
                    ex.vm,
                    ex.branch,
                    ex.host_path,
                    &ex.commit[..12.min(ex.commit.len())]
                );
                println!("{}", ex.diffstat);
            })?;
            if !ex.not_carried.is_empty() && !a.json {
                eprintln!(
                    "banger: not carried: work inside submodule(s) {} (uncommitted, or commits the host's submodule does not have); commit and push it from the guest",
                    ex.not_carried.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
