//! Copying disk images so the time does not grow with their size: a reflink
//! (FICLONE) where the filesystem shares blocks, otherwise a sparse copy that
//! visits only data extents (SEEK_DATA/SEEK_HOLE) with copy_file_range.

use rustix::fs::{SeekFrom, copy_file_range, ioctl_ficlone, seek};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, symlink};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMethod {
    Reflink,
    Sparse,
}

/// Copies `src` to the new file `dst` (which must not exist), calling
/// `progress(done, total)` as data is copied, and syncs it to disk.
pub fn clone_file(
    src: &Path,
    dst: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> io::Result<CopyMethod> {
    let from = File::open(src)?;
    let meta = from.metadata()?;
    let total = meta.len();
    let to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(meta.permissions().mode() & 0o777)
        .open(dst)?;
    let method = if ioctl_ficlone(&to, &from).is_ok() {
        progress(total, total);
        CopyMethod::Reflink
    } else {
        sparse_copy(&from, &to, total, progress)?;
        CopyMethod::Sparse
    };
    to.sync_all()?;
    Ok(method)
}

fn sparse_copy(
    from: &File,
    to: &File,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> io::Result<()> {
    // The destination gets its full size first; unwritten ranges stay holes.
    to.set_len(total)?;
    let mut pos = 0u64;
    let mut done = 0u64;
    while pos < total {
        let data = match seek(from, SeekFrom::Data(pos)) {
            Ok(off) => off,
            // ENXIO: no data after pos, the rest is a hole.
            Err(rustix::io::Errno::NXIO) => break,
            Err(e) => return Err(e.into()),
        };
        let hole = seek(from, SeekFrom::Hole(data))?.min(total);
        let (mut off_in, mut off_out) = (data, data);
        while off_in < hole {
            let chunk = (hole - off_in).min(1 << 30) as usize;
            let n = copy_file_range(from, Some(&mut off_in), to, Some(&mut off_out), chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "source shrank while copying",
                ));
            }
            done += n as u64;
            progress(done, total);
        }
        pos = hole;
    }
    progress(total, total);
    Ok(())
}

/// Copies a directory tree (regular files, directories, symlinks), keeping
/// modes. `dst` must not exist.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<u64> {
    let meta = fs::symlink_metadata(src)?;
    let mut bytes = 0;
    if meta.is_dir() {
        fs::create_dir(dst)?;
        for entry in fs::read_dir(src)? {
            let entry = entry?;
            bytes += copy_tree(&entry.path(), &dst.join(entry.file_name()))?;
        }
        fs::set_permissions(dst, meta.permissions())?;
    } else if meta.file_type().is_symlink() {
        symlink(fs::read_link(src)?, dst)?;
    } else if meta.is_file() {
        clone_file(src, dst, &mut |_, _| {})?;
        bytes += meta.len();
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a regular file, directory or symlink",
                src.display()
            ),
        ));
    }
    Ok(bytes)
}

/// Apparent size of a file, or of every file under a directory.
pub fn size_of(path: &Path) -> io::Result<u64> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::read_dir(path)?.try_fold(0, |sum, e| Ok(sum + size_of(&e?.path())?))
    } else {
        Ok(meta.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn sparse_files_stay_sparse_and_identical() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("disk.img");
        let mut f = File::create(&src).unwrap();
        f.write_all(b"head").unwrap();
        f.seek(io::SeekFrom::Start(64 << 20)).unwrap();
        f.write_all(b"middle").unwrap();
        f.set_len(256 << 20).unwrap();
        drop(f);

        let dst = dir.path().join("copy.img");
        let mut last = (0, 0);
        clone_file(&src, &dst, &mut |d, t| last = (d, t)).unwrap();
        assert_eq!(last, (256 << 20, 256 << 20));
        assert_eq!(fs::read(&src).unwrap(), fs::read(&dst).unwrap());
        let blocks = fs::metadata(&dst).unwrap().blocks() * 512;
        assert!(
            blocks < 4 << 20,
            "copy allocated {blocks} bytes for 10 bytes of data"
        );
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a");
        fs::write(&src, "x").unwrap();
        let dst = dir.path().join("b");
        fs::write(&dst, "keep").unwrap();
        assert!(clone_file(&src, &dst, &mut |_, _| {}).is_err());
        assert_eq!(fs::read_to_string(&dst).unwrap(), "keep");
    }

    #[test]
    fn trees_keep_symlinks_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("kernel/drivers")).unwrap();
        fs::write(src.join("kernel/drivers/a.ko"), "ko").unwrap();
        fs::set_permissions(
            src.join("kernel/drivers/a.ko"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        symlink("kernel/drivers/a.ko", src.join("link")).unwrap();
        let dst = dir.path().join("dst");
        assert_eq!(copy_tree(&src, &dst).unwrap(), 2);
        assert_eq!(
            fs::read_link(dst.join("link")).unwrap(),
            Path::new("kernel/drivers/a.ko")
        );
        let mode = fs::metadata(dst.join("kernel/drivers/a.ko"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
}
