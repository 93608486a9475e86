//! Recognising the artifacts users hand us, by their bytes, so a wrong file
//! is refused at registration instead of failing a boot later.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// ext2/3/4 superblock magic, at byte 1024 + 0x38.
const EXT_MAGIC: u16 = 0xEF53;

pub fn is_ext4_image(path: &Path) -> io::Result<bool> {
    let mut f = File::open(path)?;
    let mut magic = [0u8; 2];
    f.seek(SeekFrom::Start(1024 + 0x38))?;
    match f.read_exact(&mut magic) {
        Ok(()) => Ok(u16::from_le_bytes(magic) == EXT_MAGIC),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelFormat {
    /// An x86-64 ELF vmlinux (what Firecracker boots best).
    Elf,
    /// A bzImage (x86 boot protocol).
    BzImage,
}

pub fn kernel_format(path: &Path) -> io::Result<Option<KernelFormat>> {
    let mut head = [0u8; 0x210];
    let mut f = File::open(path)?;
    let n = read_up_to(&mut f, &mut head)?;
    let head = &head[..n];
    if head.len() >= 20 && head.starts_with(b"\x7fELF") {
        // e_machine at 18: 62 = x86-64.
        let machine = u16::from_le_bytes([head[18], head[19]]);
        return Ok((machine == 62).then_some(KernelFormat::Elf));
    }
    if head.len() >= 0x206 && &head[0x202..0x206] == b"HdrS" && head[0x1fe..0x200] == [0x55, 0xaa] {
        return Ok(Some(KernelFormat::BzImage));
    }
    Ok(None)
}

pub fn read_up_to(f: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// True for an ELF executable with no program interpreter (PT_INTERP), i.e.
/// one that runs where there is no libc: an initramfs, a foreign distro.
pub fn is_static_elf(path: &Path) -> io::Result<bool> {
    let data = std::fs::read(path)?;
    if data.len() < 64 || !data.starts_with(b"\x7fELF") || data[4] != 2 {
        return Ok(false);
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
    let phoff = u64::from_le_bytes(data[0x20..0x28].try_into().expect("8 bytes")) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let off = phoff + i * phentsize;
        if off + 4 > data.len() {
            return Ok(false);
        }
        const PT_INTERP: u32 = 3;
        if u32_at(off) == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The kernel release (`uname -r`) recorded in a bzImage's header or an ELF
/// vmlinux's "Linux version" banner.
pub fn kernel_release(path: &Path) -> io::Result<Option<String>> {
    let data = std::fs::read(path)?;
    let token = |s: &[u8]| {
        let end = s
            .iter()
            .position(|b| *b == b' ' || *b == 0)
            .unwrap_or(s.len());
        Some(String::from_utf8_lossy(&s[..end]).into_owned()).filter(|v| !v.is_empty())
    };
    if data.len() > 0x210 && &data[0x202..0x206] == b"HdrS" {
        let ptr = u16::from_le_bytes([data[0x20e], data[0x20f]]) as usize + 0x200;
        if let Some(s) = data.get(ptr..) {
            return Ok(token(s));
        }
    }
    // The banner reads "Linux version 6.1.0-28-cloud-amd64 (builder@host) #1 ...";
    // requiring the digit and the " (" skips other mentions of the phrase.
    let needle = b"Linux version ";
    Ok(data
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .filter_map(|(i, _)| {
            let rest = &data[i + needle.len()..];
            let release = token(rest)?;
            let ok = release.starts_with(|c: char| c.is_ascii_digit())
                && release
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
                && rest[release.len()..].starts_with(b" (");
            ok.then_some(release)
        })
        .next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_real_ext4_image() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("root.ext4");
        let ok = std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&img)
            .arg("8M")
            .status()
            .unwrap();
        assert!(ok.success());
        assert!(is_ext4_image(&img).unwrap());
        std::fs::write(dir.path().join("text"), "hello").unwrap();
        assert!(!is_ext4_image(&dir.path().join("text")).unwrap());
    }

    #[test]
    fn recognises_elf_and_bzimage() {
        let dir = tempfile::tempdir().unwrap();
        // This test binary is an x86-64 ELF.
        let exe = std::env::current_exe().unwrap();
        assert_eq!(kernel_format(&exe).unwrap(), Some(KernelFormat::Elf));
        let mut bz = vec![0u8; 0x400];
        bz[0x1fe] = 0x55;
        bz[0x1ff] = 0xaa;
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        std::fs::write(dir.path().join("bz"), &bz).unwrap();
        assert_eq!(
            kernel_format(&dir.path().join("bz")).unwrap(),
            Some(KernelFormat::BzImage)
        );
        std::fs::write(dir.path().join("txt"), "not a kernel").unwrap();
        assert_eq!(kernel_format(&dir.path().join("txt")).unwrap(), None);
    }
}
