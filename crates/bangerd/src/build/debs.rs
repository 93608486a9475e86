//! Debian packages for a build (`--docker`: `docker.io` and what it
//! needs), resolved and downloaded on the host by apt itself, against the
//! base image's own release and installed packages, so the build VM
//! installs them offline like the rest of its inputs.
//!
//! apt runs with a private configuration rooted in the build cache
//! (`apt/<codename>/`: its own sources list, package lists and archive
//! cache; the base's `/var/lib/dpkg/status` as the installed state), so
//! the host's apt and its packages are never touched. The lists and the
//! `.deb` files stay cached: a later build of the same release needs no
//! network (an `apt-get update` that fails keeps the cached lists).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian archive keyring apt checks the mirror's signatures with.
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

#[derive(Debug, thiserror::Error)]
pub enum DebsError {
    #[error(
        "--docker needs apt-get and the Debian archive keyring ({KEYRING}) on this host: install the `apt` and `debian-archive-keyring` packages"
    )]
    NoApt,
    #[error("{what}")]
    Base { what: String },
    #[error(
        "apt could not reach {mirror} and the build cache holds no package lists for Debian {codename} (run `banger image build --download-only --docker --from-image BASE` where the mirror is reachable):\n{tail}"
    )]
    Offline {
        mirror: String,
        codename: String,
        tail: String,
    },
    #[error("apt could not get {packages} for Debian {codename}:\n{tail}")]
    Apt {
        packages: String,
        codename: String,
        tail: String,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DebsError {
    let what = what.into();
    move |source| DebsError::Io { what, source }
}

/// The base's Debian release, read off its disk.
pub fn codename(rootfs: &Path) -> Result<String, DebsError> {
    for file in ["/usr/lib/os-release", "/etc/os-release"] {
        if let Ok(Some(text)) = crate::disk::debugfs::cat(rootfs, file)
            && let Some(c) = field(&text, "VERSION_CODENAME")
        {
            return Ok(c);
        }
    }
    Err(DebsError::Base {
        what: format!(
            "{} names no Debian release (VERSION_CODENAME in os-release)",
            rootfs.display()
        ),
    })
}

fn field(os_release: &str, key: &str) -> Option<String> {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The sources list for `codename` on `mirror` (and, for a mirror laid out
/// as deb.debian.org is, its `-security` sibling).
pub fn sources(mirror: &str, codename: &str) -> String {
    let mut s = format!(
        "deb [signed-by={KEYRING}] {mirror} {codename} main\n\
         deb [signed-by={KEYRING}] {mirror} {codename}-updates main\n"
    );
    if let Some(root) = mirror.strip_suffix("/debian") {
        s.push_str(&format!(
            "deb [signed-by={KEYRING}] {root}/debian-security {codename}-security main\n"
        ));
    }
    s
}

/// The packages `apt-get -s install` would install, as the file names apt
/// gives them in its archive cache (`name_version_arch.deb`, the epoch's
/// colon escaped).
pub fn planned_files(simulation: &str) -> Vec<String> {
    simulation
        .lines()
        .filter_map(|l| {
            // Inst NAME [OLD] (VERSION ORIGINS [ARCH])
            let rest = l.strip_prefix("Inst ")?;
            let (name, rest) = rest.split_once(' ')?;
            let open = rest.find('(')?;
            let inner = &rest[open + 1..rest.rfind(')')?];
            let version = inner.split_whitespace().next()?;
            let arch = inner.rsplit_once('[')?.1.trim_end_matches(']');
            Some(format!("{name}_{}_{arch}.deb", version.replace(':', "%3a")))
        })
        .collect()
}

/// The private apt setup for one release.
struct Apt {
    root: PathBuf,
    status: PathBuf,
}

impl Apt {
    /// Its configuration, as a file for `APT_CONFIG`: read before anything
    /// else, and pointing `Dir::Etc::Parts` at an empty directory, so none
    /// of the host's apt.conf.d applies (index compression, hooks, ...).
    fn config(&self) -> String {
        let r = |p: &str| self.root.join(p).display().to_string();
        let items = [
            ("Dir::Etc::Main", r("empty/apt.conf")),
            ("Dir::Etc::Parts", r("empty")),
            ("Dir::State", r("state")),
            ("Dir::State::status", self.status.display().to_string()),
            ("Dir::Cache", r("cache")),
            ("Dir::Etc::SourceList", r("sources.list")),
            ("Dir::Etc::SourceParts", r("empty")),
            ("Dir::Etc::Preferences", r("empty/preferences")),
            ("Dir::Etc::PreferencesParts", r("empty")),
            ("Dir::Etc::TrustedParts", r("empty")),
            ("APT::Architecture", "amd64".into()),
            ("APT::Install-Recommends", "false".into()),
            ("Acquire::Languages", "none".into()),
            // Offline, each retry of each index is another wait before the
            // cached lists are used.
            ("Acquire::Retries", "1".into()),
            // Its own directories: no lock on the host's apt, and no
            // privilege drop to `_apt`, which may not exist or own them.
            ("Debug::NoLocking", "true".into()),
            ("APT::Sandbox::User", "root".into()),
        ];
        let mut text: String = items
            .iter()
            .map(|(k, v)| format!("{k} \"{v}\";\n"))
            .collect();
        text.push_str("APT::Architectures { \"amd64\"; };\n");
        text
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("apt-get");
        cmd.env("APT_CONFIG", self.root.join("apt.conf"))
            .env("LC_ALL", "C");
        cmd
    }
}

fn tail(out: &std::process::Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}

/// Resolves `packages` for the base at `rootfs` and makes sure the build
/// cache holds every `.deb` they need; returns their paths.
pub fn fetch(
    cache_dir: &Path,
    mirror: &str,
    rootfs: &Path,
    packages: &[&str],
) -> Result<Vec<PathBuf>, DebsError> {
    let host = crate::host::Host::real(&banger_config::Config::default());
    if host.find(None, "apt-get").is_none() || !Path::new(KEYRING).is_file() {
        return Err(DebsError::NoApt);
    }
    let codename = codename(rootfs)?;
    let root = cache_dir.join("apt").join(&codename);
    for d in ["state/lists/partial", "cache/archives/partial", "empty"] {
        std::fs::create_dir_all(root.join(d))
            .map_err(io(format!("creating {}", root.join(d).display())))?;
    }
    // Daemons of other users (or test homes) may share the build cache:
    // one apt run per release at a time.
    let lock = std::fs::File::create(root.join("lock"))
        .map_err(io(format!("creating {}/lock", root.display())))?;
    lock.lock()
        .map_err(io(format!("locking {}/lock", root.display())))?;
    std::fs::write(root.join("sources.list"), sources(mirror, &codename))
        .map_err(io(format!("writing {}/sources.list", root.display())))?;
    let scratch = tempfile::tempdir().map_err(io("making a scratch directory"))?;
    let status = scratch.path().join("status");
    let installed = crate::disk::debugfs::cat(rootfs, "/var/lib/dpkg/status")
        .ok()
        .flatten()
        .ok_or_else(|| DebsError::Base {
            what: format!("{} has no /var/lib/dpkg/status", rootfs.display()),
        })?;
    std::fs::write(&status, installed).map_err(io("writing the base's dpkg status"))?;
    let apt = Apt { root, status };
    std::fs::write(apt.root.join("apt.conf"), apt.config())
        .map_err(io(format!("writing {}/apt.conf", apt.root.display())))?;

    let run = |args: &[&str]| -> Result<std::process::Output, DebsError> {
        apt.command()
            .args(args)
            .output()
            .map_err(io("running apt-get"))
    };
    let updated = run(&["-q", "update"])?;
    let has_lists = std::fs::read_dir(apt.root.join("state/lists"))
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
        })
        .unwrap_or(false);
    if !updated.status.success() || !has_lists {
        if !has_lists {
            return Err(DebsError::Offline {
                mirror: mirror.into(),
                codename,
                tail: tail(&updated),
            });
        }
        tracing::warn!(%codename, "apt-get update failed; using the cached package lists");
    }
    // `apt-get ARGS... install PACKAGES`, which must succeed.
    let install = |args: &[&str]| -> Result<std::process::Output, DebsError> {
        let mut all = args.to_vec();
        all.push("install");
        all.extend(packages);
        let out = run(&all)?;
        if !out.status.success() {
            return Err(DebsError::Apt {
                packages: packages.join(" "),
                codename: codename.clone(),
                tail: tail(&out),
            });
        }
        Ok(out)
    };
    install(&["-q", "-y", "--download-only"])?;
    let plan = install(&["-s"])?;
    let archives = apt.root.join("cache/archives");
    planned_files(&String::from_utf8_lossy(&plan.stdout))
        .into_iter()
        .map(|f| {
            let p = archives.join(&f);
            if p.is_file() {
                Ok(p)
            } else {
                Err(DebsError::Apt {
                    packages: packages.join(" "),
                    codename: codename.clone(),
                    tail: format!("{f} is not in {} after the download", archives.display()),
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulation_names_the_archive_files() {
        let sim = "NOTE: This is only a simulation!\n\
Inst runc (1.1.5+ds1-1+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])\n\
Inst netbase (6.4 Debian:12.15/oldstable [all])\n\
Inst libfoo [1:1.0-1] (1:1.2-1 Debian:12.15/oldstable [amd64])\n\
Conf runc (1.1.5+ds1-1+deb12u1 Debian:12.15/oldstable [amd64])\n";
        assert_eq!(
            planned_files(sim),
            [
                "runc_1.1.5+ds1-1+deb12u1_amd64.deb",
                "netbase_6.4_all.deb",
                "libfoo_1%3a1.2-1_amd64.deb"
            ]
        );
    }

    #[test]
    fn the_release_comes_from_os_release_and_the_mirror_gets_its_security_sibling() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\n";
        assert_eq!(field(text, "VERSION_CODENAME").as_deref(), Some("bookworm"));
        assert_eq!(field("VERSION_CODENAME=../x\n", "VERSION_CODENAME"), None);
        let s = sources("http://deb.debian.org/debian", "trixie");
        assert!(
            s.contains(" http://deb.debian.org/debian trixie main"),
            "{s}"
        );
        assert!(s.contains(" http://deb.debian.org/debian trixie-updates main"));
        assert!(s.contains(" http://deb.debian.org/debian-security trixie-security main"));
        let other = sources("https://mirror.example/deb", "bookworm");
        assert!(!other.contains("security"), "{other}");
    }
}
