//! Logs that grow without banger's say (a guest's serial console, its
//! VMM's and vhost's messages, the daemon's own log) kept to a size: when
//! one passes `CAP`, its last `CAP` bytes become `NAME.1` (replacing the
//! previous one) and the file is emptied in place. Its writers opened it
//! with O_APPEND (QEMU's serial with `append=on`, the others through
//! `process::spawn_detached` and `daemon start`), so they go on at the new
//! end. What is written between the copy and the truncation is lost: a
//! window of one copy, at most every monitor tick.
//!
//! Firecracker opens its own log and metrics files without O_APPEND: it
//! writes at its own offset, so emptying them would only leave it writing
//! past a hole. Those are punched instead (`punch_if_over`): everything
//! but their last `CAP / 2` bytes becomes a hole, so they take at most
//! `CAP` on disk while their length (and the writer's offset) go on; tails
//! are read from the end, so the hole is never read.
//!
//! A file is never followed through a link: a VM directory is ours, but a
//! link planted there must not make the daemon copy or empty another file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The most a log keeps in each of its two generations.
pub const CAP: u64 = 32 << 20;

/// Where a log's previous generation is kept: `NAME.1`.
pub fn previous(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

fn open_nofollow(path: &Path, write: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Rotates `path` when it is longer than `cap`; true when it did. A
/// missing file is not an error (the VM never booted).
pub fn rotate_if_over(path: &Path, cap: u64) -> io::Result<bool> {
    let mut src = match open_nofollow(path, false) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let meta = src.metadata()?;
    if !meta.is_file() || meta.len() <= cap {
        return Ok(false);
    }
    let kept = previous(path);
    let mut staged = kept.as_os_str().to_owned();
    staged.push(".tmp");
    let staged = PathBuf::from(staged);
    let _ = std::fs::remove_file(&staged);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&staged)?;
    src.seek(SeekFrom::Start(meta.len() - cap))?;
    io::copy(&mut src.take(cap), &mut out)?;
    std::fs::rename(&staged, &kept)?;
    open_nofollow(path, true)?.set_len(0)?;
    Ok(true)
}

/// Punches out all but the last `cap / 2` bytes of `path` when more than
/// `cap` of it is on disk; true when it did. For writers that do not
/// append (see the module's comment). A missing file is not an error.
pub fn punch_if_over(path: &Path, cap: u64) -> io::Result<bool> {
    let f = match open_nofollow(path, true) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    use std::os::unix::fs::MetadataExt;
    if !meta.is_file() || meta.blocks() * 512 <= cap {
        return Ok(false);
    }
    let end = meta.len().saturating_sub(cap / 2);
    rustix::fs::fallocate(
        &f,
        rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE,
        0,
        end,
    )?;
    Ok(true)
}

/// The last `window` bytes of the log across its two generations (the
/// previous one first), and whether they begin inside the log rather than
/// at its very start (then the first line is likely cut).
pub fn tail(path: &Path, window: u64) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let current = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut cut = false;
    if current < window
        && let Ok(mut f) = File::open(previous(path))
    {
        let want = window - current;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        cut = len > want;
        if f.seek(SeekFrom::Start(len.saturating_sub(want))).is_ok() {
            let _ = f.take(want).read_to_end(&mut buf);
        }
    }
    if let Ok(mut f) = File::open(path) {
        let from = current.saturating_sub(window);
        cut |= from > 0;
        if f.seek(SeekFrom::Start(from)).is_ok() {
            let _ = f.take(window).read_to_end(&mut buf);
        }
    }
    // A file that grew since its length was taken: the window's end.
    if buf.len() as u64 > window {
        buf.drain(..buf.len() - window as usize);
        cut = true;
    }
    (buf, cut)
}

/// How a log is kept to its cap: by its writer's way of writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Appended to: rotated (`rotate_if_over`).
    Rotate,
    /// Written at the writer's own offset: punched (`punch_if_over`).
    Punch,
}

/// The logs of a VM's directory that grow while it runs: its console and
/// QEMU's and vhost-device-vsock's messages (rotated), Firecracker's own
/// log and metrics (punched).
pub fn vm_logs(dir: &banger_config::VmDir) -> [(PathBuf, Keep); 5] {
    use crate::vmm::{firecracker, qemu};
    [
        (dir.console(), Keep::Rotate),
        (dir.join(qemu::VMM_LOG), Keep::Rotate),
        (dir.join(qemu::VHOST_LOG), Keep::Rotate),
        (dir.join(firecracker::FC_LOG), Keep::Punch),
        (dir.join(firecracker::FC_METRICS), Keep::Punch),
    ]
}

