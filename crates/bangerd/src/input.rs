//! Host paths that users hand the daemon (image files, kernel files, Debian
//! packages): absolute, present and of the expected kind, checked before
//! anything is recorded. Image registration and kernel import share this,
//! so both name problems the same way.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{what} path `{path}` is not absolute")]
    NotAbsolute { what: &'static str, path: String },
    #[error("{what} {}", path.display())]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what} {} is not a {}", path.display(), if *.expected == Kind::File { "regular file" } else { "directory" })]
    WrongKind {
        what: &'static str,
        path: PathBuf,
        expected: Kind,
    },
}

impl InputError {
    /// For read errors met while checking a file's contents.
    pub fn unreadable(what: &'static str, path: &Path, source: io::Error) -> InputError {
        InputError::Unreadable {
            what,
            path: path.to_owned(),
            source,
        }
    }
}

/// `path` as given by a user: absolute, existing, a `kind`.
pub fn host_path(path: &str, what: &'static str, kind: Kind) -> Result<PathBuf, InputError> {
    let p = PathBuf::from(path);
    if !p.is_absolute() {
        return Err(InputError::NotAbsolute {
            what,
            path: path.to_owned(),
        });
    }
    let meta = std::fs::metadata(&p).map_err(|source| InputError::unreadable(what, &p, source))?;
    let fits = match kind {
        Kind::File => meta.is_file(),
        Kind::Dir => meta.is_dir(),
    };
    if !fits {
        return Err(InputError::WrongKind {
            what,
            path: p,
            expected: kind,
        });
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_missing_and_wrong_kind_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = host_path("rel/x", "rootfs", Kind::File).unwrap_err();
        assert_eq!(e.to_string(), "rootfs path `rel/x` is not absolute");
        let missing = dir.path().join("nope");
        let e = host_path(missing.to_str().unwrap(), "kernel", Kind::File).unwrap_err();
        assert_eq!(e.to_string(), format!("kernel {}", missing.display()));
        assert!(
            std::error::Error::source(&e).is_some(),
            "the OS error is the cause"
        );
        let e = host_path(dir.path().to_str().unwrap(), "initrd", Kind::File).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("initrd {} is not a regular file", dir.path().display())
        );
        assert!(host_path(dir.path().to_str().unwrap(), "modules", Kind::Dir).is_ok());
    }
}
