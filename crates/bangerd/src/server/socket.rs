//! The API socket: private to the user, replaced when a dead daemon left one.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("removing stale socket {}", path.display())]
    RemoveStale {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("listening on {}", path.display())]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Binds `path`. Only call while holding the daemon lock: then any socket
/// already there belongs to a daemon that died, and is removed.
pub fn bind_private(path: &Path) -> Result<UnixListener, SocketError> {
    match fs::remove_file(path) {
        Ok(()) => {
            tracing::warn!(socket = %path.display(), "removed stale socket left by a previous daemon")
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(SocketError::RemoveStale {
                path: path.to_owned(),
                source,
            });
        }
    }
    let bind = |source| SocketError::Bind {
        path: path.to_owned(),
        source,
    };
    let listener = UnixListener::bind(path).map_err(bind)?;
    // The runtime dir is already 0700; the socket mode is belt and braces.
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(bind)?;
    Ok(listener)
}
