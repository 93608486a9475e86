//! Paths inside a tree we did not make (an unpacked archive, a pulled
//! image's root): the one resolver every unpacker uses, and reads of an
//! image's files that the kernel keeps inside its root.
//!
//! Resolution treats the tree's root as `/`: symlinks in the parents are
//! followed, `..` stops at the root, and absolute link targets start again
//! from it, so no chain of links made earlier in the same archive can send
//! a later entry outside. The last component is never followed (an entry
//! replaces or creates it).

use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Links followed while resolving one path, as the kernel allows (ELOOP).
const MAX_LINKS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    #[error("`{0}` escapes its root (an absolute path or `..`)")]
    Escapes(String),
    #[error("`{0}` goes through too many symlinks (a loop?)")]
    SymlinkLoop(String),
    #[error("`{path}` in the image is not a regular file")]
    NotRegular { path: String },
    #[error("`{path}` in the image is larger than {cap} bytes")]
    TooLarge { path: String, cap: u64 },
    #[error("the archive holds more than {0} entries (a metadata bomb?)")]
    TooManyEntries(u64),
    #[error("an archive entry's name or link is longer than {0} bytes")]
    NameTooLong(usize),
    #[error("`{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// More entries than any image layer or kernel package has.
pub const MAX_ENTRIES: u64 = 2_000_000;
/// PATH_MAX: no file system here takes a longer path.
pub const MAX_NAME: usize = 4096;

/// The metadata an archive may carry, counted entry by entry (file bytes
/// are capped by each unpacker).
#[derive(Debug, Default)]
pub struct Entries {
    seen: u64,
}

impl Entries {
    /// One more entry, named `path` (and linking to `link`).
    pub fn admit<R: std::io::Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
    ) -> Result<(), BeneathError> {
        self.seen += 1;
        if self.seen > MAX_ENTRIES {
            return Err(BeneathError::TooManyEntries(MAX_ENTRIES));
        }
        let name = entry.path_bytes().len();
        let link = entry.link_name_bytes().map_or(0, |l| l.len());
        if name.max(link) > MAX_NAME {
            return Err(BeneathError::NameTooLong(MAX_NAME));
        }
        Ok(())
    }
}

/// An archive entry's path as clean relative components (`./a/b` -> `a/b`),
/// or a refusal for anything that could leave the destination.
pub fn clean(raw: &Path) -> Result<PathBuf, BeneathError> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return Err(BeneathError::Escapes(raw.display().to_string())),
        }
    }
    Ok(out)
}

/// Where `rel` lands inside `root`: symlinks in its parents followed with
/// `root` as `/`; the last component not followed.
pub fn resolve(root: &Path, rel: &Path) -> Result<PathBuf, BeneathError> {
    let shown = || rel.display().to_string();
    let Some(name) = rel.file_name() else {
        return Ok(root.to_owned());
    };
    let mut todo: Vec<PathBuf> = rel
        .parent()
        .map(|p| {
            p.components()
                .rev()
                .map(|c| PathBuf::from(c.as_os_str()))
                .collect()
        })
        .unwrap_or_default();
    let mut at = PathBuf::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        let part_str = part.to_string_lossy();
        if part_str == "." || part_str.is_empty() || part_str == "/" {
            continue;
        }
        if part_str == ".." {
            at.pop();
            continue;
        }
        let candidate = at.join(&part);
        match std::fs::symlink_metadata(root.join(&candidate)) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(BeneathError::SymlinkLoop(shown()));
                }
                let target = std::fs::read_link(root.join(&candidate)).map_err(|source| {
                    BeneathError::Io {
                        path: shown(),
                        source,
                    }
                })?;
                if target.is_absolute() {
                    at = PathBuf::new();
                }
                for c in target.components().rev() {
                    match c {
                        Component::RootDir | Component::Prefix(_) => {}
                        c => todo.push(PathBuf::from(c.as_os_str())),
                    }
                }
            }
            _ => at = candidate,
        }
    }
    Ok(root.join(at).join(name))
}

