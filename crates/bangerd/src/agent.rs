//! Finding the guest agent binary banger injects into guests.
//!
//! It ships beside the daemon, never at a configured path: in the build
//! layout (`build/bin/`, or cargo's `target/<profile>/`) it is a sibling of
//! `bangerd`; in the install layout it is `<prefix>/lib/banger/`.

use std::path::{Path, PathBuf};

pub const AGENT_BIN: &str = "banger-vsock-agent";

pub fn locate() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    locate_from(exe.parent()?)
}

pub fn candidates(exe_dir: &Path) -> [PathBuf; 2] {
    [
        exe_dir.join(AGENT_BIN),
        exe_dir.join("../lib/banger").join(AGENT_BIN),
    ]
}

pub fn locate_from(exe_dir: &Path) -> Option<PathBuf> {
    candidates(exe_dir)
        .into_iter()
        .find(|p| p.is_file())
        .map(|p| p.canonicalize().unwrap_or(p))
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
}
