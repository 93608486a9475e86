//! Kernels from Debian's archive, verified as apt verifies them and from the
//! same root of trust: the suite's `InRelease` signature checked by `gpgv`
//! against the archive keyring (`debian_keyring`), the `Packages` index
//! against the sha256 and size the signed Release gives, the `.deb` against
//! the sha256 and size the index gives. Nothing is read before its check,
//! and every download is cut off past the size it was promised.
//!
//! A suite's `-security` sibling (where Debian publishes kernel updates) is
//! asked first, then the release itself.

use super::catalog::{Artifact, FetchError, Location};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the packages come from and what vouches for them.
#[derive(Debug, Clone)]
pub struct Archive {
    /// `debian_mirror`, e.g. `http://deb.debian.org/debian`.
    pub mirror: String,
    pub keyring: PathBuf,
}

/// A package found in a verified index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub suite: String,
    pub package: String,
    pub version: String,
    /// The `.deb`: absolute URL, size and sha256 from the signed index.
    pub deb: Artifact,
}

#[derive(Debug, thiserror::Error)]
pub enum DebianError {
    #[error("the Debian archive keyring {} is missing: install `debian-archive-keyring`, or set debian_keyring", .0.display())]
    NoKeyring(PathBuf),
    #[error("fetching {0}")]
    Fetch(String, #[source] FetchError),
    #[error("{url} is not signed by a key of {keyring}: {why}")]
    BadSignature {
        url: String,
        keyring: String,
        why: String,
    },
    #[error("running gpgv (install the `gpgv` package)")]
    Gpgv(#[source] std::io::Error),
    #[error("{url} is signed but describes suite `{found}`, not `{wanted}`")]
    WrongSuite {
        url: String,
        found: String,
        wanted: String,
    },
    #[error("{url} expired on {until} (Valid-Until); the mirror is stale or replays an old index")]
    Expired { url: String, until: String },
    #[error("{url} lists no sha256 of {file}")]
    NoIndex { url: String, file: String },
    #[error("decompressing {0}")]
    Decompress(String, #[source] std::io::Error),
    #[error("neither {tried} has a package `{package}`")]
    NoPackage { tried: String, package: String },
    #[error("the index entry of `{package}` is malformed: {why}")]
    BadEntry { package: String, why: String },
}

/// The most a signed Release may be; Debian's are under 200 KiB.
const MAX_RELEASE: u64 = 4 << 20;
/// The most a decompressed Packages index may be; bookworm's is 57 MiB.
const MAX_INDEX: u64 = 512 << 20;
const INDEX_FILE: &str = "main/binary-amd64/Packages.xz";

/// Finds `package` (a metapackage such as `linux-image-cloud-amd64` is
/// followed to the `linux-image-*` package it depends on) in `suite`'s
/// security sibling, else in `suite`.
pub fn find(
    archive: &Archive,
    suite: &str,
    package: &str,
    work: &Path,
    progress: &mut dyn FnMut(String),
) -> Result<Found, DebianError> {
    if !archive.keyring.is_file() {
        return Err(DebianError::NoKeyring(archive.keyring.clone()));
    }
    let mut tried = Vec::new();
    for (root, suite) in suites(&archive.mirror, suite) {
        let url = format!("{root}/dists/{suite}/InRelease");
        progress(url.clone());
        tried.push(format!("{root} {suite}"));
        let index = match index(archive, &root, &suite, work) {
            Ok(i) => i,
            // The security sibling may not exist on another mirror.
            Err(DebianError::Fetch(_, FetchError::Status(s))) if s.as_u16() == 404 => continue,
            Err(e) => return Err(e),
        };
        if let Some(found) = resolve(&index, package, &root, &suite)? {
            return Ok(found);
        }
    }
    Err(DebianError::NoPackage {
        tried: tried.join(" nor "),
        package: package.to_owned(),
    })
}

/// The suites to ask, most recent first.
fn suites(mirror: &str, suite: &str) -> Vec<(String, String)> {
    let mirror = mirror.trim_end_matches('/');
    let mut out = Vec::new();
    if let Some(root) = mirror.strip_suffix("/debian") {
        out.push((
            format!("{root}/debian-security"),
            format!("{suite}-security"),
        ));
    }
    out.push((mirror.to_owned(), suite.to_owned()));
    out
}

/// The verified, decompressed `Packages` index of `suite` under `root`.
fn index(archive: &Archive, root: &str, suite: &str, work: &Path) -> Result<String, DebianError> {
    let url = format!("{root}/dists/{suite}/InRelease");
    let signed = fetch_capped(&url, MAX_RELEASE)?;
    let release = verify(&url, &signed, &archive.keyring, work)?;
    let fields = Release::parse(&release);
    let found = fields.suite_names();
    if !found.iter().any(|n| n == suite) {
        return Err(DebianError::WrongSuite {
            url,
            found: found.join("/"),
            wanted: suite.to_owned(),
        });
    }
    if let Some(until) = fields.get("Valid-Until")
        && let Some(t) = release_date(until)
        && t < crate::clock::unix_now()
    {
        return Err(DebianError::Expired {
            url,
            until: until.to_owned(),
        });
    }
    let (sha256, size) = fields
        .sha256(INDEX_FILE)
        .ok_or_else(|| DebianError::NoIndex {
            url: url.clone(),
            file: INDEX_FILE.into(),
        })?;
    let index_url = format!("{root}/dists/{suite}/{INDEX_FILE}");
    let xz = fetch_verified(&index_url, size, &sha256)?;
    let mut text = String::new();
    xz2::read::XzDecoder::new(xz.as_slice())
        .take(MAX_INDEX)
        .read_to_string(&mut text)
        .map_err(|e| DebianError::Decompress(index_url, e))?;
    Ok(text)
}

/// The signed text of a clearsigned document, or why it is not signed by
/// a key of `keyring`. Only what gpgv vouches for is returned.
fn verify(url: &str, signed: &[u8], keyring: &Path, work: &Path) -> Result<String, DebianError> {
    let input = work.join("InRelease");
    let output = work.join("Release");
    let _ = std::fs::remove_file(&output);
    std::fs::write(&input, signed).map_err(DebianError::Gpgv)?;
    let out = Command::new("gpgv")
        .arg("--keyring")
        .arg(keyring)
        .arg("--output")
        .arg(&output)
        .arg(&input)
        .output()
        .map_err(DebianError::Gpgv)?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(DebianError::BadSignature {
            url: url.to_owned(),
            keyring: keyring.display().to_string(),
            why: banger_api::text::printable(why.trim()).into_owned(),
        });
    }
    let text = std::fs::read(&output).map_err(DebianError::Gpgv)?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .user_agent(concat!("banger/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(15))
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .expect("static client configuration")
}

fn fetch_capped(url: &str, cap: u64) -> Result<Vec<u8>, DebianError> {
    let fail = |e| DebianError::Fetch(url.to_owned(), e);
    let resp = http()
        .get(url)
        .send()
        .map_err(|e| fail(FetchError::Http(e)))?;
    if !resp.status().is_success() {
        return Err(fail(FetchError::Status(resp.status())));
    }
    let mut body = Vec::new();
    resp.take(cap + 1)
        .read_to_end(&mut body)
        .map_err(|e| fail(e.into()))?;
    if body.len() as u64 > cap {
        return Err(fail(FetchError::Size {
            got: body.len() as u64,
            expected: cap,
        }));
    }
    Ok(body)
}

/// A file the signed Release describes, checked before it is used.
fn fetch_verified(url: &str, size: u64, sha256: &str) -> Result<Vec<u8>, DebianError> {
    let body = fetch_capped(url, size)?;
    let fail = |e| DebianError::Fetch(url.to_owned(), e);
    if body.len() as u64 != size {
        return Err(fail(FetchError::Size {
            got: body.len() as u64,
            expected: size,
        }));
    }
    let got = hex::encode(Sha256::digest(&body));
    if got != sha256 {
        return Err(fail(FetchError::Digest {
            got,
            expected: sha256.to_owned(),
        }));
    }
    Ok(body)
}

/// The fields of a Release file (multi-line ones with their lines).
struct Release<'a> {
    fields: Vec<(&'a str, Vec<&'a str>)>,
}

impl<'a> Release<'a> {
    fn parse(text: &'a str) -> Release<'a> {
        let mut fields: Vec<(&str, Vec<&str>)> = Vec::new();
        for line in text.lines() {
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some((_, lines)) = fields.last_mut() {
                    lines.push(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                let v = v.trim();
                fields.push((k.trim(), if v.is_empty() { vec![] } else { vec![v] }));
            }
        }
        Release { fields }
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.first().copied())
    }

    fn suite_names(&self) -> Vec<String> {
        ["Suite", "Codename"]
            .iter()
            .filter_map(|k| self.get(k))
            .map(str::to_owned)
            .collect()
    }

    /// `file`'s sha256 and size from the `SHA256` field only (never MD5Sum).
    fn sha256(&self, file: &str) -> Option<(String, u64)> {
        let (_, lines) = self.fields.iter().find(|(k, _)| *k == "SHA256")?;
        lines.iter().find_map(|l| {
            let mut parts = l.split_whitespace();
            let (hash, size, name) = (parts.next()?, parts.next()?, parts.next()?);
            (name == file && is_sha256(hash))
                .then(|| Some((hash.to_owned(), size.parse().ok()?)))?
        })
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// `package` in a Packages index, a metapackage followed once to the
/// `linux-image-*` package it depends on; the highest version of each.
fn resolve(
    index: &str,
    package: &str,
    root: &str,
    suite: &str,
) -> Result<Option<Found>, DebianError> {
    let Some(first) = newest(index, package) else {
        return Ok(None);
    };
    // A metapackage is followed to the kernel package it names.
    let stanza = match depends_on_image(&first) {
        Some(real) => newest(index, &real).ok_or_else(|| DebianError::BadEntry {
            package: package.into(),
            why: format!("it depends on `{real}`, which the index lacks"),
        })?,
        None => first,
    };
    let name = stanza.get("Package").unwrap_or(package).to_owned();
    let bad = |why: &str| DebianError::BadEntry {
        package: name.clone(),
        why: why.to_owned(),
    };
    let filename = stanza.get("Filename").ok_or_else(|| bad("no Filename"))?;
    if !filename.starts_with("pool/")
        || filename.split('/').any(|p| p == ".." || p.is_empty())
        || !filename.ends_with(".deb")
    {
        return Err(bad("its Filename is not a .deb under pool/"));
    }
    let size: u64 = stanza
        .get("Size")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no Size"))?;
    let sha256 = stanza
        .get("SHA256")
        .filter(|s| is_sha256(s))
        .ok_or_else(|| bad("no SHA256"))?;
    Ok(Some(Found {
        suite: suite.to_owned(),
        package: name.clone(),
        version: stanza.get("Version").unwrap_or("?").to_owned(),
        deb: Artifact {
            url: format!("{root}/{filename}"),
            size,
            sha256: sha256.to_owned(),
        },
    }))
}

/// The `linux-image-*` package a metapackage depends on.
fn depends_on_image(stanza: &Stanza<'_>) -> Option<String> {
    let depends = stanza.get("Depends")?;
    depends
        .split(',')
        .map(|d| d.split(['(', '|']).next().unwrap_or("").trim())
        .find(|d| d.starts_with("linux-image-") && *d != stanza.get("Package").unwrap_or(""))
        .map(str::to_owned)
}

struct Stanza<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Stanza<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// The stanza of `package` with the highest version.
fn newest<'a>(index: &'a str, package: &str) -> Option<Stanza<'a>> {
    let mut best: Option<Stanza<'a>> = None;
    for block in index.split("\n\n") {
        let stanza = Stanza(
            block
                .lines()
                .filter(|l| !l.starts_with(' '))
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k, v.trim()))
                .collect(),
        );
        if stanza.get("Package") != Some(package) {
            continue;
        }
        let newer = match &best {
            None => true,
            Some(b) => {
                version_cmp(
                    stanza.get("Version").unwrap_or(""),
                    b.get("Version").unwrap_or(""),
                ) == std::cmp::Ordering::Greater
            }
        };
        if newer {
            best = Some(stanza);
        }
    }
    best
}

/// Debian's version order (deb-version(7)): epoch, then upstream version
/// and revision compared as dpkg does (`~` before everything, letters
/// before other characters, digit runs by value).
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.bytes().all(|b| b.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((up, rev)) => (epoch, up, rev),
            None => (epoch, rest, ""),
        }
    }
    fn order(c: Option<u8>) -> i32 {
        match c {
            None => 0,
            Some(b'~') => -1,
            Some(c) if c.is_ascii_alphabetic() => c as i32,
            Some(c) => c as i32 + 256,
        }
    }
    fn part(mut a: &[u8], mut b: &[u8]) -> std::cmp::Ordering {
        while !a.is_empty() || !b.is_empty() {
            // Non-digit prefix, character by character.
            loop {
                let (ca, cb) = (a.first().copied(), b.first().copied());
                let da = ca.is_none_or(|c| c.is_ascii_digit());
                let db = cb.is_none_or(|c| c.is_ascii_digit());
                if da && db {
                    break;
                }
                let (oa, ob) = (
                    if da { order(None) } else { order(ca) },
                    if db { order(None) } else { order(cb) },
                );
                if oa != ob {
                    return oa.cmp(&ob);
                }
                if !da {
                    a = &a[1..];
                }
                if !db {
                    b = &b[1..];
                }
            }
            let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
            let (na, nb) = (digits(a), digits(b));
            let num = |s: &[u8]| {
                let t: &[u8] = {
                    let z = s.iter().take_while(|c| **c == b'0').count();
                    &s[z..]
                };
                t.to_vec()
            };
            let (va, vb) = (num(&a[..na]), num(&b[..nb]));
            let c = va.len().cmp(&vb.len()).then_with(|| va.cmp(&vb));
            if c != std::cmp::Ordering::Equal {
                return c;
            }
            a = &a[na..];
            b = &b[nb..];
        }
        std::cmp::Ordering::Equal
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| part(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| part(ra.as_bytes(), rb.as_bytes()))
}

/// A Release date (`Sat, 29 Nov 2026 10:22:33 UTC`) as unix seconds.
fn release_date(s: &str) -> Option<u64> {
    let mut p = s.split_whitespace();
    let _weekday = p.next()?;
    let day: u64 = p.next()?.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| Some(*m) == p.clone().next())? as u64
        + 1;
    p.next();
    let year: u64 = p.next()?.parse().ok()?;
    let mut hms = p.next()?.split(':').map(|x| x.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if !matches!(p.next(), Some("UTC" | "GMT" | "+0000")) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + m * 60 + sec)
}

/// The `.deb`'s location as the catalog's downloader takes it.
pub fn deb_location(found: &Found) -> Result<Location, super::catalog::CatalogError> {
    Location::parse(Some(&found.deb.url))
}

#[cfg(test)]
mod tests;
