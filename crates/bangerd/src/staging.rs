//! Multi-step artifact work happens in a staging directory under the data
//! dir's `tmp/` (same filesystem as the destination) and becomes visible by
//! one rename. A staging directory that is dropped without being committed
//! is removed; one left by a crash is removed at the next daemon start.

use banger_config::Paths;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Staging {
    path: PathBuf,
    committed: bool,
}

impl Staging {
    pub fn new(paths: &Paths, purpose: &str) -> io::Result<Staging> {
        let tmp = paths.staging_dir();
        fs::create_dir_all(&tmp)?;
        let path = tmp.join(format!("{purpose}-{}", random_hex(6)));
        fs::create_dir(&path)?;
        Ok(Staging {
            path,
            committed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the staged tree and renames it to `dest` (which must not exist).
    pub fn commit(mut self, dest: &Path) -> io::Result<()> {
        sync_dir(&self.path)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        if dest.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", dest.display()),
            ));
        }
        fs::rename(&self.path, dest)?;
        if let Some(parent) = dest.parent() {
            sync_dir(parent)?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes `dir` so that it disappears at once: renamed into the staging
/// area first (atomic), then deleted. A crash in between leaves only staging
/// garbage, which the next start removes.
pub fn remove_atomically(paths: &Paths, dir: &Path) -> io::Result<()> {
    let tmp = paths.staging_dir();
    fs::create_dir_all(&tmp)?;
    let grave = tmp.join(format!("deleted-{}", random_hex(6)));
    fs::rename(dir, &grave)?;
    fs::remove_dir_all(&grave)
}

/// Removes whatever interrupted operations left in the staging area.
pub fn clean(paths: &Paths) -> io::Result<usize> {
    let tmp = paths.staging_dir();
    let entries = match fs::read_dir(&tmp) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut n = 0;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
        n += 1;
    }
    Ok(n)
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Random lowercase hex, for ids and temporary names.
pub fn random_hex(bytes: usize) -> String {
    random_bytes(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `n` bytes from the kernel's RNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("/dev/urandom is readable");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(root: &Path) -> Paths {
        Paths {
            config_file: root.join("c/config.toml"),
            config_dir: root.join("c"),
            data_dir: root.join("d"),
            state_dir: root.join("s"),
            runtime_dir: root.join("r"),
            docker_config: None,
            home: None,
        }
    }

    #[test]
    fn dropped_staging_leaves_nothing_and_commit_renames() {
        let root = tempfile::tempdir().unwrap();
        let p = paths(root.path());
        let s = Staging::new(&p, "t").unwrap();
        fs::write(s.path().join("f"), "x").unwrap();
        let staged = s.path().to_owned();
        drop(s);
        assert!(!staged.exists());

        let s = Staging::new(&p, "t").unwrap();
        fs::write(s.path().join("f"), "x").unwrap();
        let dest = root.path().join("d/images/abc");
        s.commit(&dest).unwrap();
        assert_eq!(fs::read_to_string(dest.join("f")).unwrap(), "x");
        assert_eq!(fs::read_dir(p.staging_dir()).unwrap().count(), 0);
    }

    #[test]
    fn clean_removes_leftovers() {
        let root = tempfile::tempdir().unwrap();
        let p = paths(root.path());
        let s = Staging::new(&p, "crashed").unwrap();
        std::mem::forget(s); // as if the daemon died mid-operation
        assert_eq!(clean(&p).unwrap(), 1);
        assert_eq!(fs::read_dir(p.staging_dir()).unwrap().count(), 0);
    }
}
