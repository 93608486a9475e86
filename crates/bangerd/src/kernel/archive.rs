//! Unpacking archives we did not make (Debian packages, catalog tarballs)
//! without letting them write outside the destination: no `..`, no absolute
//! paths, every entry resolved inside the destination by `crate::beneath`
//! (links made earlier in the same archive included), no link that points
//! out from where it really lands, nothing but files, directories and
//! symlinks, and a cap on the total size.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// More than any kernel package or modules tree.
pub const MAX_UNPACKED: u64 = 4 << 30;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive entry `{0}` escapes the destination (absolute path or `..`)")]
    Escapes(String),
    #[error("archive symlink `{entry}` -> `{target}` points outside the destination")]
    LinkEscapes { entry: String, target: String },
    #[error("archive entry `{0}` is a {1}, which banger does not unpack")]
    Unsupported(String, &'static str),
    #[error("archive unpacks to more than {} GiB", MAX_UNPACKED >> 30)]
    TooLarge,
    #[error(transparent)]
    Metadata(crate::beneath::BeneathError),
    #[error("reading archive")]
    Io(#[from] io::Error),
}

/// `./a/b` -> `a/b`; refuses anything that could leave the destination.
pub fn safe_relative(raw: &Path) -> Result<PathBuf, ArchiveError> {
    crate::beneath::clean(raw).map_err(|_| ArchiveError::Escapes(raw.display().to_string()))
}

/// A symlink at `entry` (relative to the root) pointing at `target` stays inside the root.
pub fn check_link(entry: &Path, target: &Path) -> Result<(), ArchiveError> {
    let escapes = || ArchiveError::LinkEscapes {
        entry: entry.display().to_string(),
        target: target.display().to_string(),
    };
    if target.is_absolute() {
        return Err(escapes());
    }
    let mut depth: i64 = entry.components().count() as i64 - 1;
    let mut descended = false;
    for c in target.components() {
        match c {
            // `..` only leading: after a name, which may be (or later
            // become) a link itself, it could climb out of the root.
            Component::ParentDir if descended => return Err(escapes()),
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => {
                descended = true;
                depth += 1
            }
            Component::CurDir => {}
            _ => return Err(escapes()),
        }
        if depth < 0 {
            return Err(escapes());
        }
    }
    Ok(())
}

/// Unpacks one tar entry to `root/rel` (rel already made safe by the caller).
pub fn unpack_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    root: &Path,
    rel: &Path,
    budget: &mut u64,
) -> Result<(), ArchiveError> {
    let name = || rel.display().to_string();
    // Where the entry really lands (through links made by earlier entries),
    // never outside `root`; a link is checked from there.
    let dest = crate::beneath::resolve(root, rel).map_err(|e| match e {
        crate::beneath::BeneathError::Io { source, .. } => ArchiveError::Io(source),
        _ => ArchiveError::Escapes(name()),
    })?;
    let landed = dest.strip_prefix(root).unwrap_or(rel).to_owned();
    let kind = entry.header().entry_type();
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)?;
    }
    match kind {
        tar::EntryType::Directory => {
            fs::create_dir_all(&dest)?;
        }
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            let size = entry.header().size()?;
            *budget = budget.checked_sub(size).ok_or(ArchiveError::TooLarge)?;
            let mut f = fs::File::create(&dest)?;
            // `take` guards against a header that lies about the size.
            let copied = io::copy(&mut entry.take(size), &mut f)?;
            if copied != size {
                return Err(ArchiveError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} is truncated", name()),
                )));
            }
            let mode = entry.header().mode().unwrap_or(0o644) & 0o755;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        tar::EntryType::Symlink => {
            let target = entry
                .link_name()?
                .ok_or_else(|| ArchiveError::Escapes(name()))?
                .into_owned();
            check_link(&landed, &target)?;
            std::os::unix::fs::symlink(&target, &dest)?;
        }
        tar::EntryType::Link => return Err(ArchiveError::Unsupported(name(), "hard link")),
        tar::EntryType::Char | tar::EntryType::Block => {
            return Err(ArchiveError::Unsupported(name(), "device node"));
        }
        tar::EntryType::Fifo => return Err(ArchiveError::Unsupported(name(), "fifo")),
        _ => {} // pax headers and the like carry no content of their own
    }
    Ok(())
}

