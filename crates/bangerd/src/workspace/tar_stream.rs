//! The working tree as a tar stream, made on a blocking thread while the
//! agent unpacks it: nothing of the repository is staged on the host.
//! Entries are owned by root in the guest (the guest user), and keep their
//! modes (exec bits), mtimes, symlinks and empty files.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncWriteExt, DuplexStream};

/// Files and bytes sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    pub files: u64,
    pub bytes: u64,
}

/// A synchronous writer over an in-memory async pipe, for tar's builder
/// and the pack indexer (on blocking threads).
pub struct BlockingWriter {
    handle: tokio::runtime::Handle,
    inner: DuplexStream,
}

impl BlockingWriter {
    pub fn new(handle: tokio::runtime::Handle, inner: DuplexStream) -> BlockingWriter {
        BlockingWriter { handle, inner }
    }
}

impl Write for BlockingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.handle.block_on(self.inner.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.handle.block_on(self.inner.flush())
    }
}

/// Starts packing `entries` (relative to `top`); returns the stream to
/// read and the packer's outcome.
pub fn spawn(
    top: PathBuf,
    entries: Vec<PathBuf>,
) -> (DuplexStream, tokio::task::JoinHandle<std::io::Result<Sent>>) {
    let (reader, writer) = tokio::io::duplex(256 * 1024);
    let handle = tokio::runtime::Handle::current();
    let task = tokio::task::spawn_blocking(move || {
        let mut b = tar::Builder::new(BlockingWriter {
            handle,
            inner: writer,
        });
        let mut sent = Sent::default();
        for rel in &entries {
            append(&mut b, &top, rel, &mut sent)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", rel.display())))?;
        }
        b.into_inner()?.flush()?;
        Ok(sent)
    });
    (reader, task)
}

fn append(
    b: &mut tar::Builder<BlockingWriter>,
    top: &Path,
    rel: &Path,
    sent: &mut Sent,
) -> std::io::Result<()> {
    let path = top.join(rel);
    let meta = std::fs::symlink_metadata(&path)?;
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    h.set_uid(0);
    h.set_gid(0);
    h.set_username("root")?;
    h.set_groupname("root")?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        h.set_size(0);
        b.append_link(&mut h, rel, std::fs::read_link(&path)?)?;
    } else if ft.is_dir() {
        h.set_size(0);
        b.append_data(&mut h, rel, std::io::empty())?;
    } else if ft.is_file() {
        b.append_data(&mut h, rel, File::open(&path)?)?;
        sent.bytes += meta.len();
    } else {
        // Sockets, fifos, devices: nothing a workspace needs.
        return Ok(());
    }
    sent.files += 1;
    Ok(())
}

/// Every entry under `top`, directories first, for a full copy.
pub fn walk(top: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(top.join(&rel))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for name in names {
            let child = rel.join(name);
            if std::fs::symlink_metadata(top.join(&child))?.is_dir() {
                stack.push(child.clone());
            }
            out.push(child);
        }
    }
    Ok(out)
}
