//! bzImage -> ELF vmlinux. Firecracker boots ELF kernels best, and Debian
//! ships bzImages. The x86 boot protocol (2.08+) header says exactly where
//! the compressed kernel is (`payload_offset`, `payload_length`); its first
//! bytes say how it is compressed.

use std::io::{self, Read};

/// A decompressed kernel larger than this is a bug or a bomb.
const MAX_VMLINUX: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum VmlinuxError {
    #[error("not a bzImage (no HdrS boot header)")]
    NotBzImage,
    #[error("boot protocol {0:#06x} is older than 2.08 and does not describe its payload")]
    OldProtocol(u16),
    #[error("payload offset/length point outside the file")]
    BadPayload,
    #[error("unknown payload compression (first bytes {0})")]
    UnknownCompression(String),
    #[error("decompressing the {0} payload")]
    Decompress(&'static str, #[source] io::Error),
    #[error("the decompressed kernel is over {} MiB", MAX_VMLINUX >> 20)]
    TooLarge,
    #[error("the decompressed {0} payload is not an ELF file")]
    NotElf(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Xz,
    Lzma,
    Bzip2,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Lzma => "lzma",
            Compression::Bzip2 => "bzip2",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    pub fn detect(data: &[u8]) -> Option<Compression> {
        let starts = |m: &[u8]| data.starts_with(m);
        Some(if starts(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if starts(&[0x5d, 0x00, 0x00]) {
            Compression::Lzma
        } else if starts(b"BZh") {
            Compression::Bzip2
        } else if starts(&[0x02, 0x21, 0x4c, 0x18]) {
            Compression::Lz4
        } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            return None;
        })
    }
}

/// The compressed payload inside a bzImage, without the size trailer.
pub fn payload(bz: &[u8]) -> Result<&[u8], VmlinuxError> {
    if bz.len() < 0x250 || &bz[0x202..0x206] != b"HdrS" {
        return Err(VmlinuxError::NotBzImage);
    }
    let u16_at = |o: usize| u16::from_le_bytes([bz[o], bz[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes([bz[o], bz[o + 1], bz[o + 2], bz[o + 3]]) as usize;
    let version = u16_at(0x206);
    if version < 0x0208 {
        return Err(VmlinuxError::OldProtocol(version));
    }
    let setup_sects = match bz[0x1f1] {
        0 => 4,
        n => n as usize,
    };
    let start = (setup_sects + 1) * 512 + u32_at(0x248);
    let len = u32_at(0x24c);
    let payload = bz.get(start..start + len).ok_or(VmlinuxError::BadPayload)?;
    // The kernel build appends the uncompressed size (4 bytes) to every payload.
    Ok(&payload[..payload.len().saturating_sub(4)])
}

/// Extracts the ELF vmlinux from a bzImage.
pub fn extract(bz: &[u8]) -> Result<(Vec<u8>, Compression), VmlinuxError> {
    let data = payload(bz)?;
    let kind = Compression::detect(data).ok_or_else(|| {
        VmlinuxError::UnknownCompression(
            data.iter()
                .take(6)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        )
    })?;
    let err = |e| VmlinuxError::Decompress(kind.name(), e);
    let out = match kind {
        Compression::Gzip => read_capped(flate2::read::GzDecoder::new(data)).map_err(err)?,
        Compression::Xz => read_capped(xz2::read::XzDecoder::new(data)).map_err(err)?,
        Compression::Lzma => {
            let stream =
                xz2::stream::Stream::new_lzma_decoder(u64::MAX).map_err(|e| err(e.into()))?;
            read_capped(xz2::read::XzDecoder::new_stream(data, stream)).map_err(err)?
        }
        Compression::Bzip2 => read_capped(bzip2::read::BzDecoder::new(data)).map_err(err)?,
        Compression::Zstd => {
            let dec = zstd::stream::read::Decoder::with_buffer(data)
                .map_err(err)?
                .single_frame();
            read_capped(dec).map_err(err)?
        }
        Compression::Lz4 => lz4_legacy(data).map_err(err)?,
    };
    if !out.starts_with(b"\x7fELF") {
        return Err(VmlinuxError::NotElf(kind.name()));
    }
    Ok((out, kind))
}

fn read_capped(r: impl Read) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(MAX_VMLINUX + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_VMLINUX {
        return Err(io::Error::other(VmlinuxError::TooLarge));
    }
    Ok(out)
}

/// The LZ4 "legacy" format the kernel uses: magic, then blocks of
/// (u32 compressed length, data), each up to 8 MiB uncompressed.
fn lz4_legacy(data: &[u8]) -> io::Result<Vec<u8>> {
    const MAGIC: [u8; 4] = [0x02, 0x21, 0x4c, 0x18];
    const BLOCK: usize = 8 << 20;
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
    let mut rest = data
        .strip_prefix(&MAGIC)
        .ok_or_else(|| bad("no lz4 legacy magic"))?;
    let mut out = Vec::new();
    let mut block = vec![0u8; BLOCK];
    while rest.len() >= 4 {
        if rest.starts_with(&MAGIC) {
            rest = &rest[4..];
            continue;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let chunk = rest
            .get(4..4 + len)
            .ok_or_else(|| bad("truncated lz4 block"))?;
        let n =
            lz4_flex::block::decompress_into(chunk, &mut block).map_err(|e| bad(&e.to_string()))?;
        out.extend_from_slice(&block[..n]);
        if out.len() as u64 > MAX_VMLINUX {
            return Err(io::Error::other(VmlinuxError::TooLarge));
        }
        rest = &rest[4 + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A minimal bzImage around `payload`: boot header fields only.
    fn bzimage(payload: &[u8]) -> Vec<u8> {
        let setup_sects = 1u8;
        let start = (setup_sects as usize + 1) * 512;
        let mut bz = vec![0u8; start];
        bz[0x1f1] = setup_sects;
        bz[0x1fe..0x200].copy_from_slice(&[0x55, 0xaa]);
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        bz[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        bz[0x248..0x24c].copy_from_slice(&0u32.to_le_bytes());
        let len = payload.len() as u32 + 4;
        bz[0x24c..0x250].copy_from_slice(&len.to_le_bytes());
        bz.extend_from_slice(payload);
        bz.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]); // size trailer
        bz
    }

    fn elf() -> Vec<u8> {
        let mut v = b"\x7fELF".to_vec();
        v.extend((0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()));
        v
    }

    #[test]
    fn every_kernel_compression_round_trips() {
        let kernel = elf();
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&kernel).unwrap();
            e.finish().unwrap()
        };
        let xz = {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(&kernel).unwrap();
            e.finish().unwrap()
        };
        let lzma = {
            let opts = xz2::stream::LzmaOptions::new_preset(1).unwrap();
            let s = xz2::stream::Stream::new_lzma_encoder(&opts).unwrap();
            let mut e = xz2::write::XzEncoder::new_stream(Vec::new(), s);
            e.write_all(&kernel).unwrap();
            e.finish().unwrap()
        };
        let bz2 = {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(&kernel).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::encode_all(&kernel[..], 1).unwrap();
        let lz4 = {
            // Legacy framing, two blocks, as the kernel's lz4 -l writes it.
            let mut v = vec![0x02, 0x21, 0x4c, 0x18];
            for part in kernel.chunks(kernel.len() / 2 + 1) {
                let c = lz4_flex::block::compress(part);
                v.extend_from_slice(&(c.len() as u32).to_le_bytes());
                v.extend_from_slice(&c);
            }
            v
        };
        for (data, kind) in [
            (gz, Compression::Gzip),
            (xz, Compression::Xz),
            (lzma, Compression::Lzma),
            (bz2, Compression::Bzip2),
            (zst, Compression::Zstd),
            (lz4, Compression::Lz4),
        ] {
            let (out, found) = extract(&bzimage(&data)).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_eq!(found, kind);
            assert!(out == kernel, "{kind:?} output differs");
        }
    }

    #[test]
    fn garbage_is_named() {
        assert!(matches!(extract(b"hello"), Err(VmlinuxError::NotBzImage)));
        let e = extract(&bzimage(b"plain text payload")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unknown payload compression (first bytes 70 6c"),
            "{e}"
        );
        let gz_not_elf = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b"not a kernel").unwrap();
            e.finish().unwrap()
        };
        assert!(matches!(
            extract(&bzimage(&gz_not_elf)),
            Err(VmlinuxError::NotElf("gzip"))
        ));
    }
}
