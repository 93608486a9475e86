//! What the host checkout holds, asked of `git` itself.

use super::WorkspaceError;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(super) fn git(repo: &Path, args: &[&str]) -> Result<String, WorkspaceError> {
    git_bytes(repo, args).map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn git_bytes(repo: &Path, args: &[&str]) -> Result<Vec<u8>, WorkspaceError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|source| WorkspaceError::Spawn {
            what: "git",
            source,
        })?;
    if !out.status.success() {
        return Err(WorkspaceError::Git {
            command: format!("git {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out.stdout)
}

/// The checkout's top directory, or a clear refusal.
pub fn toplevel(path: &Path) -> Result<PathBuf, WorkspaceError> {
    git(path, &["rev-parse", "--show-toplevel"])
        .map(|s| PathBuf::from(s.trim()))
        .map_err(|_| WorkspaceError::NotGit(path.to_owned()))
}

/// HEAD's commit (None on an unborn branch: no commit yet) and its branch
/// (None when detached).
pub fn head(top: &Path) -> Result<(Option<String>, Option<String>), WorkspaceError> {
    let sha = git(top, &["rev-parse", "--verify", "-q", "HEAD^{commit}"])
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let branch = git(top, &["symbolic-ref", "-q", "--short", "HEAD"])
        .ok()
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty());
    Ok((sha, branch))
}

/// The checkout's git directory and the one its objects live in (they
/// differ for a linked worktree), absolute.
pub fn git_dirs(top: &Path) -> Result<(PathBuf, PathBuf), WorkspaceError> {
    let out = git(
        top,
        &[
            "rev-parse",
            "--absolute-git-dir",
            "--path-format=absolute",
            "--git-common-dir",
        ],
    )?;
    let mut lines = out.lines().map(|l| PathBuf::from(l.trim()));
    match (lines.next(), lines.next()) {
        (Some(dir), Some(common)) => Ok((dir, common)),
        _ => Err(WorkspaceError::Git {
            command: "git rev-parse --absolute-git-dir --git-common-dir".into(),
            stderr: format!("unexpected answer `{}`", out.trim()),
        }),
    }
}

/// One entry of the index as `git ls-files -s -z` prints it (the format
/// `git update-index -z --index-info` reads back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub mode: String,
    pub object: String,
    pub stage: u8,
    pub path: PathBuf,
}

impl IndexEntry {
    pub fn is_gitlink(&self) -> bool {
        self.mode == "160000"
    }
}

/// The index, entry by entry (unmerged paths once per stage).
pub fn index(top: &Path) -> Result<Vec<IndexEntry>, WorkspaceError> {
    use std::os::unix::ffi::OsStrExt;
    let raw = git_bytes(top, &["ls-files", "-s", "-z"])?;
    let bad = |what: &[u8]| WorkspaceError::Git {
        command: "git ls-files -s -z".into(),
        stderr: format!("unexpected entry `{}`", String::from_utf8_lossy(what)),
    };
    let mut out = Vec::new();
    for rec in raw.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let tab = rec
            .iter()
            .position(|b| *b == b'\t')
            .ok_or_else(|| bad(rec))?;
        let head = std::str::from_utf8(&rec[..tab]).map_err(|_| bad(rec))?;
        let mut f = head.split(' ');
        let (Some(mode), Some(object), Some(stage), None) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            return Err(bad(rec));
        };
        out.push(IndexEntry {
            mode: mode.to_owned(),
            object: object.to_owned(),
            stage: stage.parse().map_err(|_| bad(rec))?,
            path: PathBuf::from(std::ffi::OsStr::from_bytes(&rec[tab + 1..])),
        });
    }
    Ok(out)
}

/// The index in `git update-index -z --index-info` form.
pub fn index_info(entries: &[IndexEntry]) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(format!("{} {} {}\t", e.mode, e.object, e.stage).as_bytes());
        out.extend_from_slice(e.path.as_os_str().as_bytes());
        out.push(0);
    }
    out
}

