//! Workspaces: a host git checkout materialised in a running VM, streamed
//! through the guest agent (git objects as a pack, the working tree as a
//! tar), so nothing of the repository is copied on the host first.
//!
//! - `shallow_overlay` (default): HEAD at depth 1 (its branch, the remotes)
//!   plus every tracked and untracked-but-not-ignored file as it is in the
//!   working tree, and the host's index (staged blobs included), so `git
//!   status` there is the host's.
//! - `metadata_only`: the same metadata, the tree checked out from HEAD.
//! - `full_copy`: the whole directory (history, submodules, ignored files).
//!
//! In the first two, each populated submodule is sent the same way into its
//! directory (a repository of its own there); uninitialised ones stay as
//! they are on the host: an empty directory and the gitlink.

mod export;
mod git;
mod pack;
mod plan;
mod send;
pub(crate) mod tar_stream;

/// Whole objects only (no deltas: the host indexes the pack as it passes,
/// see pack.rs), no delta search, no recompression effort.
pub(crate) const PACK_ARGS: &[&str] = &[
    "pack-objects",
    "--stdout",
    "-q",
    "--window=0",
    "--no-reuse-delta",
    "--compression=0",
];

pub use export::export;

use crate::agent::{AgentClient, AgentError};
use crate::vm::{VmEnv, VmError, refresh, row};
use banger_api::progress::{Progress, Stage};
use banger_api::vm::VmState;
use banger_api::workspace::{PrepareWorkspace, Workspace, WorkspaceCheck, WorkspaceMode};
use std::path::{Path, PathBuf};

pub const DEFAULT_GUEST_PATH: &str = "/root/repo";

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    Vm(#[from] VmError),
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error("{} is not a git checkout", .0.display())]
    NotGit(PathBuf),
    #[error("{} has no commits yet; commit once, then prepare the workspace", .0.display())]
    NoCommits(PathBuf),
    #[error(
        "{} keeps its git data in {}, outside the checkout (a linked worktree or a separate git directory); full_copy copies only the directory: use --mode shallow_overlay or metadata_only",
        top.display(), git_dir.display()
    )]
    GitDirOutside { top: PathBuf, git_dir: PathBuf },
    #[error(
        "{} borrows objects from another repository (objects/info/alternates); full_copy would carry a repository missing them: use --mode shallow_overlay or metadata_only, or `git repack -a -d` and remove the alternates file",
        .0.display()
    )]
    Alternates(PathBuf),
    #[error("{} is nested too deep in submodules", .0.display())]
    TooDeep(PathBuf),
    #[error("no revision `{0}` in the host repository")]
    NoSuchRevision(String),
    #[error("--from needs --branch (the branch to create from that revision)")]
    FromWithoutBranch,
    #[error("guest path `{0}` must be absolute, without `..`, and not `/`")]
    BadGuestPath(String),
    #[error("git is not installed in the guest (needed for mode {0})")]
    NoGitInGuest(&'static str),
    #[error("`{command}` failed on the host: {stderr}")]
    Git { command: String, stderr: String },
    #[error("running {what} on the host")]
    Spawn {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the guest answered `{value}` as {what}, which is not a git commit id")]
    BadGuestAnswer { what: &'static str, value: String },
    #[error("{step} failed in the guest (exit {status}): {output}")]
    Guest {
        step: &'static str,
        status: i32,
        output: String,
    },
    #[error("sending the working tree")]
    Pack(#[source] std::io::Error),
    #[error("talking to the guest agent")]
    Agent(#[from] AgentError),
    #[error(
        "VM `{vm}` has no workspace at {guest_path} (make one with `banger vm workspace prepare`)"
    )]
    NoWorkspace { vm: String, guest_path: String },
    #[error("`{0}` is not a valid branch name")]
    BadBranch(String),
    #[error(
        "branch `{branch}` already exists in {host}; choose another with --branch, or replace it with --force"
    )]
    BranchExists { branch: String, host: String },
    #[error("nothing to export: the guest checkout has no changes since {base}")]
    NothingToExport { base: String },
    #[error("writing {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl WorkspaceError {
    /// What kind of failure this is (the API picks the HTTP status from it).
    pub fn kind(&self) -> banger_api::ErrorKind {
        use banger_api::ErrorKind as S;
        match self {
            WorkspaceError::Vm(e) => e.kind(),
            WorkspaceError::Input(_)
            | WorkspaceError::NotGit(_)
            | WorkspaceError::NoCommits(_)
            | WorkspaceError::GitDirOutside { .. }
            | WorkspaceError::Alternates(_)
            | WorkspaceError::TooDeep(_)
            | WorkspaceError::NoSuchRevision(_)
            | WorkspaceError::FromWithoutBranch
            | WorkspaceError::BadGuestPath(_)
            | WorkspaceError::BadBranch(_) => S::BadRequest,
            WorkspaceError::NoWorkspace { .. } => S::NotFound,
            WorkspaceError::NoGitInGuest(_)
            | WorkspaceError::BranchExists { .. }
            | WorkspaceError::NothingToExport { .. } => S::Conflict,
            _ => S::Internal,
        }
    }
}

