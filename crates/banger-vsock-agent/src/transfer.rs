//! File transfer as tar streams in frames: `PutTar` unpacks what the host
//! sends into a directory, `GetTar` packs a path for the host. Streams both
//! ways, so neither side holds a whole tree in memory or on a temp disk.

use banger_agent_proto::{Frame, FrameKind, Response, read_frame, write_frame};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// Stdin frames as a byte stream, ending at the empty frame.
struct FrameReader<'a> {
    conn: &'a mut File,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for FrameReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() && !self.done {
            match read_frame(self.conn).map_err(std::io::Error::other)? {
                Some(f) if f.kind == FrameKind::Stdin && !f.payload.is_empty() => {
                    self.buf = f.payload;
                    self.pos = 0;
                }
                Some(f) if f.kind == FrameKind::Stdin => self.done = true,
                Some(_) => return Err(std::io::Error::other("expected tar data frames")),
                None => return Err(std::io::Error::other("the host hung up mid-transfer")),
            }
        }
        let n = (self.buf.len() - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Bytes written become stdout frames of at most 64 KiB.
struct FrameWriter<'a>(&'a mut File);

impl Write for FrameWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(64 * 1024);
        write_frame(self.0, &Frame::data(FrameKind::Stdout, &data[..n]))
            .map_err(std::io::Error::other)?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// An error and its causes, as one line (tar's errors wrap the io error).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

fn answer(conn: &mut File, result: Result<(), String>) -> Result<(), String> {
    let r = match result {
        Ok(()) => Response::Ok,
        Err(message) => Response::Error { message },
    };
    write_frame(conn, &Frame::response(&r)).map_err(|e| e.to_string())
}

pub fn put(mut conn: File, dest: &str) -> Result<(), String> {
    let unpacked = (|| {
        std::fs::create_dir_all(dest).map_err(|e| format!("{dest}: {e}"))?;
        let mut reader = FrameReader {
            conn: &mut conn,
            buf: Vec::new(),
            pos: 0,
            done: false,
        };
        let mut archive = tar::Archive::new(&mut reader);
        archive.set_preserve_permissions(true);
        archive.set_preserve_mtime(true);
        archive.set_preserve_ownerships(true);
        archive.set_overwrite(true);
        for entry in archive.entries().map_err(|e| e.to_string())? {
            let mut entry = entry.map_err(|e| e.to_string())?;
            let name = entry.path().map_err(|e| e.to_string())?.into_owned();
            // unpack_in refuses names with `..` or a root, and writing
            // through a symlink that leads out of `dest`.
            let inside = entry
                .unpack_in(dest)
                .map_err(|e| format!("{}: {}", name.display(), chain(&e)))?;
            if !inside {
                return Err(format!(
                    "{}: refused, it points outside {dest}",
                    name.display()
                ));
            }
        }
        // Drain to the end frame so the answer is read in order.
        std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| e.to_string())?;
        Ok(())
    })();
    answer(&mut conn, unpacked)
}

pub fn get(mut conn: File, path: &str) -> Result<(), String> {
    let packed = (|| {
        let p = Path::new(path);
        let meta = std::fs::symlink_metadata(p).map_err(|e| format!("{path}: {e}"))?;
        let mut builder = tar::Builder::new(FrameWriter(&mut conn));
        builder.follow_symlinks(false);
        if meta.is_dir() {
            builder.append_dir_all(".", p)
        } else {
            let name = p.file_name().ok_or(format!("{path}: no file name"))?;
            builder.append_path_with_name(p, name)
        }
        .and_then(|_| builder.finish())
        .map_err(|e| format!("{path}: {e}"))
    })();
    answer(&mut conn, packed)
}
