//! A git pack streamed to the guest with its index computed on the host.
//!
//! `git index-pack` in the guest would hash every object again (SHA-1, and
//! git's collision-detecting SHA-1 at that), which under software emulation
//! costs far more than sending the bytes. So the host reads the pack as it
//! passes through, computes each object's name, CRC-32 and offset, and
//! writes the `.idx` (version 2) itself; the guest only stores both files.
//! The pack must hold no deltas (`git pack-objects --no-reuse-delta
//! --window=0`): every entry is a whole object.

use flate2::bufread::ZlibDecoder;
use sha1::{Digest, Sha1};
use std::io::{self, BufRead, Read, Write};

/// A reader that forwards every byte it hands out to `tee` and keeps the
/// position, the pack's running SHA-1 and the current entry's CRC-32.
struct Tracking<R: BufRead, W: Write> {
    inner: R,
    tee: W,
    pos: u64,
    pack_sum: Sha1,
    crc: crc32fast::Hasher,
}

impl<R: BufRead, W: Write> Read for Tracking<R, W> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead, W: Write> BufRead for Tracking<R, W> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        // fill_buf just returned at least n bytes; asking again is free.
        if let Ok(buf) = self.inner.fill_buf() {
            let used = &buf[..n];
            self.pack_sum.update(used);
            self.crc.update(used);
            // A failed forward surfaces on the next write (flush below).
            if let Err(e) = self.tee.write_all(used) {
                tracing::debug!(error = %e, "pack tee");
            }
        }
        self.pos += n as u64;
        self.inner.consume(n);
    }
}

struct Entry {
    oid: [u8; 20],
    crc: u32,
    offset: u64,
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn read_u32<R: Read>(r: &mut R) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

/// Reads the whole pack from `pack`, forwarding it byte for byte to `tee`,
/// and returns its checksum (hex, also its file name) and its `.idx`.
pub fn index_while_forwarding<R: BufRead, W: Write>(
    pack: R,
    tee: W,
) -> io::Result<(String, Vec<u8>)> {
    let mut t = Tracking {
        inner: pack,
        tee,
        pos: 0,
        pack_sum: Sha1::new(),
        crc: crc32fast::Hasher::new(),
    };
    let mut magic = [0u8; 4];
    t.read_exact(&mut magic)?;
    if &magic != b"PACK" || read_u32(&mut t)? != 2 {
        return Err(bad("not a version 2 git pack"));
    }
    let count = read_u32(&mut t)?;
    let mut entries = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let offset = t.pos;
        t.crc = crc32fast::Hasher::new();
        let mut byte = [0u8; 1];
        t.read_exact(&mut byte)?;
        let kind = (byte[0] >> 4) & 7;
        let mut size = u64::from(byte[0] & 0x0f);
        let mut shift = 4;
        while byte[0] & 0x80 != 0 {
            t.read_exact(&mut byte)?;
            size |= u64::from(byte[0] & 0x7f) << shift;
            shift += 7;
        }
        let name = match kind {
            1 => "commit",
            2 => "tree",
            3 => "blob",
            4 => "tag",
            _ => {
                return Err(bad(format!(
                    "pack entry of type {kind} (a delta?) at {offset}"
                )));
            }
        };
        let mut oid = Sha1::new();
        oid.update(format!("{name} {size}\0").as_bytes());
        let mut body = ZlibDecoder::new(&mut t);
        let mut buf = [0u8; 64 * 1024];
        let mut got = 0u64;
        loop {
            let n = body.read(&mut buf)?;
            if n == 0 {
                break;
            }
            oid.update(&buf[..n]);
            got += n as u64;
        }
        drop(body);
        if got != size {
            return Err(bad(format!(
                "object at {offset}: {got} bytes, header says {size}"
            )));
        }
        entries.push(Entry {
            oid: oid.finalize().into(),
            crc: t.crc.clone().finalize(),
            offset,
        });
    }
    let sum: [u8; 20] = t.pack_sum.clone().finalize().into();
    let mut trailer = [0u8; 20];
    t.read_exact(&mut trailer)?;
    if trailer != sum {
        return Err(bad("pack checksum mismatch"));
    }
    t.tee.flush()?;
    Ok((hex::encode(sum), idx_v2(&mut entries, &sum)))
}

/// Git's pack index, version 2.
fn idx_v2(entries: &mut [Entry], pack_sum: &[u8; 20]) -> Vec<u8> {
    entries.sort_by_key(|e| e.oid);
    let mut out = Vec::new();
    out.extend_from_slice(b"\xfftOc");
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for e in entries.iter() {
        fanout[e.oid[0] as usize] += 1;
    }
    let mut running = 0;
    for f in fanout {
        running += f;
        out.extend_from_slice(&running.to_be_bytes());
    }
    for e in entries.iter() {
        out.extend_from_slice(&e.oid);
    }
    for e in entries.iter() {
        out.extend_from_slice(&e.crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for e in entries.iter() {
        if e.offset < 0x8000_0000 {
            out.extend_from_slice(&(e.offset as u32).to_be_bytes());
        } else {
            out.extend_from_slice(&(0x8000_0000 | large.len() as u32).to_be_bytes());
            large.push(e.offset);
        }
    }
    for o in large {
        out.extend_from_slice(&o.to_be_bytes());
    }
    out.extend_from_slice(pack_sum);
    let idx_sum: [u8; 20] = Sha1::digest(&out).into();
    out.extend_from_slice(&idx_sum);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn git(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@x")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@x")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The index this module writes is the one git writes for the same pack.
    #[test]
    fn the_index_matches_gits_own() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        git(repo, &["init", "-q"]);
        for i in 0..50 {
            std::fs::write(
                repo.join(format!("f{i}")),
                format!("content {i}\n").repeat(i * 50),
            )
            .unwrap();
        }
        std::fs::write(repo.join("empty"), "").unwrap();
        git(repo, &["add", "-A"]);
        git(repo, &["commit", "-q", "-m", "one"]);
        // Packed history, so pack-objects has deltas it could reuse.
        git(repo, &["gc", "-q", "--aggressive"]);
        let objects = git(repo, &["rev-list", "--objects", "--no-walk", "HEAD"]);
        let mut pack = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(super::super::PACK_ARGS)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        pack.stdin.take().unwrap().write_all(&objects).unwrap();
        let mut forwarded = Vec::new();
        let (name, idx) = index_while_forwarding(
            io::BufReader::new(pack.stdout.take().unwrap()),
            &mut forwarded,
        )
        .unwrap();
        assert!(pack.wait().unwrap().success());

        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let pack_file = out.join(format!("pack-{name}.pack"));
        std::fs::write(&pack_file, &forwarded).unwrap();
        let theirs = out.join("theirs.idx");
        git(
            repo,
            &[
                "index-pack",
                "-o",
                theirs.to_str().unwrap(),
                pack_file.to_str().unwrap(),
            ],
        );
        assert_eq!(idx, std::fs::read(&theirs).unwrap());
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(index_while_forwarding(&b"nope"[..], io::sink()).is_err());
        let mut truncated = b"PACK\0\0\0\x02\0\0\0\x01".to_vec();
        truncated.push(0x31);
        assert!(index_while_forwarding(&truncated[..], io::sink()).is_err());
    }
}