fn check_guest_path(p: &str) -> Result<(), WorkspaceError> {
    let path = Path::new(p);
    let ok = path.is_absolute()
        && path.parent().is_some()
        && !path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
    if ok {
        Ok(())
    } else {
        Err(WorkspaceError::BadGuestPath(p.to_owned()))
    }
}

/// Runs a shell script in the guest (as root, HOME=/root) with `input` on
/// its stdin; a non-zero exit is `step` failing, with its output.
async fn guest_sh(
    agent: &AgentClient,
    step: &'static str,
    script: &str,
    args: &[&str],
    input: impl tokio::io::AsyncRead + Unpin,
) -> Result<String, WorkspaceError> {
    let mut argv = vec!["sh", "-c", script, "banger-workspace"];
    argv.extend(args);
    let started = std::time::Instant::now();
    let out = agent
        .exec_input(&argv, None, &[("HOME", "/root")], input)
        .await?;
    tracing::debug!(
        step,
        took_ms = started.elapsed().as_millis() as u64,
        "workspace step in the guest"
    );
    // What the guest says reaches the user's terminal in an error: never
    // its escape sequences.
    let text =
        |b: &[u8]| banger_api::text::printable(String::from_utf8_lossy(b).trim()).into_owned();
    if out.status != 0 {
        let mut output = text(&out.stderr);
        if output.is_empty() {
            output = text(&out.stdout);
        }
        return Err(WorkspaceError::Guest {
            step,
            status: out.status,
            output,
        });
    }
    Ok(text(&out.stdout))
}

/// A checked request: what to send and where.
struct Checked {
    checkout: plan::Checkout,
    guest_path: String,
    from: Option<String>,
}

/// Everything about a request that can be refused without a guest.
fn checked(req: &PrepareWorkspace) -> Result<Checked, WorkspaceError> {
    let host = crate::input::host_path(&req.path, "workspace path", crate::input::Kind::Dir)?;
    let guest_path = req
        .guest_path
        .clone()
        .unwrap_or_else(|| DEFAULT_GUEST_PATH.into());
    check_guest_path(&guest_path)?;
    if req.from.is_some() && req.branch.is_none() {
        return Err(WorkspaceError::FromWithoutBranch);
    }
    if let Some(b) = &req.branch {
        git::git(Path::new("/"), &["check-ref-format", "--branch", b])
            .map_err(|_| WorkspaceError::BadBranch(b.clone()))?;
    }
    let checkout = plan::plan(&host, req.mode, req.branch.is_some())?;
    let from = match &req.from {
        Some(rev) => Some(git::commit(&checkout.top, rev)?),
        None => None,
    };
    Ok(Checked {
        checkout,
        guest_path,
        from,
    })
}

/// What a prepare of `req` would send, or its refusal, without a VM.
pub async fn check(req: PrepareWorkspace) -> Result<WorkspaceCheck, WorkspaceError> {
    let c = tokio::task::block_in_place(|| checked(&req))?;
    Ok(c.checkout.summary(req.mode))
}

