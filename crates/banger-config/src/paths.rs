//! The one module that names every on-disk path banger uses.
//! `docs/on-disk-layout.md` describes the same tree for humans; keep them together.
//!
//! Roots come from an [`Env`] value rather than the process environment, so
//! tests point everything at a temporary directory.

use crate::dirs::{ImageDir, KernelDir, VmDir};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The environment variables that decide where banger keeps things.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub xdg_data_home: Option<PathBuf>,
    pub xdg_state_home: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `BANGER_CONFIG`: an explicit config file, mostly for tests and scripts.
    pub banger_config: Option<PathBuf>,
    /// `DOCKER_CONFIG`: where registry credentials live (docker's own variable).
    pub docker_config: Option<PathBuf>,
    pub tmp_dir: PathBuf,
    pub uid: u32,
}

impl Env {
    pub fn from_process() -> Self {
        fn var(name: &str) -> Option<PathBuf> {
            // XDG says empty or relative values must be ignored.
            std::env::var_os(name)
                .filter(|v: &OsString| !v.is_empty())
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        }
        Env {
            home: var("HOME"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            xdg_data_home: var("XDG_DATA_HOME"),
            xdg_state_home: var("XDG_STATE_HOME"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            banger_config: std::env::var_os("BANGER_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            docker_config: var("DOCKER_CONFIG"),
            tmp_dir: std::env::temp_dir(),
            uid: rustix::process::getuid().as_raw(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error("HOME is not set (or not absolute) and {0} is not set either")]
    NoHome(&'static str),
    #[error("creating {}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is not a private directory of uid {uid} (owner {owner}, mode {mode:o}); remove it or set XDG_RUNTIME_DIR",
        path.display()
    )]
    NotPrivate {
        path: PathBuf,
        uid: u32,
        owner: u32,
        mode: u32,
    },
}

/// Every root directory banger uses, resolved once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The config file, whether or not it exists.
    pub config_file: PathBuf,
    /// `~/.config/banger`: config and the default SSH key.
    pub config_dir: PathBuf,
    /// `~/.local/share/banger`: the database and every artifact.
    pub data_dir: PathBuf,
    /// `~/.local/state/banger`: logs.
    pub state_dir: PathBuf,
    /// `$XDG_RUNTIME_DIR/banger`: socket and lock; gone after a reboot, as they should be.
    pub runtime_dir: PathBuf,
    /// Registry credentials for `image pull` (`auths` of docker's
    /// `config.json`): `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`. Read, never written.
    pub docker_config: Option<PathBuf>,
    /// The user's home: where the coding agents keep their credentials
    /// (`AGENT_AUTH_FILES`).
    pub home: Option<PathBuf>,
}

/// The coding agents' credential files, relative to a home directory: the
/// host user's, copied to the same place under the guest's /root on every
/// VM start (opencode, Claude Code, pi). Sessions and history beside them
/// are not.
pub const AGENT_AUTH_FILES: [&str; 3] = [
    ".local/share/opencode/auth.json",
    ".claude/.credentials.json",
    ".pi/agent/auth.json",
];

impl Paths {
    pub fn resolve(env: &Env) -> Result<Self, PathsError> {
        let home = env.home.as_deref();
        let xdg = |explicit: &Option<PathBuf>, fallback: &str, var: &'static str| match (
            explicit, home,
        ) {
            (Some(dir), _) => Ok(dir.join("banger")),
            (None, Some(home)) => Ok(home.join(fallback).join("banger")),
            (None, None) => Err(PathsError::NoHome(var)),
        };
        let config_dir = xdg(&env.xdg_config_home, ".config", "XDG_CONFIG_HOME")?;
        let config_file = env
            .banger_config
            .clone()
            .unwrap_or_else(|| config_dir.join("config.toml"));
        let runtime_dir = match &env.xdg_runtime_dir {
            Some(dir) => dir.join("banger"),
            // Per-uid name; ensure_runtime_dir() refuses one that someone else owns.
            None => env.tmp_dir.join(format!("banger-{}", env.uid)),
        };
        Ok(Paths {
            config_file,
            config_dir,
            data_dir: xdg(&env.xdg_data_home, ".local/share", "XDG_DATA_HOME")?,
            state_dir: xdg(&env.xdg_state_home, ".local/state", "XDG_STATE_HOME")?,
            runtime_dir,
            docker_config: env
                .docker_config
                .as_deref()
                .or(home.map(|h| h.join(".docker")).as_deref())
                .map(|d| d.join("config.json")),
            home: home.map(Path::to_path_buf),
        })
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime_dir.join("bangerd.sock")
    }

    /// Held (flock) by the running daemon; contains its pid.
    pub fn lock_file(&self) -> PathBuf {
        self.runtime_dir.join("bangerd.lock")
    }

    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("bangerd.log")
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("state.db")
    }

    /// The web UI's secret URL component (0600, made once, kept across
    /// restarts so an open page reconnects).
    pub fn web_token(&self) -> PathBuf {
        self.data_dir.join("web-token")
    }

    pub fn default_ssh_key(&self) -> PathBuf {
        self.config_dir.join("ssh").join("id_ed25519")
    }

    /// `known_hosts` that banger fills with host keys learned from guests.
    pub fn known_hosts(&self) -> PathBuf {
        self.config_dir.join("ssh").join("known_hosts")
    }

    pub fn images_dir(&self) -> PathBuf {
        self.data_dir.join("images")
    }

    /// A managed image's artifacts (see `ImageDir`).
    pub fn image_dir(&self, id: &str) -> ImageDir {
        ImageDir::at(self.images_dir().join(id))
    }

    pub fn kernels_dir(&self) -> PathBuf {
        self.data_dir.join("kernels")
    }

    /// A stored kernel (see `KernelDir`).
    pub fn kernel_dir(&self, name: &str) -> KernelDir {
        KernelDir::at(self.kernels_dir().join(name))
    }

    /// What `image build` downloads, kept for the next build (config
    /// `build_cache_dir` overrides it).
    pub fn build_cache_dir(&self) -> PathBuf {
        self.data_dir.join("build-cache")
    }

    pub fn vms_dir(&self) -> PathBuf {
        self.data_dir.join("vms")
    }

    /// A VM's files (see `VmDir`; each VMM backend adds its own).
    pub fn vm_dir(&self, id: &str) -> VmDir {
        VmDir::at(self.vms_dir().join(id))
    }

    pub fn blob_cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache").join("blobs")
    }