/// Unpacks a whole tar stream under `root`.
pub fn unpack_all(reader: impl Read, root: &Path) -> Result<(), ArchiveError> {
    let mut archive = tar::Archive::new(crate::tar_guard::TarGuard::new(reader));
    let mut budget = MAX_UNPACKED;
    let mut admitted = crate::beneath::Entries::default();
    for entry in archive.entries()? {
        let mut entry = entry?;
        admitted.admit(&entry).map_err(ArchiveError::Metadata)?;
        let rel = safe_relative(&entry.path()?)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        unpack_entry(&mut entry, root, &rel, &mut budget)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_are_refused() {
        assert_eq!(
            safe_relative(Path::new("./lib/modules")).unwrap(),
            Path::new("lib/modules")
        );
        for bad in ["../etc/passwd", "/etc/passwd", "lib/../../x"] {
            assert!(
                matches!(safe_relative(Path::new(bad)), Err(ArchiveError::Escapes(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn links_that_leave_are_refused() {
        check_link(Path::new("a/b/link"), Path::new("../c")).unwrap();
        check_link(Path::new("a/link"), Path::new("b/c")).unwrap();
        for (entry, target) in [
            ("a/link", "../../etc"),
            ("link", "/etc/shadow"),
            ("a/b/l", "../../../x"),
            ("l", "d/../x"),
        ] {
            let e = check_link(Path::new(entry), Path::new(target)).unwrap_err();
            assert!(
                matches!(e, ArchiveError::LinkEscapes { .. }),
                "{entry} -> {target}"
            );
        }
    }

    fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn append_raw(
        b: &mut tar::Builder<Vec<u8>>,
        path: &str,
        kind: tar::EntryType,
        link: Option<&str>,
        data: &[u8],
    ) {
        let mut h = tar::Header::new_gnu();
        // set_path refuses `..`; write the raw name as a hostile archive would.
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    #[test]
    fn links_made_earlier_in_the_archive_lead_nowhere_outside() {
        // `a/b` -> `../c`, then `a/b/l` -> `../../x` (fine where it is
        // named, out of the root where it lands: `c/l`), then a file
        // through it.
        let data = tar_with(|b| {
            append_raw(b, "a/", tar::EntryType::Directory, None, b"");
            append_raw(b, "a/b", tar::EntryType::Symlink, Some("../c"), b"");
            append_raw(b, "a/b/l", tar::EntryType::Symlink, Some("../../x"), b"");
            append_raw(b, "a/b/l/evil", tar::EntryType::Regular, None, b"x");
        });
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        fs::create_dir(&root).unwrap();
        let e = unpack_all(&data[..], &root).unwrap_err().to_string();
        assert!(e.contains("points outside"), "{e}");
        assert!(!outer.path().join("x").exists());
        assert_eq!(fs::read_dir(outer.path()).unwrap().count(), 1);

        // A file through links that stay inside lands where they lead.
        let data = tar_with(|b| {
            append_raw(b, "c/", tar::EntryType::Directory, None, b"");
            append_raw(b, "l", tar::EntryType::Symlink, Some("c"), b"");
            append_raw(b, "l/f", tar::EntryType::Regular, None, b"x");
        });
        let t = tempfile::tempdir().unwrap();
        unpack_all(&data[..], t.path()).unwrap();
        assert_eq!(fs::read(t.path().join("c/f")).unwrap(), b"x");
    }

    #[test]
    fn hostile_archives_write_nothing_outside() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                tar_with(|b| append_raw(b, "../evil", tar::EntryType::Regular, None, b"x")),
                "escapes",
            ),
            (
                tar_with(|b| append_raw(b, "/abs", tar::EntryType::Regular, None, b"x")),
                "escapes",
            ),
            (
                tar_with(|b| append_raw(b, "out", tar::EntryType::Symlink, Some("/etc"), b"")),
                "points outside",
            ),
            (
                tar_with(|b| append_raw(b, "dev", tar::EntryType::Char, None, b"")),
                "device node",
            ),
        ];
        for (data, want) in cases {
            let outer = tempfile::tempdir().unwrap();
            let root = outer.path().join("root");
            fs::create_dir(&root).unwrap();
            let e = unpack_all(&data[..], &root).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
            assert!(!outer.path().join("evil").exists());
            assert_eq!(fs::read_dir(outer.path()).unwrap().count(), 1);
        }
    }

    #[test]
    fn ordinary_trees_unpack() {
        let data = tar_with(|b| {
            append_raw(b, "./m/kernel/a.ko", tar::EntryType::Regular, None, b"ko");
            append_raw(
                b,
                "./m/link",
                tar::EntryType::Symlink,
                Some("kernel/a.ko"),
                b"",
            );
        });
        let dir = tempfile::tempdir().unwrap();
        unpack_all(&data[..], dir.path()).unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("m/link")).unwrap(), "ko");
    }
}
