//! Workspaces: a host git checkout materialised in a running VM, streamed
//! through the guest agent (git objects as a pack, the working tree as a
//! tar), so nothing of the repository is copied on the host first.
//!
//! - `shallow_overlay` (default): HEAD at depth 1 (its branch, the remotes)
//!   plus every tracked and untracked-but-not-ignored file as it is in the
//!   working tree; the guest index is HEAD's, so `git status` there shows
//!   the host's uncommitted edits, deletions and new files.
//! - `metadata_only`: the same metadata, the tree checked out from HEAD.
//! - `full_copy`: the whole directory (history, submodules, ignored files).

mod export;
mod git;
mod pack;
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
use banger_api::workspace::{PrepareWorkspace, Workspace, WorkspaceMode};
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
        "{} has git submodules, which the metadata-based modes cannot carry; use --mode full_copy",
        .0.display()
    )]
    Submodules(PathBuf),
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
            | WorkspaceError::Submodules(_)
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
    let out = agent
        .exec_input(&argv, None, &[("HOME", "/root")], input)
        .await?;
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
    let host = crate::input::host_path(&req.path, "workspace path", crate::input::Kind::Dir)?;
    let guest_path = req
        .guest_path
        .clone()
        .unwrap_or_else(|| DEFAULT_GUEST_PATH.into());
    check_guest_path(&guest_path)?;
    if req.from.is_some() && req.branch.is_none() {
        return Err(WorkspaceError::FromWithoutBranch);
    }
    let top = tokio::task::block_in_place(|| git::toplevel(&host))?;
    if req.mode != WorkspaceMode::FullCopy
        && tokio::task::block_in_place(|| git::has_submodules(&top))?
    {
        return Err(WorkspaceError::Submodules(top));
    }
    let (head, branch) = tokio::task::block_in_place(|| git::head(&top))?;
    let from = match &req.from {
        Some(rev) => Some(tokio::task::block_in_place(|| git::commit(&top, rev))?),
        None => None,
    };
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
        sent = send_tree(&agent, &top, entries, &guest_path).await?;
    } else {
        progress(Progress::step(
            Stage::Git,
            format!("HEAD {} at depth 1", &head[..12.min(head.len())]),
        ));
        let mut commits = vec![head.clone()];
        commits.extend(from.clone());
        let t = std::time::Instant::now();
        send_metadata(&agent, &top, &commits, branch.as_deref(), &guest_path).await?;
        tracing::debug!(
            ms = t.elapsed().as_millis() as u64,
            "workspace: git metadata sent"
        );
        if req.mode == WorkspaceMode::ShallowOverlay {
            progress(Progress::step(
                Stage::Overlay,
                "tracked and untracked files as in the working tree",
            ));
            let t = std::time::Instant::now();
            let files = tokio::task::block_in_place(|| git::overlay_files(&top))?;
            sent = send_tree(&agent, &top, files, &guest_path).await?;
            tracing::debug!(
                ms = t.elapsed().as_millis() as u64,
                "workspace: working tree sent"
            );
            // The index becomes HEAD's, so the working tree's differences
            // show. read-tree, not reset: reset would also hash every file
            // to refresh the index, which the first `git status` does anyway.
            guest_sh(
                &agent,
                "git read-tree",
                r#"cd "$1" && git read-tree HEAD"#,
                &[&guest_path],
                empty(),
            )
            .await?;
        } else {
            guest_sh(
                &agent,
                "git checkout",
                r#"cd "$1" && git reset -q --hard"#,
                &[&guest_path],
                empty(),
            )
            .await?;
        }
    }
    let mut guest_branch = branch;
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
    let guest_head = if needs_git {
        guest_sh(
            &agent,
            "git rev-parse",
            r#"cd "$1" && git rev-parse HEAD"#,
            &[&guest_path],
            empty(),
        )
        .await?
    } else {
        head
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
            base: guest_head.clone(),
            readonly: req.readonly,
            prepared_at: crate::clock::unix_now(),
        })
        .map_err(VmError::from)?;
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
    })
}