    /// A verified OCI blob, by digest (`sha256:<hex>` is
    /// `cache/blobs/sha256/<hex>`): shared by every pull, so a re-pull or a
    /// common base layer is not downloaded again.
    pub fn blob(&self, algorithm: &str, hex: &str) -> PathBuf {
        self.blob_cache_dir().join(algorithm).join(hex)
    }

    /// A blob being downloaded; a later pull resumes it from its length.
    /// Renamed to [`Paths::blob`] only once its digest and size check out.
    pub fn blob_partial(&self, algorithm: &str, hex: &str) -> PathBuf {
        self.blob_cache_dir()
            .join(algorithm)
            .join(format!("{hex}.partial"))
    }

    /// Work in progress (promotes, pulls, imports) is staged here, on the same
    /// filesystem as its destination so the final step is one rename. Whatever
    /// is left here at daemon start belongs to an interrupted operation.
    pub fn staging_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }

    /// Creates the directories the daemon writes to (private where it matters).
    pub fn ensure_daemon_dirs(&self) -> Result<(), PathsError> {
        self.ensure_runtime_dir()?;
        for dir in [&self.data_dir, &self.state_dir] {
            create_dir(dir, 0o700)?;
        }
        Ok(())
    }

    /// The runtime dir holds the daemon socket: it must be ours and private.
    pub fn ensure_runtime_dir(&self) -> Result<(), PathsError> {
        create_dir(&self.runtime_dir, 0o700)?;
        let meta =
            fs::symlink_metadata(&self.runtime_dir).map_err(|source| PathsError::Create {
                path: self.runtime_dir.clone(),
                source,
            })?;
        let uid = rustix::process::getuid().as_raw();
        let mode = meta.permissions().mode() & 0o7777;
        if !meta.is_dir() || meta.uid() != uid || mode & 0o077 != 0 {
            return Err(PathsError::NotPrivate {
                path: self.runtime_dir.clone(),
                uid,
                owner: meta.uid(),
                mode,
            });
        }
        Ok(())
    }
}

/// `mkdir -p` whose last component gets `mode` when it is created.
pub fn create_dir(path: &Path, mode: u32) -> Result<(), PathsError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|source| PathsError::Create {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env {
            home: Some("/home/u".into()),
            tmp_dir: "/tmp".into(),
            uid: 1000,
            ..Env::default()
        }
    }

    #[test]
    fn defaults_follow_xdg_fallbacks() {
        let p = Paths::resolve(&env()).unwrap();
        assert_eq!(
            p.config_file,
            Path::new("/home/u/.config/banger/config.toml")
        );
        assert_eq!(p.data_dir, Path::new("/home/u/.local/share/banger"));
        assert_eq!(
            p.log_file(),
            Path::new("/home/u/.local/state/banger/bangerd.log")
        );
        assert_eq!(p.socket(), Path::new("/tmp/banger-1000/bangerd.sock"));
        assert_eq!(
            p.default_ssh_key(),
            Path::new("/home/u/.config/banger/ssh/id_ed25519")
        );
    }

    #[test]
    fn xdg_variables_and_banger_config_win() {
        let e = Env {
            xdg_config_home: Some("/c".into()),
            xdg_data_home: Some("/d".into()),
            xdg_state_home: Some("/s".into()),
            xdg_runtime_dir: Some("/run/user/1000".into()),
            banger_config: Some("/etc/b.toml".into()),
            ..env()
        };
        let p = Paths::resolve(&e).unwrap();
        assert_eq!(p.config_file, Path::new("/etc/b.toml"));
        assert_eq!(p.config_dir, Path::new("/c/banger"));
        assert_eq!(p.database(), Path::new("/d/banger/state.db"));
        assert_eq!(p.state_dir, Path::new("/s/banger"));
        assert_eq!(
            p.docker_config.as_deref(),
            Some(Path::new("/home/u/.docker/config.json"))
        );
        assert_eq!(p.socket(), Path::new("/run/user/1000/banger/bangerd.sock"));
    }

    #[test]
    fn no_home_is_an_error_naming_the_variable() {
        let e = Env {
            home: None,
            ..env()
        };
        let err = Paths::resolve(&e).unwrap_err().to_string();
        assert!(err.contains("XDG_CONFIG_HOME"), "{err}");
    }

    #[test]
    fn runtime_dir_must_be_private() {
        let tmp = tempfile::tempdir().unwrap();
        let e = Env {
            xdg_runtime_dir: Some(tmp.path().to_owned()),
            ..env()
        };
        let p = Paths::resolve(&e).unwrap();
        p.ensure_runtime_dir().unwrap();
        let mode = fs::metadata(&p.runtime_dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        fs::set_permissions(&p.runtime_dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = p.ensure_runtime_dir().unwrap_err();
        assert!(matches!(err, PathsError::NotPrivate { .. }), "{err}");
    }
}