pub async fn prepare(
    env: &VmEnv<'_>,
    name: &str,
    req: PrepareWorkspace,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Workspace, WorkspaceError> {
    let mut vm = row(env.store, name)?;
    refresh(env.paths, env.store, &mut vm)?;
    if vm.state != VmState::Running {
        return Err(VmError::NotRunning(vm.name).into());
    }
    let Checked {
        checkout,
        guest_path,
        from,
    } = tokio::task::block_in_place(|| checked(&req))?;
    let top = checkout.top.clone();
    env.store
        .touch_vm(&vm.id, crate::clock::unix_now())
        .map_err(VmError::from)?;
    let agent = AgentClient::hybrid_vsock(&env.paths.vm_dir(&vm.id).vsock());
    let empty = tokio::io::empty;

    let needs_git = req.mode != WorkspaceMode::FullCopy || req.branch.is_some();
    if needs_git
        && guest_sh(&agent, "git --version", "git --version", &[], empty())
            .await
            .is_err()
    {
        return Err(WorkspaceError::NoGitInGuest(req.mode.as_str()));
    }
    progress(Progress::step(
        Stage::Workspace,
        format!(
            "{} -> {}:{guest_path} ({})",
            top.display(),
            vm.name,
            req.mode.as_str()
        ),
    ));
    // A previous workspace here goes, read-only bind mount included.
    guest_sh(
        &agent,
        "clearing the guest path",
        r#"umount "$1" 2>/dev/null; rm -rf "$1" && mkdir -p "$1""#,
        &[&guest_path],
        empty(),
    )
    .await?;

    let mut sent = tar_stream::Sent::default();
    if req.mode == WorkspaceMode::FullCopy {
        progress(Progress::step(Stage::Copy, "the whole directory"));
        let entries =
            tokio::task::block_in_place(|| tar_stream::walk(&top)).map_err(WorkspaceError::Pack)?;
        sent = send::tree(&agent, &top, entries, &guest_path).await?;
    } else {
        // Parents before their submodules: a submodule's directory is made
        // by its parent's checkout.
        let mut queue = vec![&checkout];
        while let Some(c) = queue.pop() {
            let dir = Path::new(&guest_path).join(&c.rel).display().to_string();
            let what = match c.rel.as_os_str().is_empty() {
                true => String::new(),
                false => format!("submodule {}: ", c.rel.display()),
            };
            progress(Progress::step(
                Stage::Git,
                match &c.head {
                    Some(h) => format!("{what}HEAD {} at depth 1", &h[..12.min(h.len())]),
                    None => format!("{what}no commit yet"),
                },
            ));
            let t = std::time::Instant::now();
            let from = if c.rel.as_os_str().is_empty() {
                from.as_deref()
            } else {
                None
            };
            let s = send::repository(&agent, c, &dir, req.mode, from).await?;
            sent.files += s.files;
            sent.bytes += s.bytes;
            tracing::debug!(
                ms = t.elapsed().as_millis() as u64,
                repo = %c.rel.display(),
                "workspace: repository sent"
            );
            queue.extend(c.submodules.iter().rev());
        }
    }
    crate::fault::point("workspace-prepare:sent");
    let mut guest_branch = checkout.branch.clone();
    if let Some(b) = &req.branch {
        progress(Progress::step(Stage::Branch, b.clone()));
        let start = from.as_deref().unwrap_or("HEAD");
        guest_sh(
            &agent,
            "creating the branch",
            r#"cd "$1" && if [ "$3" = HEAD ]; then git checkout -q -B "$2"; else git checkout -q -B "$2" "$3"; fi"#,
            &[&guest_path, b, start],
            empty(),
        )
        .await?;
        guest_branch = Some(b.clone());
    }
    let guest_head = match (needs_git, &checkout.head) {
        (true, Some(_)) => Some(export::guest_commit(
            &guest_sh(
                &agent,
                "git rev-parse",
                r#"cd "$1" && git rev-parse HEAD"#,
                &[&guest_path],
                empty(),
            )
            .await?,
        )?),
        (_, head) => head.clone(),
    };
    if req.readonly {
        progress(Progress::step(Stage::Readonly, "read-only bind mount"));
        guest_sh(
            &agent,
            "the read-only bind mount",
            r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1""#,
            &[&guest_path],
            empty(),
        )
        .await?;
    }
    env.store
        .put_workspace(&crate::store::WorkspaceRow {
            vm_id: vm.id.clone(),
            guest_path: guest_path.clone(),
            host_path: top.display().to_string(),
            mode: req.mode.as_str().into(),
            base: guest_head.clone().unwrap_or_default(),
            readonly: req.readonly,
            prepared_at: crate::clock::unix_now(),
        })
        .map_err(VmError::from)?;
    let summary = checkout.summary(req.mode);
    tracing::info!(vm = %vm.name, path = %top.display(), guest = %guest_path, files = sent.files, "prepared workspace");
    Ok(Workspace {
        vm: vm.name,
        host_path: top.display().to_string(),
        guest_path,
        mode: req.mode,
        readonly: req.readonly,
        head: guest_head,
        branch: guest_branch,
        files: sent.files,
        bytes: sent.bytes,
        submodules: summary.submodules,
        populated_submodules: summary.populated_submodules,
    })
}