/// The contents of `abs` in the tree at `root` (None: it does not exist),
/// opened by the kernel inside `root` (openat2 RESOLVE_IN_ROOT: no link,
/// `..` or magic link of /proc leads out), only if it is a regular file of
/// at most `cap` bytes. A FIFO is not waited on, a device not read.
pub fn read_capped(root: &Path, abs: &str, cap: u64) -> Result<Option<Vec<u8>>, BeneathError> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let err = |source: std::io::Error| BeneathError::Io {
        path: abs.to_owned(),
        source,
    };
    let dir = File::open(root).map_err(err)?;
    let rel = abs.trim_start_matches('/');
    let opened = rustix::fs::openat2(
        &dir,
        if rel.is_empty() { "." } else { rel },
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
    );
    let fd = match opened {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(err(e.into())),
    };
    let f = File::from(fd);
    let meta = f.metadata().map_err(err)?;
    if !meta.is_file() {
        return Err(BeneathError::NotRegular {
            path: abs.to_owned(),
        });
    }
    let mut out = Vec::new();
    // The cap holds even if the file grows after the check.
    f.take(cap + 1).read_to_end(&mut out).map_err(err)?;
    if out.len() as u64 > cap {
        return Err(BeneathError::TooLarge {
            path: abs.to_owned(),
            cap,
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn chains_of_links_never_lead_out() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("a")).unwrap();
        symlink("../c", root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("c")).unwrap();
        symlink("../../../x", root.join("c/l")).unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink(".", root.join("loop")).unwrap();
        symlink("self", root.join("self")).unwrap();
        let r = |p: &str| resolve(&root, Path::new(p)).unwrap();
        assert_eq!(r("a/b/l/evil"), root.join("x/evil"));
        assert_eq!(r("abs/passwd"), root.join("etc/passwd"));
        assert_eq!(r("loop/loop/loop/f"), root.join("f"));
        assert!(matches!(
            resolve(&root, Path::new("self/f")),
            Err(BeneathError::SymlinkLoop(_))
        ));
        for bad in ["../x", "/etc/passwd", "a/../../x"] {
            assert!(clean(Path::new(bad)).is_err(), "{bad}");
        }
        assert_eq!(clean(Path::new("./a/./b")).unwrap(), Path::new("a/b"));
    }

    #[test]
    fn long_names_are_refused() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        b.append_data(&mut h, "a".repeat(MAX_NAME + 1), std::io::empty())
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        b.append_data(&mut h, "ok", std::io::empty()).unwrap();
        let data = b.into_inner().unwrap();
        let mut ar = tar::Archive::new(&data[..]);
        let mut entries = Entries::default();
        let verdicts: Vec<bool> = ar
            .entries()
            .unwrap()
            .map(|e| entries.admit(&e.unwrap()).is_ok())
            .collect();
        assert_eq!(verdicts, [false, true]);
    }

    #[test]
    fn image_files_are_read_inside_the_root_regular_and_capped() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/fstab"), "x\n").unwrap();
        std::fs::write(t.path().join("secret"), "host file\n").unwrap();
        symlink("../../secret", root.join("etc/up")).unwrap();
        symlink("/etc/fstab", root.join("etc/abs")).unwrap();
        symlink("/proc/self/root/etc/hostname", root.join("etc/magic")).unwrap();
        symlink("/dev/zero", root.join("etc/zero")).unwrap();
        std::fs::create_dir_all(root.join("dev")).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            root.join("etc/fifo"),
            rustix::fs::Mode::from_raw_mode(0o644),
        )
        .unwrap();
        std::fs::write(root.join("etc/big"), vec![b'a'; 5000]).unwrap();
        let read = |p: &str| read_capped(&root, p, 4096);
        assert_eq!(read("/etc/fstab").unwrap().unwrap(), b"x\n");
        // An absolute link means the image's own file.
        assert_eq!(read("/etc/abs").unwrap().unwrap(), b"x\n");
        // `..` stops at the root: the host's file is not reached.
        assert!(read("/etc/up").unwrap().is_none());
        assert!(
            read("/etc/magic").unwrap().is_none(),
            "/proc is the image's, not ours"
        );
        assert!(
            read("/etc/zero").unwrap().is_none(),
            "the image's /dev/zero, absent"
        );
        assert!(matches!(
            read("/etc/fifo"),
            Err(BeneathError::NotRegular { .. })
        ));
        assert!(matches!(read("/etc"), Err(BeneathError::NotRegular { .. })));
        assert!(matches!(
            read("/etc/big"),
            Err(BeneathError::TooLarge { .. })
        ));
        assert!(read("/etc/none").unwrap().is_none());
    }
}