/// Paths marked skip-worktree (left out by a sparse checkout), NUL-separated.
pub fn skip_worktree(top: &Path) -> Result<Vec<u8>, WorkspaceError> {
    let raw = git_bytes(top, &["ls-files", "-t", "-z"])?;
    let mut out = Vec::new();
    for rec in raw.split(|b| *b == 0).filter(|r| r.starts_with(b"S ")) {
        out.extend_from_slice(&rec[2..]);
        out.push(0);
    }
    Ok(out)
}

/// Configuration entries whose keys match `pattern` (a regex), as (key,
/// value) in order: the repository's own (`local`) or as in effect.
pub fn config_entries(
    top: &Path,
    pattern: &str,
    local: bool,
) -> Result<Vec<(String, String)>, WorkspaceError> {
    let scope: &[&str] = if local { &["--local"] } else { &[] };
    let out = Command::new("git")
        .arg("-C")
        .arg(top)
        .arg("config")
        .args(scope)
        .args(["-z", "--get-regexp", pattern])
        .output()
        .map_err(|source| WorkspaceError::Spawn {
            what: "git",
            source,
        })?;
    // Exit 1: no such key, not a failure.
    if !out.status.success() && out.status.code() != Some(1) {
        return Err(WorkspaceError::Git {
            command: format!("git config --get-regexp {pattern}"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|r| !r.is_empty())
        .map(|r| match r.split_once('\n') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (r.to_owned(), String::new()),
        })
        .collect())
}

/// Whether `top/rel` is a populated submodule: a checkout of its own.
pub fn populated(top: &Path, rel: &Path) -> bool {
    let dir = top.join(rel);
    if std::fs::symlink_metadata(dir.join(".git")).is_err() {
        return false;
    }
    let Ok(own) = toplevel(&dir) else {
        return false;
    };
    match (std::fs::canonicalize(&own), std::fs::canonicalize(&dir)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A revision the user named, as a commit.
pub fn commit(top: &Path, rev: &str) -> Result<String, WorkspaceError> {
    git(
        top,
        &["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")],
    )
    .map(|s| s.trim().to_owned())
    .map_err(|_| WorkspaceError::NoSuchRevision(rev.to_owned()))
}

/// (name, fetch URL) of every remote.
pub fn remotes(top: &Path) -> Result<Vec<(String, String)>, WorkspaceError> {
    let mut out = Vec::new();
    for name in git(top, &["remote"])?.lines().filter(|l| !l.is_empty()) {
        let url = git(top, &["remote", "get-url", name])?;
        out.push((name.to_owned(), url.trim().to_owned()));
    }
    Ok(out)
}

/// Tracked and untracked-but-not-ignored files that exist in the working
/// tree (a tracked file deleted there is left out: the guest shows it
/// deleted too), relative to `top`.
pub fn overlay_files(top: &Path) -> Result<Vec<PathBuf>, WorkspaceError> {
    use std::os::unix::ffi::OsStrExt;
    // Bytes, not text: file names need not be UTF-8.
    let listed = git_bytes(
        top,
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    )?;
    let mut files: Vec<PathBuf> = listed
        .split(|b| *b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| PathBuf::from(std::ffi::OsStr::from_bytes(f)))
        .filter(|f| std::fs::symlink_metadata(top.join(f)).is_ok())
        .collect();
    // Unmerged paths are listed once per stage.
    files.sort();
    files.dedup();
    Ok(files)
}

/// The objects of `commits` (their trees and blobs, not their history)
/// and `extra` objects (the index's blobs), as `git pack-objects` reads
/// them. Empty when there is nothing to send.
pub fn object_list(
    top: &Path,
    commits: &[String],
    extra: &[&str],
) -> Result<String, WorkspaceError> {
    let mut list = String::new();
    if !commits.is_empty() {
        let mut args = vec!["rev-list", "--objects", "--no-walk"];
        args.extend(commits.iter().map(String::as_str));
        list = git(top, &args)?;
    }
    for o in extra {
        list.push_str(o);
        list.push('\n');
    }
    Ok(list)
}
