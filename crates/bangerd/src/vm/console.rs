//! The serial console file, read without loading it: a guest can print
//! gigabytes, and `vm show`, `vm list` and the web UI must stay fast. The
//! tail is read from the end; `vm logs` gets the file in bounded chunks.
//! The monitor rotates it at `log_rotation::CAP` (console.log.1 keeps the
//! generation before).

use super::{VmEnv, VmError, row};
use banger_config::VmDir;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The most `GET /v1/vms/{name}/console` answers at once.
pub const CHUNK: u64 = 1 << 20;

/// How far back from the end a tail looks: generous for `lines` lines.
fn tail_window(lines: usize) -> u64 {
    (lines as u64 * 4).max(64) * 1024
}

/// At most `max` bytes of `path` from `offset`, cut back to a whole UTF-8
/// character at the end (the next read starts there); the file's length.
pub fn read_at(path: &Path, offset: u64, max: u64) -> (Vec<u8>, u64) {
    let Ok(mut f) = std::fs::File::open(path) else {
        return (Vec::new(), 0);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    // Past the end: the log was rotated since that offset was handed out,
    // and what the guest wrote since is at the start.
    let from = if offset > len { 0 } else { offset };
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_ok() {
        let _ = f.take(max).read_to_end(&mut buf);
    }
    if let Err(e) = std::str::from_utf8(&buf)
        && e.error_len().is_none()
        && buf.len() as u64 == max
    {
        // A character split by the chunk's end: it starts the next chunk.
        buf.truncate(e.valid_up_to());
    }
    (buf, len)
}

/// The last `lines` lines of the serial console.
///
/// When the end holds the reason the guest died (banger's initrd saying what
/// is missing, a kernel panic), the excerpt starts there instead: the lines
/// after a panic are a stack trace, the line that explains it comes first.
pub fn console_tail(vm_dir: &VmDir, lines: usize) -> String {
    // Across the rotated generation too: a console just rotated is short.
    let (bytes, cut) = crate::log_rotation::tail(&vm_dir.console(), tail_window(lines));
    let text = String::from_utf8_lossy(&bytes);
    let mut all: Vec<&str> = text.lines().collect();
    if cut && !all.is_empty() {
        // The window began mid-line.
        all.remove(0);
    }
    let tail = all.len().saturating_sub(lines);
    let near_end = all.len().saturating_sub(4 * lines);
    let cause = all[near_end..]
        .iter()
        .position(|l| l.contains("banger-init: FATAL") || l.contains("Kernel panic"))
        .map(|i| i + near_end);
    let start = cause.map_or(tail, |c| c.min(tail));
    // Shown in errors, `vm show` and the web UI: never the guest's escapes.
    banger_api::text::printable(&all[start..all.len().min(start + 2 * lines)].join("\n"))
        .into_owned()
}

/// Up to `CHUNK` bytes of the console from `offset`, and where the next
/// read starts (the end of what was read; the file's length when all of
/// it was).
pub fn console(env: &VmEnv<'_>, name: &str, offset: u64) -> Result<(String, u64), VmError> {
    let vm = row(env.store, name)?;
    let path = env.paths.vm_dir(&vm.id).console();
    let (bytes, len) = read_at(&path, offset, CHUNK);
    let from = if offset > len { 0 } else { offset };
    let next = from + bytes.len() as u64;
    Ok((String::from_utf8_lossy(&bytes).into_owned(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_console_is_read_from_its_end_and_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let vm = VmDir::at(dir.path().to_owned());
        // 64 MiB of noise, then the guest's last words.
        let mut f = std::fs::File::create(vm.console()).unwrap();
        let line = "x".repeat(1023) + "\n";
        for _ in 0..(64 * 1024) {
            std::io::Write::write_all(&mut f, line.as_bytes()).unwrap();
        }
        std::io::Write::write_all(
            &mut f,
            "Kernel panic - not syncing: no init\nCPU: 0\n".as_bytes(),
        )
        .unwrap();
        drop(f);
        let tail = console_tail(&vm, 5);
        let lines: Vec<&str> = tail.lines().collect();
        assert_eq!(lines.len(), 5, "{tail:.200}");
        assert_eq!(
            lines[3..],
            ["Kernel panic - not syncing: no init", "CPU: 0"]
        );
        assert_eq!(lines[0], line.trim_end(), "whole lines only");

        // Chunks: a multi-byte character split by a chunk's end arrives whole.
        let path = dir.path().join("small");
        let text = "a".repeat(CHUNK as usize - 1) + "é and more";
        std::fs::write(&path, &text).unwrap();
        let (first, len) = read_at(&path, 0, CHUNK);
        assert_eq!(len, text.len() as u64);
        assert_eq!(
            first.len() as u64,
            CHUNK - 1,
            "é is left for the next chunk"
        );
        let (rest, _) = read_at(&path, first.len() as u64, CHUNK);
        assert_eq!(String::from_utf8(rest).unwrap(), "é and more");
        let (none, _) = read_at(&path, len, CHUNK);
        assert!(none.is_empty());
        // Past the end: rotated since; what is there now is new.
        std::fs::write(&path, "after rotation\n").unwrap();
        let (again, _) = read_at(&path, len, CHUNK);
        assert_eq!(again, b"after rotation\n");
    }

    #[test]
    fn a_tail_just_after_rotation_reaches_into_the_previous_generation() {
        let dir = tempfile::tempdir().unwrap();
        let vm = VmDir::at(dir.path().to_owned());
        let before: String = (0..5000).map(|i| format!("boot line {i}\n")).collect();
        std::fs::write(vm.console(), before).unwrap();
        assert!(crate::log_rotation::rotate_if_over(&vm.console(), 4096).unwrap());
        std::fs::write(vm.console(), "login: \n").unwrap();
        let tail = console_tail(&vm, 3);
        assert_eq!(tail, "boot line 4998\nboot line 4999\nlogin: ");
    }
}
