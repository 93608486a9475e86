//! banger's SSH identity: created on first need, never overwritten.
//!
//! The private key is written to a temporary file, synced, then hard-linked
//! into place: `link()` fails if the target exists, so two racing processes
//! cannot both create a key and a crash cannot leave a half-written one.

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, rand_core::OsRng};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SshKeyError {
    #[error("creating SSH key directory {}", path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: crate::PathsError,
    },
    #[error("writing SSH key {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading SSH key {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not an OpenSSH key banger can read", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: ssh_key::Error,
    },
    #[error("generating an ed25519 key")]
    Generate(#[source] ssh_key::Error),
}

#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub private_path: PathBuf,
    /// `ssh-ed25519 AAAA... banger`: what goes into a guest's authorized_keys.
    pub public_openssh: String,
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// This call created the key.
    pub created: bool,
}

pub fn public_path(private: &Path) -> PathBuf {
    let mut s = private.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Returns the key at `path`, creating an ed25519 key (and its `.pub`) when
/// there is none. The key's directory is created mode 0700, the key 0600.
pub fn ensure(path: &Path) -> Result<KeyInfo, SshKeyError> {
    let created = if path.exists() { false } else { create(path)? };
    let public = load_public(path)?;
    // A missing .pub (user deleted it, or a crash after the private key) is rebuilt.
    let pub_path = public_path(path);
    let public_openssh = public.to_openssh().map_err(SshKeyError::Generate)?;
    if !pub_path.exists() {
        write_new(&pub_path, format!("{public_openssh}\n").as_bytes(), 0o644)?;
    }
    Ok(KeyInfo {
        private_path: path.to_owned(),
        fingerprint: public.fingerprint(HashAlg::Sha256).to_string(),
        public_openssh,
        created,
    })
}

fn create(path: &Path) -> Result<bool, SshKeyError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::paths::create_dir(dir, 0o700).map_err(|source| SshKeyError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    let mut key =
        PrivateKey::random(&mut OsRng, Algorithm::Ed25519).map_err(SshKeyError::Generate)?;
    key.set_comment("banger");
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(SshKeyError::Generate)?;
    write_new(path, pem.as_bytes(), 0o600)
}

/// Writes `data` to `path` only if nothing is there; Ok(false) if something was.
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<bool, SshKeyError> {
    let err = |source| SshKeyError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    let result = (|| {
        f.write_all(data)?;
        // The umask may have narrowed the mode; make it exact.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        fs::hard_link(&tmp, path)
    })();
    let _ = fs::remove_file(&tmp);
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(err(e)),
    }
}

fn load_public(path: &Path) -> Result<PublicKey, SshKeyError> {
    let text = fs::read_to_string(path).map_err(|source| SshKeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let key = PrivateKey::from_openssh(&text).map_err(|source| SshKeyError::Parse {
        path: path.to_owned(),
        source,
    })?;
    Ok(key.public_key().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_once_with_private_modes() {
        let home = tempfile::tempdir().unwrap();
        let key = home.path().join("cfg/banger/ssh/id_ed25519");
        let first = ensure(&key).unwrap();
        assert!(first.created);
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(key.parent().unwrap()), 0o700);
        assert!(first.public_openssh.starts_with("ssh-ed25519 "));
        assert!(first.fingerprint.starts_with("SHA256:"));
        let pub_text = fs::read_to_string(public_path(&key)).unwrap();
        assert_eq!(pub_text.trim_end(), first.public_openssh);

        let before = fs::read(&key).unwrap();
        let second = ensure(&key).unwrap();
        assert!(!second.created);
        assert_eq!(second.fingerprint, first.fingerprint);
        assert_eq!(fs::read(&key).unwrap(), before, "existing key rewritten");
        // No temporary files left beside it.
        let names: Vec<_> = fs::read_dir(key.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn missing_pub_is_rebuilt_from_the_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        let info = ensure(&key).unwrap();
        fs::remove_file(public_path(&key)).unwrap();
        let again = ensure(&key).unwrap();
        assert_eq!(again.public_openssh, info.public_openssh);
        assert!(public_path(&key).exists());
    }

    #[test]
    fn garbage_key_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        fs::write(&key, "not a key").unwrap();
        let err = ensure(&key).unwrap_err();
        assert!(matches!(err, SshKeyError::Parse { .. }), "{err}");
        assert_eq!(fs::read_to_string(&key).unwrap(), "not a key");
    }
}
