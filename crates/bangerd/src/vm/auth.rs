//! The coding agents' credentials (opencode, Claude Code, pi) copied from
//! the host user's home onto the VM's work disk, which the guest mounts at
//! /root, before every boot: a host change reaches the guest at its next
//! start. Written with debugfs straight from the host file, so the secret
//! passes through no temporary copy, no log and no API answer; only which
//! files were synced is ever said.

use crate::disk::debugfs::{self, cat, stat_sizes};
use banger_config::paths::AGENT_AUTH_FILES;
use std::path::{Path, PathBuf};

/// A credential file this large is not one: refuse to fill the work disk
/// with whatever sits at that path.
const MAX_AUTH_FILE: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{}: {reason}; fix or remove it (it is copied into every VM at start)", path.display())]
    Unusable { path: PathBuf, reason: String },
    #[error("copying {} onto the VM's work disk", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: debugfs::DebugfsError,
    },
    #[error("copying {} onto the VM's work disk: {detail}", path.display())]
    NotWritten { path: PathBuf, detail: String },
}

/// The credential files present under `home`, each checked (a regular
/// file, at most MAX_AUTH_FILE, readable, a path debugfs can name).
fn present(home: &Path) -> Result<Vec<(&'static str, PathBuf)>, AuthError> {
    let mut present = Vec::new();
    for rel in AGENT_AUTH_FILES {
        let path = home.join(rel);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let unusable = |reason: String| AuthError::Unusable {
            path: path.clone(),
            reason,
        };
        if !meta.is_file() {
            return Err(unusable("not a regular file".into()));
        }
        if meta.len() > MAX_AUTH_FILE {
            return Err(unusable(format!(
                "{} bytes, more than a credential file holds ({MAX_AUTH_FILE})",
                meta.len()
            )));
        }
        // debugfs reads the file itself, by a name in its script.
        std::fs::File::open(&path).map_err(|e| unusable(e.to_string()))?;
        if path.to_string_lossy().contains(['"', '\n']) {
            return Err(unusable("a quote or newline in the path".into()));
        }
        present.push((rel, path));
    }
    Ok(present)
}

/// Copies each credential file present under `home` to the same path under
/// `/root` on `work` (root-owned, 0600; missing parent directories made
/// 0700). Returns the files copied, as paths under the home.
pub fn sync(home: &Path, work: &Path) -> Result<Vec<&'static str>, AuthError> {
    let present = present(home)?;
    if present.is_empty() {
        return Ok(Vec::new());
    }

    let dirs: Vec<String> =
        present
            .iter()
            .flat_map(|(rel, _)| parents(rel))
            .fold(Vec::new(), |mut all, d| {
                if !all.contains(&d) {
                    all.push(d);
                }
                all
            });
    let asked: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let there = stat_sizes(work, &asked).map_err(|source| AuthError::Write {
        path: home.to_owned(),
        source,
    })?;
    let mut script = String::new();
    for (dir, size) in dirs.iter().zip(there) {
        if size.is_none() {
            // debugfs 1.47's mkdir of an existing directory corrupts it, so
            // only missing ones are made.
            script.push_str(&format!(
                "mkdir {dir}\nsif {dir} mode 040700\nsif {dir} uid 0\nsif {dir} gid 0\n"
            ));
        }
    }
    for (rel, path) in &present {
        let dest = format!("/{rel}");
        script.push_str(&format!(
            "rm {dest}\nwrite \"{}\" {dest}\nsif {dest} mode 0100600\nsif {dest} uid 0\nsif {dest} gid 0\n",
            path.display()
        ));
    }
    debugfs::run(work, &script, true).map_err(|source| AuthError::Write {
        path: home.to_owned(),
        source,
    })?;
    // debugfs exits 0 when a command fails: compare what landed.
    for (rel, path) in &present {
        let want = std::fs::read(path).map_err(|e| AuthError::Unusable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let got = cat(work, &format!("/{rel}")).map_err(|source| AuthError::Write {
            path: path.clone(),
            source,
        })?;
        if got.as_deref() != Some(&*String::from_utf8_lossy(&want)) {
            return Err(AuthError::NotWritten {
                path: path.clone(),
                detail: "the copy on the work disk differs (is the disk full?)".into(),
            });
        }
    }
    Ok(present.into_iter().map(|(rel, _)| rel).collect())
}

/// The same files into a running guest (a warm VM claimed: booted before
/// the host's credentials may have changed), through its agent: missing
/// directories made 0700, the files written 0600 by root from a tar held
/// in memory. Returns the files copied.
pub async fn sync_running(
    home: &Path,
    agent: &crate::agent::AgentClient,
) -> Result<Vec<&'static str>, super::VmError> {
    let present = present(home)?;
    if present.is_empty() {
        return Ok(Vec::new());
    }
    let mut dirs: Vec<String> = Vec::new();
    for d in present.iter().flat_map(|(rel, _)| parents(rel)) {
        let d = format!("/root{d}");
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    let mut argv = vec![
        "/bin/sh",
        "-c",
        r#"for d; do [ -d "$d" ] || mkdir -m 0700 "$d"; done"#,
        "banger-auth",
    ];
    argv.extend(dirs.iter().map(String::as_str));
    let made = agent.exec(&argv, None).await?;
    if made.status != 0 {
        return Err(super::VmError::Claim(format!(
            "making the credentials' directories: {}",
            banger_api::text::printable(String::from_utf8_lossy(&made.stderr).trim())
        )));
    }
    let mut tar = tar::Builder::new(Vec::new());
    for (rel, path) in &present {
        let data = std::fs::read(path).map_err(|e| AuthError::Unusable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, rel, &data[..])
            .map_err(|e| AuthError::Unusable {
                path: path.clone(),
                reason: e.to_string(),
            })?;
    }
    let tar = tar.into_inner().map_err(|e| AuthError::Unusable {
        path: home.to_owned(),
        reason: e.to_string(),
    })?;
    agent.put_tar("/root", &tar[..]).await?;
    Ok(present.into_iter().map(|(rel, _)| rel).collect())
}

/// `/.claude` for `.claude/.credentials.json`; outermost first.
fn parents(rel: &str) -> Vec<String> {
    let parts: Vec<&str> = rel.split('/').collect();
    (1..parts.len())
        .map(|n| format!("/{}", parts[..n].join("/")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_listed_outermost_first() {
        assert_eq!(
            parents(".local/share/opencode/auth.json"),
            ["/.local", "/.local/share", "/.local/share/opencode"]
        );
        assert!(parents("top.json").is_empty());
    }
}
