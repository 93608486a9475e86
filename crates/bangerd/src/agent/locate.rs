//! Finding the guest agent binary banger injects into guests and initrds.
//!
//! It ships beside the daemon, never at a configured path: in the build
//! layout (`build/bin/`) it is a sibling of `bangerd`; in the install layout
//! it is `<prefix>/lib/banger/`. In a cargo target directory the static
//! build lives in `target/<triple>/<profile>/` (the Makefile builds it there)
//! while the plain one is a sibling. A static agent is preferred: it is the
//! one that works in any guest and as an initrd's /init.

use std::path::{Path, PathBuf};

pub const AGENT_BIN: &str = "banger-vsock-agent";

pub fn locate() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    locate_from(exe.parent()?)
}

/// Where a program shipped with the daemon is, given the daemon's
/// directory: a sibling (build layout, cargo target directory) or
/// `<prefix>/lib/banger/` (install layout). The network helper too.
pub fn beside_daemon(exe_dir: &Path, name: &str) -> [PathBuf; 2] {
    [exe_dir.join(name), exe_dir.join("../lib/banger").join(name)]
}

pub fn candidates(exe_dir: &Path) -> Vec<PathBuf> {
    let mut c = beside_daemon(exe_dir, AGENT_BIN).to_vec();
    if let (Some(profile), Some(target)) = (exe_dir.file_name(), exe_dir.parent())
        && let Ok(entries) = std::fs::read_dir(target)
    {
        let mut cross: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join(profile).join(AGENT_BIN))
            .collect();
        cross.sort();
        c.extend(cross);
    }
    c
}

pub fn locate_from(exe_dir: &Path) -> Option<PathBuf> {
    let found: Vec<PathBuf> = candidates(exe_dir)
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    let is_static = |p: &PathBuf| crate::disk::format::is_static_elf(p).unwrap_or(false);
    found
        .iter()
        .find(|p| is_static(p))
        .or(found.first())
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_build_and_install_layouts() {
        let root = tempfile::tempdir().unwrap();
        let build = root.path().join("build/bin");
        std::fs::create_dir_all(&build).unwrap();
        assert_eq!(locate_from(&build), None);
        std::fs::write(build.join(AGENT_BIN), "").unwrap();
        assert_eq!(
            locate_from(&build),
            Some(build.join(AGENT_BIN).canonicalize().unwrap())
        );

        let prefix = root.path().join("usr/local");
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        std::fs::create_dir_all(prefix.join("lib/banger")).unwrap();
        std::fs::write(prefix.join("lib/banger").join(AGENT_BIN), "").unwrap();
        assert_eq!(
            locate_from(&prefix.join("bin")),
            Some(
                prefix
                    .join("lib/banger")
                    .join(AGENT_BIN)
                    .canonicalize()
                    .unwrap()
            )
        );
    }

    #[test]
    fn a_static_agent_in_the_cargo_target_dir_wins() {
        let root = tempfile::tempdir().unwrap();
        let debug = root.path().join("target/debug");
        let cross = root.path().join("target/x86_64-unknown-linux-gnu/debug");
        std::fs::create_dir_all(&debug).unwrap();
        std::fs::create_dir_all(&cross).unwrap();
        std::fs::write(debug.join(AGENT_BIN), "not static").unwrap();
        // /bin/busybox from busybox-static is a static ELF.
        let static_elf = Path::new("/bin/busybox");
        assert!(
            crate::disk::format::is_static_elf(static_elf).unwrap(),
            "busybox-static is needed for this test"
        );
        std::fs::copy(static_elf, cross.join(AGENT_BIN)).unwrap();
        assert_eq!(
            locate_from(&debug),
            Some(cross.join(AGENT_BIN).canonicalize().unwrap())
        );
    }
}
