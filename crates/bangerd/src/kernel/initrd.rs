//! The initramfs banger generates for kernels whose virtio drivers are
//! modules: a newc cpio with the guest agent as `/init` (it switches into
//! its init role when it runs as pid 1), the modules to load, and the list
//! `/banger/modules` giving their load order.

use super::modules::{GUEST_DRIVERS, ModuleIndex, ModulesError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Where the init program reads the module load order from.
pub const MODULE_LIST: &str = "banger/modules";

#[derive(Debug, thiserror::Error)]
pub enum InitrdError {
    #[error(transparent)]
    Modules(#[from] ModulesError),
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the initrd")]
    Write(#[source] io::Error),
}

/// Writes an initrd for the kernel whose modules are in `modules_dir`
/// (`lib/modules/<release>` content), or returns `Ok(None)` when every guest
/// driver is built in and no initrd is needed.
pub fn build(
    modules_dir: &Path,
    release: &str,
    init: &Path,
    out: &Path,
) -> Result<Option<Vec<String>>, InitrdError> {
    let index = ModuleIndex::load(modules_dir)?;
    let order = index.load_order(GUEST_DRIVERS)?;
    if order.is_empty() {
        return Ok(None);
    }
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| InitrdError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let mut cpio = Cpio::new(io::BufWriter::new(
        std::fs::File::create(out).map_err(InitrdError::Write)?,
    ));
    let w = InitrdError::Write;
    for dir in ["banger", "dev", "proc", "sys", "lib", "lib/modules"] {
        cpio.dir(dir).map_err(w)?;
    }
    // The kernel opens /dev/console for init's output before anything is mounted.
    cpio.char_dev("dev/console", 0o600, 5, 1).map_err(w)?;
    cpio.file("init", 0o755, &read(init)?).map_err(w)?;
    let base = format!("lib/modules/{release}");
    cpio.dir(&base).map_err(w)?;
    let mut list = String::new();
    let mut names = Vec::new();
    for rel in &order {
        let data = decompress(&read(&modules_dir.join(rel))?).map_err(w)?;
        let name = super::modules::module_name(rel);
        let dest = format!("{base}/{name}.ko");
        cpio.file(&dest, 0o644, &data).map_err(w)?;
        list.push_str(&format!("/{dest}\n"));
        names.push(name);
    }
    cpio.file(MODULE_LIST, 0o644, list.as_bytes()).map_err(w)?;
    cpio.finish().map_err(w)?.flush().map_err(w)?;
    Ok(Some(names))
}

/// Modules may ship compressed (.ko.xz, .ko.zst, .ko.gz); the init program
/// loads plain ones, so they are stored decompressed.
fn decompress(data: &[u8]) -> io::Result<Vec<u8>> {
    use super::vmlinux::Compression;
    let mut out = Vec::new();
    match Compression::detect(data) {
        Some(Compression::Xz) => xz2::read::XzDecoder::new(data).read_to_end(&mut out)?,
        Some(Compression::Zstd) => zstd::stream::read::Decoder::new(data)?.read_to_end(&mut out)?,
        Some(Compression::Gzip) => flate2::read::GzDecoder::new(data).read_to_end(&mut out)?,
        _ => return Ok(data.to_vec()),
    };
    Ok(out)
}

/// A minimal writer of the "newc" cpio format the kernel unpacks.
#[derive(Debug)]
struct Cpio<W: Write> {
    out: W,
    ino: u32,
    written: u64,
}

impl<W: Write> Cpio<W> {
    fn new(out: W) -> Self {
        Cpio {
            out,
            ino: 1,
            written: 0,
        }
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) -> io::Result<()> {
        let namesize = name.len() + 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            namesize,
            0
        );
        self.ino += 1;
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn dir(&mut self, name: &str) -> io::Result<()> {
        self.entry(name, 0o040755, (0, 0), &[])
    }

    fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        self.entry(name, 0o100000 | perm, (0, 0), data)
    }

    fn char_dev(&mut self, name: &str, perm: u32, major: u32, minor: u32) -> io::Result<()> {
        self.entry(name, 0o020000 | perm, (major, minor), &[])
    }

    fn finish(mut self) -> io::Result<W> {
        self.entry("TRAILER!!!", 0, (0, 0), &[])?;
        Ok(self.out)
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.written += b.len() as u64;
        self.out.write_all(b)
    }

    fn pad(&mut self) -> io::Result<()> {
        let pad = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..pad])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_lists_with_the_real_cpio_tool() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.cpio");
        let mut c = Cpio::new(std::fs::File::create(&out).unwrap());
        c.dir("banger").unwrap();
        c.file("init", 0o755, b"#!/bin/sh\n").unwrap();
        c.char_dev("dev/console", 0o600, 5, 1).unwrap();
        c.file("banger/modules", 0o644, b"/lib/modules/x/virtio.ko\n")
            .unwrap();
        c.finish().unwrap();
        let listing = std::process::Command::new("cpio")
            .args(["-t", "-v", "--quiet", "-F"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            listing.status.success(),
            "{}",
            String::from_utf8_lossy(&listing.stderr)
        );
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(
            text.contains("-rwxr-xr-x") && text.contains(" init"),
            "{text}"
        );
        assert!(
            text.contains("crw-------") && text.contains("dev/console"),
            "{text}"
        );
        assert!(text.contains("banger/modules"), "{text}");
    }
}
