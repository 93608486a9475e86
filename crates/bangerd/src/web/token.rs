//! The web UI's secret: the first segment of every URL it answers, so a
//! local user who is not the daemon's cannot read it (the listener is on
//! localhost, which every local user reaches). Made once, 0600, and kept
//! across restarts so an open page reconnects to the next daemon.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const HEX_LEN: usize = 32;

/// The token at `path`, made when missing or not one of ours.
pub fn ensure(path: &Path) -> std::io::Result<String> {
    let mut existing = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        Read::by_ref(&mut f)
            .take(256)
            .read_to_string(&mut existing)?;
        let t = existing.trim();
        if valid(t) {
            return Ok(t.to_owned());
        }
    }
    let token = crate::staging::random_hex(HEX_LEN / 2);
    // Written beside and renamed: a crash never leaves half a token.
    let tmp = path.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(token)
}

fn valid(t: &str) -> bool {
    t.len() == HEX_LEN && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Equal in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web-token");
        let t = ensure(&path).unwrap();
        assert!(valid(&t));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(ensure(&path).unwrap(), t);
        std::fs::write(&path, "not a token").unwrap();
        let fresh = ensure(&path).unwrap();
        assert!(valid(&fresh) && fresh != t);
    }

    #[test]
    fn comparison() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
