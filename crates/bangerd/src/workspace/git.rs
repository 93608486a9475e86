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

pub fn has_submodules(top: &Path) -> Result<bool, WorkspaceError> {
    Ok(top.join(".gitmodules").exists() || !git(top, &["submodule", "status"])?.trim().is_empty())
}

/// HEAD's commit and its branch (None when detached).
pub fn head(top: &Path) -> Result<(String, Option<String>), WorkspaceError> {
    let sha = git(top, &["rev-parse", "--verify", "-q", "HEAD^{commit}"])
        .map_err(|_| WorkspaceError::NoCommits(top.to_owned()))?;
    let branch = git(top, &["symbolic-ref", "-q", "--short", "HEAD"])
        .ok()
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty());
    Ok((sha.trim().to_owned(), branch))
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

/// The objects of `commits` (their trees and blobs, not their history),
/// as `git pack-objects` reads them.
pub fn object_list(top: &Path, commits: &[String]) -> Result<String, WorkspaceError> {
    let mut args = vec!["rev-list", "--objects", "--no-walk"];
    args.extend(commits.iter().map(String::as_str));
    git(top, &args)
}
