//! A tar stream watched as the tar crate reads it, so metadata cannot
//! exhaust memory: the tar crate reads a GNU long name or long link (`L`,
//! `K`) and a pax header (`x`) whole into memory before the entry they
//! describe, whatever size their header declares (a gzip bomb makes
//! gigabytes of it cheaply). Every unpacker wraps its reader in
//! [`TarGuard`], which follows the stream block by block as the tar crate
//! does (pax `size` overrides and GNU sparse extension blocks included, and
//! the end at the first zero block) and fails the read that completes such
//! a header when it declares more than [`MAX_META`] bytes: before a single
//! byte of it is buffered.

use std::io::{self, Read};

/// The most a long name, long link or pax header may hold.
pub const MAX_META: u64 = 1 << 20;

const BLOCK: usize = 512;

#[derive(Debug, thiserror::Error)]
#[error(
    "a tar `{kind}` header declares {size} bytes of metadata (at most {MAX_META}): a metadata bomb?"
)]
pub struct MetadataTooLarge {
    pub kind: char,
    pub size: u64,
}

#[derive(Debug)]
enum Part {
    /// A header block (or, `sparse`, a GNU sparse extension block) is being read.
    Header { sparse_then: Option<u64> },
    /// An entry's data, padded to whole blocks; `pax` keeps its bytes.
    Data {
        left: u64,
        real_left: u64,
        pax: bool,
    },
    /// After the end-of-archive block: the tar crate reads no further.
    Done,
}

#[derive(Debug)]
pub struct TarGuard<R> {
    inner: R,
    part: Part,
    block: [u8; BLOCK],
    filled: usize,
    /// A pax `size` the next entry's data has instead of its header's.
    pax_size: Option<u64>,
    pax: Vec<u8>,
}

impl<R: Read> TarGuard<R> {
    pub fn new(inner: R) -> TarGuard<R> {
        TarGuard {
            inner,
            part: Part::Header { sparse_then: None },
            block: [0; BLOCK],
            filled: 0,
            pax_size: None,
            pax: Vec::new(),
        }
    }

    fn data(&mut self, size: u64, pax: bool) -> io::Result<()> {
        let padded = size
            .checked_next_multiple_of(BLOCK as u64)
            .ok_or_else(|| io::Error::other("tar entry size overflows"))?;
        self.part = if padded == 0 {
            self.data_done(pax);
            Part::Header { sparse_then: None }
        } else {
            Part::Data {
                left: padded,
                real_left: size,
                pax,
            }
        };
        Ok(())
    }

    fn data_done(&mut self, pax: bool) {
        if pax {
            self.pax_size = pax_size(&self.pax);
            self.pax.clear();
        }
    }

    /// A whole block of the header part has arrived.
    fn block_done(&mut self, sparse_then: Option<u64>) -> io::Result<()> {
        self.filled = 0;
        if let Some(size) = sparse_then {
            // A GNU sparse extension block: another follows while its
            // `isextended` byte is 1; then the entry's data.
            if self.block[504] == 1 {
                return Ok(());
            }
            return self.data(size, false);
        }
        if self.block.iter().all(|b| *b == 0) {
            self.part = Part::Done;
            return Ok(());
        }
        let header = tar::Header::from_byte_slice(&self.block);
        let kind = header.entry_type();
        let extension = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        let recognised = header.as_gnu().is_some() || header.as_ustar().is_some();
        let mut size = header.entry_size()?;
        if !extension && let Some(s) = self.pax_size.take() {
            size = s;
        }
        if extension && recognised && size > MAX_META {
            return Err(io::Error::other(MetadataTooLarge {
                kind: kind.as_byte() as char,
                size,
            }));
        }
        let sparse_extended =
            !extension && kind.is_gnu_sparse() && header.as_gnu().is_some_and(|g| g.is_extended());
        if sparse_extended {
            self.part = Part::Header {
                sparse_then: Some(size),
            };
            return Ok(());
        }
        self.data(size, recognised && kind.is_pax_local_extensions())
    }
}

