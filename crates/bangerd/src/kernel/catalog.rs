//! The kernel catalog: a JSON document listing kernels and, for each, its
//! artifacts with URL, size and sha256 (schema in docs/kernel-catalog.md).
//! It is read from `kernel_catalog` (http(s) URL, file:// URL or path), or
//! the built-in document when unset.

use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The built-in catalog: Debian's cloud kernels, from Debian's archive.
const BUILT_IN: &str = include_str!("catalog.json");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogDoc {
    pub schema: u32,
    pub kernels: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    /// The kernel release (`uname -r`); also the modules directory name.
    pub version: String,
    pub arch: String,
    pub description: String,
    /// Files the catalog names with their sizes and digests...
    #[serde(default)]
    pub artifacts: Option<Artifacts>,
    /// ... or a package of Debian's archive, verified through its signed
    /// metadata (kernel/debian.rs).
    #[serde(default)]
    pub debian: Option<DebianPackage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebianPackage {
    /// The release's codename (`bookworm`, `trixie`); its `-security`
    /// sibling is asked first.
    pub suite: String,
    /// A kernel package or a metapackage such as `linux-image-cloud-amd64`.
    pub package: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifacts {
    /// ELF vmlinux or bzImage.
    pub kernel: Artifact,
    #[serde(default)]
    pub initrd: Option<Artifact>,
    /// A tar (optionally gzip, xz or zstd compressed) of the contents of
    /// `lib/modules/<version>/`.
    #[serde(default)]
    pub modules: Option<Artifact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// Absolute, or relative to the catalog's own location.
    pub url: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("`{0}` is not a catalog location (an http(s):// or file:// URL, or an absolute path)")]
    BadLocation(String),
    #[error("fetching {0}")]
    Fetch(String, #[source] FetchError),
    #[error("catalog {0} is not a valid catalog document")]
    Malformed(String, #[source] serde_json::Error),
    #[error("catalog {location}: kernel `{name}` must name either artifacts or a Debian package")]
    NoSource { location: String, name: String },
    #[error("catalog {location} has schema {found}; this banger reads schema 1")]
    Schema { location: String, found: u32 },
    #[error("the catalog ({location}) has no kernel `{name}`; it offers: {available}")]
    UnknownKernel {
        location: String,
        name: String,
        available: String,
    },
    #[error("{which} artifact of `{kernel}`")]
    Artifact {
        which: &'static str,
        kernel: String,
        #[source]
        source: FetchError,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP request failed")]
    Http(#[source] reqwest::Error),
    #[error("server answered {0}")]
    Status(reqwest::StatusCode),
    #[error("got {got} bytes, the catalog says {expected} (truncated or wrong file)")]
    Size { got: u64, expected: u64 },
    #[error("sha256 is {got}, the catalog says {expected}")]
    Digest { got: String, expected: String },
    #[error(transparent)]
    Io(#[from] io::Error),
}

#[derive(Debug, Clone)]
pub enum Location {
    BuiltIn,
    Url(Url),
    Path(PathBuf),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::BuiltIn => f.write_str("built-in"),
            Location::Url(u) => f.write_str(u.as_str()),
            Location::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Location {
    pub fn parse(s: Option<&str>) -> Result<Location, CatalogError> {
        let Some(s) = s.filter(|s| !s.is_empty()) else {
            return Ok(Location::BuiltIn);
        };
        if s.starts_with('/') {
            return Ok(Location::Path(s.into()));
        }
        let url = Url::parse(s).map_err(|_| CatalogError::BadLocation(s.into()))?;
        match url.scheme() {
            "http" | "https" => Ok(Location::Url(url)),
            "file" => url
                .to_file_path()
                .map(Location::Path)
                .map_err(|_| CatalogError::BadLocation(s.into())),
            _ => Err(CatalogError::BadLocation(s.into())),
        }
    }

    /// An artifact URL, resolved against this catalog's location.
    pub fn join(&self, url: &str) -> Result<Location, CatalogError> {
        if let Ok(abs) = Location::parse(Some(url))
            && !matches!(abs, Location::BuiltIn)
        {
            return Ok(abs);
        }
        match self {
            Location::Url(base) => base
                .join(url)
                .map(Location::Url)
                .map_err(|_| CatalogError::BadLocation(url.into())),
            Location::Path(p) => Ok(Location::Path(
                p.parent().unwrap_or(Path::new("/")).join(url),
            )),
            Location::BuiltIn => Err(CatalogError::BadLocation(url.into())),
        }
    }

    fn open(&self) -> Result<(Box<dyn Read>, Option<u64>), FetchError> {
        match self {
            Location::BuiltIn => Ok((Box::new(BUILT_IN.as_bytes()), Some(BUILT_IN.len() as u64))),
            Location::Path(p) => {
                let f = std::fs::File::open(p)?;
                let len = f.metadata()?.len();
                Ok((Box::new(f), Some(len)))
            }
            Location::Url(u) => {
                let resp = http().get(u.clone()).send().map_err(FetchError::Http)?;
                if !resp.status().is_success() {
                    return Err(FetchError::Status(resp.status()));
                }
                let len = resp.content_length();
                Ok((Box::new(resp), len))
            }
        }
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .user_agent(concat!("banger/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(15))
        .timeout(None)
        .build()
        .expect("static client configuration")
}

/// Catalog documents are small; anything bigger is not one.
const MAX_CATALOG: u64 = 4 << 20;

pub fn load(location: &Location) -> Result<CatalogDoc, CatalogError> {
    let name = location.to_string();
    let (reader, _) = location
        .open()
        .map_err(|e| CatalogError::Fetch(name.clone(), e))?;
    let mut text = Vec::new();
    reader
        .take(MAX_CATALOG)
        .read_to_end(&mut text)
        .map_err(|e| CatalogError::Fetch(name.clone(), e.into()))?;
    let doc: CatalogDoc =
        serde_json::from_slice(&text).map_err(|e| CatalogError::Malformed(name.clone(), e))?;
    if doc.schema != 1 {
        return Err(CatalogError::Schema {
            location: name,
            found: doc.schema,
        });
    }
    if let Some(k) = doc
        .kernels
        .iter()
        .find(|k| k.artifacts.is_some() == k.debian.is_some())
    {
        return Err(CatalogError::NoSource {
            location: name,
            name: k.name.clone(),
        });
    }
    Ok(doc)
}

pub fn find<'a>(
    doc: &'a CatalogDoc,
    location: &Location,
    name: &str,
) -> Result<&'a Entry, CatalogError> {
    doc.kernels
        .iter()
        .find(|k| k.name == name)
        .ok_or_else(|| CatalogError::UnknownKernel {
            location: location.to_string(),
            name: name.to_owned(),
            available: if doc.kernels.is_empty() {
                "nothing (set kernel_catalog, or use `banger kernel import`)".into()
            } else {
                doc.kernels
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
}

/// Downloads `artifact` to `dest`, checking size as it streams (a longer
/// body is cut off at once) and sha256 at the end.
pub fn download(
    from: &Location,
    artifact: &Artifact,
    dest: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), FetchError> {
    let (mut reader, _) = from.open()?;
    let mut out = std::fs::File::create(dest)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got += n as u64;
        if got > artifact.size {
            return Err(FetchError::Size {
                got,
                expected: artifact.size,
            });
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        progress(got, artifact.size);
    }
    if got != artifact.size {
        return Err(FetchError::Size {
            got,
            expected: artifact.size,
        });
    }
    let digest = hex::encode(hasher.finalize());
    if !digest.eq_ignore_ascii_case(&artifact.sha256) {
        return Err(FetchError::Digest {
            got: digest,
            expected: artifact.sha256.clone(),
        });
    }
    out.sync_all()?;
    Ok(())
}