/// Packs the commits' objects (not their history) on the host with `git
/// pack-objects`, streams the pack into `git index-pack` in the guest, and
/// records HEAD as shallow, its branch, and the remotes.
async fn send_metadata(
    agent: &AgentClient,
    top: &Path,
    commits: &[String],
    branch: Option<&str>,
    guest_path: &str,
) -> Result<(), WorkspaceError> {
    let objects = tokio::task::block_in_place(|| git::object_list(top, commits))?;
    guest_sh(
        agent,
        "git init",
        r#"git init -q "$1" && mkdir -p "$1/.git/objects/pack""#,
        &[guest_path],
        tokio::io::empty(),
    )
    .await?;
    // The pack goes to the guest as it is made; its index is computed here
    // on the way (pack.rs), so the guest hashes nothing.
    let (reader, writer) = tokio::io::duplex(256 * 1024);
    let handle = tokio::runtime::Handle::current();
    let top_owned = top.to_owned();
    let packer =
        tokio::task::spawn_blocking(move || -> Result<(String, Vec<u8>), WorkspaceError> {
            let spawn_err = |source| WorkspaceError::Spawn {
                what: "git pack-objects",
                source,
            };
            let mut child = std::process::Command::new("git")
                .arg("-C")
                .arg(&top_owned)
                .args(PACK_ARGS)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(spawn_err)?;
            let mut stdin = child.stdin.take().expect("piped");
            let feeder = std::thread::spawn(move || {
                use std::io::Write;
                stdin.write_all(objects.as_bytes())
            });
            let stdout =
                std::io::BufReader::with_capacity(256 * 1024, child.stdout.take().expect("piped"));
            let indexed = pack::index_while_forwarding(
                stdout,
                tar_stream::BlockingWriter::new(handle, writer),
            );
            let _ = feeder.join();
            let out = child.wait_with_output().map_err(spawn_err)?;
            if !out.status.success() {
                return Err(WorkspaceError::Git {
                    command: "git pack-objects".into(),
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                });
            }
            indexed.map_err(WorkspaceError::Pack)
        });
    let stored = guest_sh(
        agent,
        "storing the pack",
        r#"cat > "$1/.git/objects/pack/incoming.pack""#,
        &[guest_path],
        reader,
    )
    .await;
    let (name, idx) = packer
        .await
        .map_err(|e| WorkspaceError::Pack(std::io::Error::other(e)))??;
    stored?;
    guest_sh(
        agent,
        "storing the pack index",
        r#"cd "$1/.git/objects/pack" && cat > "pack-$2.idx" && mv incoming.pack "pack-$2.pack""#,
        &[guest_path, &name],
        idx.as_slice(),
    )
    .await?;
    let remotes = tokio::task::block_in_place(|| git::remotes(top))?;
    let mut script = String::from(r#"set -e; cd "$1"; printf '%s\n' "$2" $3 > .git/shallow; "#);
    script.push_str(match branch {
        Some(_) => {
            r#"git update-ref "refs/heads/$4" "$2"; git symbolic-ref HEAD "refs/heads/$4"; "#
        }
        None => r#"git update-ref --no-deref HEAD "$2"; "#,
    });
    let extra = commits[1..].join(" ");
    let mut args: Vec<&str> = vec![guest_path, &commits[0], &extra, branch.unwrap_or("")];
    for (name, url) in &remotes {
        let n = args.len();
        script.push_str(&format!(
            r#"git remote add "${{{}}}" "${{{}}}"; "#,
            n + 1,
            n + 2
        ));
        args.push(name);
        args.push(url);
    }
    guest_sh(
        agent,
        "recording HEAD, branch and remotes",
        &script,
        &args,
        tokio::io::empty(),
    )
    .await?;
    Ok(())
}

async fn send_tree(
    agent: &AgentClient,
    top: &Path,
    entries: Vec<PathBuf>,
    guest_path: &str,
) -> Result<tar_stream::Sent, WorkspaceError> {
    let (reader, packer) = tar_stream::spawn(top.to_owned(), entries);
    let unpacked = agent.put_tar(guest_path, reader).await;
    let packed = packer
        .await
        .map_err(|e| WorkspaceError::Pack(std::io::Error::other(e)))?;
    // A host-side failure explains a guest-side one (the stream ended early).
    let sent = packed.map_err(WorkspaceError::Pack)?;
    unpacked?;
    Ok(sent)
}