/// Keeps each of `logs` to `cap`; what cannot be is logged and the rest
/// still are.
pub fn rotate_all<'a>(logs: impl IntoIterator<Item = (&'a Path, Keep)>, cap: u64) {
    for (path, keep) in logs {
        let done = match keep {
            Keep::Rotate => rotate_if_over(path, cap),
            Keep::Punch => punch_if_over(path, cap),
        };
        match done {
            Ok(true) => tracing::info!(log = %path.display(), cap, "rotated a log over its cap"),
            Ok(false) => {}
            Err(e) => tracing::warn!(log = %path.display(), error = %e, "rotating a log"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn appender(path: &Path) -> File {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
    }

    #[test]
    fn a_log_written_at_its_own_offset_is_punched_and_its_writer_goes_on() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("firecracker.log");
        // As Firecracker opens it: read and write, no O_APPEND.
        let mut w = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&log)
            .unwrap();
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..1024 {
            w.write_all(line.as_bytes()).unwrap();
        }
        w.sync_all().unwrap();
        let on_disk = |p: &Path| std::fs::metadata(p).unwrap().blocks() * 512;
        assert!(on_disk(&log) >= 1 << 20);
        assert!(!punch_if_over(&log, 2 << 20).unwrap(), "under the cap");
        assert!(punch_if_over(&log, 256 << 10).unwrap());
        assert!(on_disk(&log) <= (128 << 10) + 4096, "{}", on_disk(&log));
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 1 << 20);

        // The writer goes on where it was; the end reads as written.
        w.write_all(b"after\n").unwrap();
        let (t, _) = tail(&log, 1030);
        assert_eq!(String::from_utf8(t).unwrap(), format!("{line}after\n"));
        assert!(
            !punch_if_over(&log, 256 << 10).unwrap(),
            "nothing more to punch"
        );
        assert!(!punch_if_over(&dir.path().join("missing"), 1).unwrap());
    }

    #[test]
    fn a_log_over_its_cap_keeps_its_end_and_its_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("console.log");
        let mut w = appender(&log);
        for i in 0..1000 {
            writeln!(w, "line {i:04}").unwrap();
        }
        // 10 bytes a line: 10,000 bytes against a cap of 2,000.
        assert!(!rotate_if_over(&log, 20_000).unwrap(), "under the cap");
        assert!(rotate_if_over(&log, 2_000).unwrap());
        let kept = std::fs::read_to_string(previous(&log)).unwrap();
        assert_eq!(kept.len(), 2_000);
        assert!(kept.starts_with("line 0800\n") && kept.ends_with("line 0999\n"));
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);

        // The writer (O_APPEND) goes on at the start of the emptied file:
        // no hole where the old bytes were.
        writeln!(w, "after").unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "after\n");

        // The tail spans both generations, newest last.
        let (t, cut) = tail(&log, 26);
        assert_eq!(
            String::from_utf8(t).unwrap(),
            "line 0998\nline 0999\nafter\n"
        );
        assert!(cut);
        let (t, cut) = tail(&log, 1 << 20);
        assert_eq!(t.len(), 2_006);
        assert!(!cut, "all of both: nothing cut");

        // A second rotation replaces the first generation.
        for _ in 0..300 {
            writeln!(w, "second ..").unwrap();
        }
        assert!(rotate_if_over(&log, 2_000).unwrap());
        let kept = std::fs::read_to_string(previous(&log)).unwrap();
        assert!(kept.ends_with("second ..\n") && !kept.contains("line"));
    }

    #[test]
    fn links_and_missing_logs_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, vec![b'x'; 5_000]).unwrap();
        let log = dir.path().join("console.log");
        std::os::unix::fs::symlink(&victim, &log).unwrap();
        assert!(rotate_if_over(&log, 100).is_err(), "a link is not followed");
        assert_eq!(std::fs::metadata(&victim).unwrap().len(), 5_000);
        assert!(!previous(&log).exists());
        assert!(!rotate_if_over(&dir.path().join("none.log"), 100).unwrap());
        let (t, cut) = tail(&dir.path().join("none.log"), 100);
        assert!(t.is_empty() && !cut);
    }
}
