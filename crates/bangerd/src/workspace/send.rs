//! Sending one repository of a checkout (the top one or a populated
//! submodule) into the guest: its git objects as a pack, HEAD, branch,
//! remotes and submodule configuration, then its working tree and index as
//! the mode asks.

use super::plan::Checkout;
use super::{WorkspaceError, git, guest_sh, pack, tar_stream};
use crate::agent::AgentClient;
use banger_api::workspace::WorkspaceMode;
use std::path::{Path, PathBuf};

/// Sends `c` into `guest_dir` (which exists and is empty, or holds only
/// what the parent's checkout put there: nothing for a submodule).
/// `from` (the top checkout only) is another commit whose objects go too.
pub async fn repository(
    agent: &AgentClient,
    c: &Checkout,
    guest_dir: &str,
    mode: WorkspaceMode,
    from: Option<&str>,
) -> Result<tar_stream::Sent, WorkspaceError> {
    let top = &c.top;
    let commits: Vec<String> = c
        .head
        .iter()
        .cloned()
        .chain(from.map(str::to_owned))
        .collect();
    // The index as it is on the host: staged and unstaged changes stay
    // apart, and the staged blobs travel with the commit's objects.
    let index = match mode {
        WorkspaceMode::ShallowOverlay => tokio::task::block_in_place(|| git::index(top))?,
        _ => Vec::new(),
    };
    let mut staged: Vec<&str> = index
        .iter()
        .filter(|e| !e.is_gitlink())
        .map(|e| e.object.as_str())
        .collect();
    staged.sort_unstable();
    staged.dedup();
    metadata(
        agent,
        top,
        &commits,
        &staged,
        c.branch.as_deref(),
        guest_dir,
    )
    .await?;
    submodule_config(agent, top, guest_dir).await?;
    let mut sent = tar_stream::Sent::default();
    if mode == WorkspaceMode::ShallowOverlay {
        let files = tokio::task::block_in_place(|| git::overlay_files(top))?;
        sent = tree(agent, top, files, guest_dir).await?;
        guest_sh(
            agent,
            "writing the index",
            r#"cd "$1" && git update-index -z --index-info"#,
            &[guest_dir],
            git::index_info(&index).as_slice(),
        )
        .await?;
        sparse(agent, top, guest_dir).await?;
    } else {
        guest_sh(
            agent,
            "git checkout",
            r#"cd "$1" && git reset -q --hard"#,
            &[guest_dir],
            tokio::io::empty(),
        )
        .await?;
    }
    Ok(sent)
}

/// `submodule.*` of the host repository's own configuration (URLs,
/// `active`), so the guest's `git submodule status` tells initialised from
/// uninitialised as the host's does.
async fn submodule_config(
    agent: &AgentClient,
    top: &Path,
    guest_dir: &str,
) -> Result<(), WorkspaceError> {
    let entries = tokio::task::block_in_place(|| git::config_entries(top, r"^submodule\.", true))?;
    if entries.is_empty() {
        return Ok(());
    }
    config(agent, guest_dir, &entries).await
}

/// Sets (adds, for keys with several values) configuration in the guest.
async fn config(
    agent: &AgentClient,
    guest_dir: &str,
    entries: &[(String, String)],
) -> Result<(), WorkspaceError> {
    let mut args: Vec<&str> = vec![guest_dir];
    for (k, v) in entries {
        args.push(k);
        args.push(v);
    }
    guest_sh(
        agent,
        "copying the repository's configuration",
        r#"d="$1"; shift; cd "$d" && while [ $# -ge 2 ]; do git config --add "$1" "$2" || exit; shift 2; done"#,
        &args,
        tokio::io::empty(),
    )
    .await?;
    Ok(())
}

/// A sparse checkout stays sparse: its patterns, its settings, and the
/// skip-worktree marks (so the files it leaves out are not "deleted").
async fn sparse(agent: &AgentClient, top: &Path, guest_dir: &str) -> Result<(), WorkspaceError> {
    let (skipped, settings, patterns) = tokio::task::block_in_place(|| {
        let skipped = git::skip_worktree(top)?;
        let settings = git::config_entries(top, r"^core\.sparsecheckout", false)?;
        let file = git::git(top, &["rev-parse", "--git-path", "info/sparse-checkout"])?;
        let file = top.join(file.trim());
        Ok::<_, WorkspaceError>((skipped, settings, std::fs::read(file).ok()))
    })?;
    if skipped.is_empty() && settings.is_empty() {
        return Ok(());
    }
    config(agent, guest_dir, &settings).await?;
    if let Some(patterns) = patterns {
        guest_sh(
            agent,
            "copying the sparse-checkout patterns",
            r#"mkdir -p "$1/.git/info" && cat > "$1/.git/info/sparse-checkout""#,
            &[guest_dir],
            patterns.as_slice(),
        )
        .await?;
    }
    if !skipped.is_empty() {
        guest_sh(
            agent,
            "marking the paths a sparse checkout leaves out",
            r#"cd "$1" && git update-index -z --skip-worktree --stdin"#,
            &[guest_dir],
            skipped.as_slice(),
        )
        .await?;
    }
    Ok(())
}

/// Packs the commits' objects (not their history) on the host with `git
/// pack-objects`, streams the pack into `git index-pack` in the guest, and
/// records HEAD as shallow, its branch, and the remotes.
async fn metadata(
    agent: &AgentClient,
    top: &Path,
    commits: &[String],
    extra: &[&str],
    branch: Option<&str>,
    guest_path: &str,
) -> Result<(), WorkspaceError> {
    let objects = tokio::task::block_in_place(|| git::object_list(top, commits, extra))?;
    guest_sh(
        agent,
        "git init",
        r#"git init -q "$1" && mkdir -p "$1/.git/objects/pack""#,
        &[guest_path],
        tokio::io::empty(),
    )
    .await?;
    if !objects.is_empty() {
        pack_objects(agent, top, objects, guest_path).await?;
    }
    head_and_remotes(agent, top, commits, branch, guest_path).await
}

/// The objects listed, packed on the host and stored in the guest's
/// repository with their index.
async fn pack_objects(
    agent: &AgentClient,
    top: &Path,
    objects: String,
    guest_path: &str,
) -> Result<(), WorkspaceError> {
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
                .args(super::PACK_ARGS)
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
    Ok(())
}

/// HEAD (shallow: the commits sent have no parents here), its branch, and
/// the remotes. With no commit (an unborn branch) HEAD only names the branch.
async fn head_and_remotes(
    agent: &AgentClient,
    top: &Path,
    commits: &[String],
    branch: Option<&str>,
    guest_path: &str,
) -> Result<(), WorkspaceError> {
    let remotes = tokio::task::block_in_place(|| git::remotes(top))?;
    let mut script = String::from(r#"set -e; cd "$1"; "#);
    script.push_str(match (commits.is_empty(), branch) {
        (true, _) => r#"git symbolic-ref HEAD "refs/heads/$4"; "#,
        (false, Some(_)) => {
            r#"printf '%s\n' "$2" $3 > .git/shallow; git update-ref "refs/heads/$4" "$2"; git symbolic-ref HEAD "refs/heads/$4"; "#
        }
        (false, None) => r#"printf '%s\n' "$2" $3 > .git/shallow; git update-ref --no-deref HEAD "$2"; "#,
    });
    let first = commits.first().map_or("", String::as_str);
    let extra = commits.get(1..).unwrap_or_default().join(" ");
    let mut args: Vec<&str> = vec![guest_path, first, &extra, branch.unwrap_or("")];
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

pub async fn tree(
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
