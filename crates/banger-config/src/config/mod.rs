//! `config.toml`: every key the user may set, its default, its validation,
//! and where each effective value came from.
//!
//! Parsing is deliberately hand-driven (a map of spanned values, then one
//! parser per key) so an error can always name the file, the line and the key.

mod keys;
mod values;

pub use keys::KEYS;
pub use values::{LogLevel, VmmChoice, check_name};

use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {} (named by BANGER_CONFIG) does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("config file {} is not valid TOML", path.display())]
    Syntax {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{}:{line}: unknown key `{key}`{hint}", path.display())]
    UnknownKey {
        path: PathBuf,
        line: usize,
        key: String,
        hint: String,
    },
    #[error("{}:{line}: invalid value for `{key}`: {reason}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        reason: String,
    },
}

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File { path: PathBuf, line: usize },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub log_level: LogLevel,
    /// `None`: the web UI is disabled (`web_listen_addr = ""`).
    pub web_listen_addr: Option<SocketAddr>,
    /// `None`: look `firecracker` up in PATH.
    pub firecracker_bin: Option<PathBuf>,
    /// `None`: banger's own key under the config dir (see `Paths::default_ssh_key`).
    pub ssh_key_path: Option<PathBuf>,
    pub default_image_name: Option<String>,
    /// `None`: never stop idle VMs.
    pub auto_stop_stale_after: Option<Duration>,
    pub stats_poll_interval: Duration,
    pub metrics_poll_interval: Duration,
    pub bridge_name: String,
    /// The guest network; its host address is `bridge_host`.
    pub bridge_ipcidr: Ipv4Net,
    pub bridge_host: Ipv4Addr,
    pub tap_pool_size: u32,
    /// Whether guests on the bridge may reach each other (off: only the
    /// host and the outside world).
    pub allow_guest_to_guest: bool,
    /// VMs kept booted per warm-pool image, for `vm create` and `vm run`
    /// to claim (0: no pool).
    pub warm_pool_size: u32,
    /// The images kept warm; empty: the default image.
    pub warm_pool_images: Vec<String>,
    pub default_dns: Vec<Ipv4Addr>,
    pub vmm: VmmChoice,
    /// `None`: look `qemu-system-x86_64` up in PATH.
    pub qemu_bin: Option<PathBuf>,
    /// `None`: look `vhost-device-vsock` up in PATH.
    pub vhost_vsock_bin: Option<PathBuf>,
    /// Kernel catalog: http(s):// or file:// URL, or absolute path.
    /// `None`: the catalog built into banger.
    pub kernel_catalog: Option<String>,
    /// Registries `image pull` may reach over plain HTTP (loopback always may).
    pub insecure_registries: Vec<String>,
    /// The npm registry `image build` downloads from.
    pub npm_registry: String,
    /// The Debian archive `image build --docker` downloads from.
    pub debian_mirror: String,
    /// `None`: `build-cache/` in the data dir.
    pub build_cache_dir: Option<PathBuf>,
    /// Debian's archive keyring: the root of trust of kernels pulled from
    /// Debian's archive.
    pub debian_keyring: PathBuf,
    /// Keys set by the file, with their line; every other key is a default.
    pub origins: BTreeMap<&'static str, Origin>,
    /// The file that was read, if one existed.
    pub file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            log_level: LogLevel::Info,
            web_listen_addr: Some(SocketAddr::from(([127, 0, 0, 1], 7777))),
            firecracker_bin: None,
            ssh_key_path: None,
            default_image_name: None,
            auto_stop_stale_after: None,
            stats_poll_interval: Duration::from_secs(10),
            metrics_poll_interval: Duration::from_secs(30),
            bridge_name: "banger0".into(),
            bridge_ipcidr: "172.16.0.0/24".parse().expect("valid default"),
            bridge_host: Ipv4Addr::new(172, 16, 0, 1),
            tap_pool_size: 4,
            allow_guest_to_guest: false,
            warm_pool_size: 0,
            warm_pool_images: Vec::new(),
            default_dns: vec![Ipv4Addr::new(1, 1, 1, 1)],
            vmm: VmmChoice::Auto,
            qemu_bin: None,
            vhost_vsock_bin: None,
            kernel_catalog: None,
            insecure_registries: Vec::new(),
            npm_registry: "https://registry.npmjs.org".into(),
            debian_mirror: "http://deb.debian.org/debian".into(),
            build_cache_dir: None,
            debian_keyring: "/usr/share/keyrings/debian-archive-keyring.gpg".into(),
            origins: BTreeMap::new(),
            file: None,
        }
    }
}

impl Config {
    /// Reads `path`. A missing file means all defaults, unless the caller
    /// named the file explicitly (`explicit`), where a missing file is an error.
    pub fn load(path: &Path, explicit: bool, home: Option<&Path>) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path, home),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                Ok(Config::default())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::Missing {
                path: path.to_owned(),
            }),
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Parses the text of a config file; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path, home: Option<&Path>) -> Result<Config, ConfigError> {
        let table: BTreeMap<String, toml::Spanned<toml::Value>> =
            toml::from_str(text).map_err(|source| ConfigError::Syntax {
                path: path.to_owned(),
                source,
            })?;
        let mut config = Config {
            file: Some(path.to_owned()),
            ..Config::default()
        };
        // Apply in file order so the first bad line is the one reported.
        let mut entries: Vec<_> = table.into_iter().collect();
        entries.sort_by_key(|(_, v)| v.span().start);
        for (key, value) in entries {
            let line = line_of(text, value.span().start);
            let Some(spec) = KEYS.iter().find(|k| k.name == key) else {
                return Err(ConfigError::UnknownKey {
                    path: path.to_owned(),
                    line,
                    hint: keys::suggestion(&key),
                    key,
                });
            };
            (spec.apply)(&mut config, value.get_ref(), home).map_err(|reason| {
                ConfigError::Invalid {
                    path: path.to_owned(),
                    line,
                    key: key.clone(),
                    reason,
                }
            })?;
            config.origins.insert(
                spec.name,
                Origin::File {
                    path: path.to_owned(),
                    line,
                },
            );
        }
        Ok(config)
    }

    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }

    /// Every key with its effective value (as JSON) and origin, in documentation order.
    pub fn entries(&self) -> Vec<(&'static str, serde_json::Value, Origin)> {
        KEYS.iter()
            .map(|k| (k.name, (k.show)(self), self.origin(k.name)))
            .collect()
    }

    /// The SSH key banger uses: the configured one or banger's own.
    pub fn ssh_key(&self, paths: &crate::Paths) -> PathBuf {
        self.ssh_key_path
            .clone()
            .unwrap_or_else(|| paths.default_ssh_key())
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests;
