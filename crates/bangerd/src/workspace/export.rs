//! `workspace export`: the guest's work back into the host repository as a
//! branch, without touching the host's working tree: the guest commits its
//! changes, sends `git bundle` of the commits since the workspace's base,
//! and the host fetches that bundle into `refs/heads/<branch>`.

use super::{WorkspaceError, git::git as host_git, guest_sh};
use crate::vm::{VmEnv, VmError};
use banger_api::workspace::{ExportWorkspace, ExportedWorkspace};
use std::path::Path;

/// The largest export taken from a guest.
const BUNDLE_CAP: u64 = 8 << 30;

pub async fn export(
    env: &VmEnv<'_>,
    name: &str,
    req: ExportWorkspace,
) -> Result<ExportedWorkspace, WorkspaceError> {
    let (vm, agent) = crate::vm::running(env, name)?;
    let guest_path = req
        .guest_path
        .unwrap_or_else(|| super::DEFAULT_GUEST_PATH.into());
    let ws = env
        .store
        .workspace(&vm.id, &guest_path)
        .map_err(VmError::from)?
        .ok_or_else(|| WorkspaceError::NoWorkspace {
            vm: vm.name.clone(),
            guest_path: guest_path.clone(),
        })?;
    let host = Path::new(&ws.host_path).to_owned();
    let branch = req.branch.unwrap_or_else(|| format!("banger/{}", vm.name));
    tokio::task::block_in_place(|| -> Result<(), WorkspaceError> {
        host_git(&host, &["check-ref-format", "--branch", &branch])
            .map_err(|_| WorkspaceError::BadBranch(branch.clone()))?;
        let exists = host_git(
            &host,
            &[
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ],
        )
        .is_ok();
        if exists && !req.force {
            return Err(WorkspaceError::BranchExists {
                branch: branch.clone(),
                host: ws.host_path.clone(),
            });
        }
        Ok(())
    })?;
    env.store
        .touch_vm(&vm.id, crate::clock::unix_now())
        .map_err(VmError::from)?;
    // Empty: the workspace started on an unborn branch.
    let base = Some(ws.base.clone()).filter(|b| !b.is_empty());
    let not_carried = submodule_changes(&agent, &host, &guest_path).await?;
    // A read-only workspace cannot have changed (nor take a commit).
    let commit_script = if ws.readonly {
        r#"cd "$1" && { git rev-parse -q --verify HEAD || true; }"#
    } else {
        r#"cd "$1" && vm="$2" && git add -A && c() { git -c user.name=banger -c "user.email=banger@$vm" commit -q -m "banger: work from VM $vm"; } && if git rev-parse -q --verify HEAD >/dev/null; then git diff --cached --quiet || c; else [ -z "$(git ls-files)" ] || c; fi && { git rev-parse -q --verify HEAD || true; }"#
    };
    let head = guest_sh(
        &agent,
        "committing the guest's changes",
        commit_script,
        &[&guest_path, &vm.name],
        tokio::io::empty(),
    )
    .await?;
    let nothing = || WorkspaceError::NothingToExport {
        base: base
            .clone()
            .unwrap_or_else(|| "the start (no commit yet)".into()),
    };
    if head.is_empty() {
        return Err(nothing());
    }
    let head = guest_commit(&head)?;
    if Some(&head) == base.as_ref() {
        return Err(nothing());
    }
    let bundle_script = match &base {
        Some(_) => r#"cd "$1" && git bundle create - HEAD --not "$2""#,
        None => r#"cd "$1" && git bundle create - HEAD"#,
    };
    let staging = env.paths.staging_dir();
    let bundle = staging.join(format!("export-{}.bundle", crate::staging::random_hex(6)));
    let io = |source| WorkspaceError::Io {
        path: bundle.clone(),
        source,
    };
    std::fs::create_dir_all(&staging).map_err(io)?;
    // Streamed to disk as it comes: a bundle may be larger than memory.
    let mut file = tokio::fs::File::create(&bundle).await.map_err(io)?;
    let sent = agent
        .exec_to(
            &[
                "sh",
                "-c",
                bundle_script,
                "banger-export",
                &guest_path,
                base.as_deref().unwrap_or(""),
            ],
            &[("HOME", "/root")],
            &mut file,
            BUNDLE_CAP,
        )
        .await;
    drop(file);
    let (status, stderr) = match sent {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&bundle);
            return Err(e.into());
        }
    };
    if status != 0 {
        let _ = std::fs::remove_file(&bundle);
        return Err(WorkspaceError::Guest {
            step: "git bundle",
            status,
            output: banger_api::text::printable(String::from_utf8_lossy(&stderr).trim())
                .into_owned(),
        });
    }
    let fetched = tokio::task::block_in_place(|| {
        let spec = format!(
            "{}HEAD:refs/heads/{branch}",
            if req.force { "+" } else { "" }
        );
        host_git(
            &host,
            &["fetch", "-q", &bundle.display().to_string(), &spec],
        )?;
        let tip = format!("refs/heads/{branch}");
        let range = match &base {
            Some(b) => format!("{b}..{tip}"),
            None => tip.clone(),
        };
        let commits = host_git(&host, &["rev-list", "--count", &range])?;
        // From nothing, the diffstat is against the empty tree.
        let from = match &base {
            Some(b) => b.clone(),
            None => host_git(&host, &["hash-object", "-t", "tree", "/dev/null"])?
                .trim()
                .to_owned(),
        };
        let diffstat = host_git(&host, &["diff", "--stat", &from, &tip])?
            .trim_end()
            .to_owned();
        Ok::<_, WorkspaceError>((commits.trim().parse().unwrap_or(0), diffstat))
    });
    let _ = std::fs::remove_file(&bundle);
    let (commits, diffstat) = fetched?;
    tracing::info!(vm = %vm.name, branch = %branch, host = %ws.host_path, "exported workspace");
    Ok(ExportedWorkspace {
        vm: vm.name,
        host_path: ws.host_path,
        branch,
        commit: head,
        base,
        commits,
        diffstat,
        not_carried,
    })
}