/// The `size` record of a pax header, as the tar crate reads it (the first
/// one; nothing when a record is malformed).
fn pax_size(records: &[u8]) -> Option<u64> {
    for record in tar::PaxExtensions::new(records) {
        let record = record.ok()?;
        if record.key() == Ok("size") {
            return record.value().ok()?.parse().ok();
        }
    }
    None
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.part {
            Part::Done => self.inner.read(buf),
            Part::Header { sparse_then } => {
                let want = buf.len().min(BLOCK - self.filled);
                let n = self.inner.read(&mut buf[..want])?;
                self.block[self.filled..self.filled + n].copy_from_slice(&buf[..n]);
                self.filled += n;
                if self.filled == BLOCK {
                    self.block_done(sparse_then)?;
                }
                Ok(n)
            }
            Part::Data {
                left,
                real_left,
                pax,
            } => {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = self.inner.read(&mut buf[..want])?;
                if pax {
                    let kept = n.min(usize::try_from(real_left).unwrap_or(usize::MAX));
                    self.pax.extend_from_slice(&buf[..kept]);
                }
                let left = left - n as u64;
                let real_left = real_left.saturating_sub(n as u64);
                if n > 0 && left == 0 {
                    self.data_done(pax);
                    self.part = Part::Header { sparse_then: None };
                } else {
                    self.part = Part::Data {
                        left,
                        real_left,
                        pax,
                    };
                }
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entries the tar crate yields through the guard: paths and the
    /// bytes of each.
    fn through_guard(data: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
        let mut ar = tar::Archive::new(TarGuard::new(data));
        let mut out = Vec::new();
        for e in ar.entries()? {
            let mut e = e?;
            let path = e.path()?.display().to_string();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes)?;
            out.push((path, bytes));
        }
        Ok(out)
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, body: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, body).unwrap();
    }

    #[test]
    fn ordinary_archives_pass_whole() {
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "a", b"");
        file(&mut b, "b", &vec![7u8; 513]);
        // A GNU long name (an `L` entry first).
        let long = format!("{}/c", "d".repeat(300));
        file(&mut b, &long, b"long");
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, "l", "x".repeat(200)).unwrap();
        // A pax header naming a path and a size its entry really has.
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        b.append_pax_extensions([("path", b"from-pax".as_slice()), ("size", b"5")])
            .unwrap();
        h.set_size(5);
        b.append_data(&mut h, "ignored", &b"hello"[..]).unwrap();
        file(&mut b, "after", b"end");
        let data = b.into_inner().unwrap();
        let got = through_guard(&data).unwrap();
        let names: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["a", "b", long.as_str(), "l", "from-pax", "after"]);
        assert_eq!(got[1].1.len(), 513);
        assert_eq!(got[4].1, b"hello");
        assert_eq!(got[5].1, b"end");
        // Trailing bytes after the end blocks are not the guard's business.
        let mut more = data.clone();
        more.extend_from_slice(&[1u8; 4096]);
        assert_eq!(through_guard(&more).unwrap().len(), 6);
    }

    /// An extension header of `kind` declaring `size` bytes, as a bomb
    /// would have it (the bytes themselves need not follow).
    fn bomb(kind: u8, size: u64) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "first", b"ok");
        let mut data = b.into_inner().unwrap();
        data.truncate(data.len() - 1024);
        let mut h = tar::Header::new_gnu();
        h.set_path("././@LongLink").unwrap();
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_size(size);
        h.set_cksum();
        data.extend_from_slice(h.as_bytes());
        // Only a little of what it declares: the guard must not wait for it.
        data.extend_from_slice(&[b'a'; 4096]);
        data
    }

    #[test]
    fn huge_long_names_and_pax_headers_are_refused_before_they_are_read() {
        for kind in [b'L', b'K', b'x', b'g'] {
            let e = through_guard(&bomb(kind, 8 << 30)).unwrap_err();
            let shown = e.to_string();
            assert!(
                shown.contains("declares 8589934592 bytes of metadata"),
                "{}: {shown}",
                kind as char
            );
        }
        // At the cap it is read (and then fails only for being cut short).
        let e = through_guard(&bomb(b'L', MAX_META)).unwrap_err();
        assert!(!e.to_string().contains("metadata"), "{e}");
    }

    #[test]
    fn a_pax_size_moves_the_next_header_and_the_guard_follows() {
        // The pax header says the entry has 1024 bytes, its own header 0:
        // the tar crate reads 1024, and the guard must too, or it would
        // take the data for a header.
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("size", b"1024".as_slice())])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_path("big").unwrap();
        h.set_size(0);
        h.set_cksum();
        let mut data = b.into_inner().unwrap();
        data.truncate(data.len() - 1024);
        data.extend_from_slice(h.as_bytes());
        // The data: two blocks that would look like an `L` bomb header.
        let fake = bomb(b'L', 8 << 30);
        let fake_header = &fake[fake.len() - 4096 - 512..fake.len() - 4096];
        data.extend_from_slice(fake_header);
        data.extend_from_slice(fake_header);
        let mut end = tar::Builder::new(Vec::new());
        file(&mut end, "last", b"z");
        data.extend_from_slice(&end.into_inner().unwrap());
        let got = through_guard(&data).unwrap();
        assert_eq!(got[0].0, "big");
        assert_eq!(got[0].1.len(), 1024);
        assert_eq!(got[1].0, "last");
    }
}