/// Submodules of the guest checkout with work the export cannot bring back:
/// uncommitted changes, or a HEAD the host's submodule does not have.
async fn submodule_changes(
    agent: &crate::agent::AgentClient,
    host: &Path,
    guest_path: &str,
) -> Result<Vec<String>, WorkspaceError> {
    let listed = guest_sh(
        agent,
        "looking at the submodules",
        r#"cd "$1" && git submodule foreach --quiet --recursive 'printf "%s %s %s\n" "$(git rev-parse -q --verify HEAD || echo none)" "$(git status --porcelain | head -c1 | wc -c)" "$displaypath"'"#,
        &[guest_path],
        tokio::io::empty(),
    )
    .await?;
    let mut out = Vec::new();
    for line in listed.lines() {
        let mut f = line.splitn(3, ' ');
        let (Some(head), Some(dirty), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        // The path is the guest's word: only a relative one below the checkout.
        let below = !Path::new(path)
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)));
        let known = below
            && guest_commit(head).is_ok_and(|h| {
                host_git(
                    &host.join(path),
                    &["cat-file", "-e", &format!("{h}^{{commit}}")],
                )
                .is_ok()
            });
        if dirty != "0" || !known {
            out.push(path.to_owned());
        }
    }
    Ok(out)
}

/// A commit id the guest reported, checked before the host uses or shows
/// it: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
pub(super) fn guest_commit(answer: &str) -> Result<String, WorkspaceError> {
    let ok = matches!(answer.len(), 40 | 64)
        && answer
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        return Ok(answer.to_owned());
    }
    let shown: String = banger_api::text::printable(answer)
        .chars()
        .take(80)
        .collect();
    Err(WorkspaceError::BadGuestAnswer {
        what: "its HEAD",
        value: shown,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_commit_ids_from_the_guest_are_taken() {
        let sha1 = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(super::guest_commit(sha1).unwrap(), sha1);
        assert!(super::guest_commit(&"a".repeat(64)).is_ok());
        for bad in [
            "",
            "HEAD",
            "0123456789ABCDEF0123456789ABCDEF01234567",
            "--upload-pack=sh 0123456789abcdef0123456",
            &format!("{sha1}\n{sha1}"),
        ] {
            assert!(super::guest_commit(bad).is_err(), "{bad:?}");
        }
        let e = super::guest_commit("\u{1b}]0;pwned\u{7}")
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\u{1b}'), "{e}");
        assert!(e.contains("is not a git commit id"), "{e}");
    }
}
