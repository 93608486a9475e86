//! Reading a Debian kernel package (`linux-image-*.deb`): an `ar` archive
//! whose `data.tar.*` holds `boot/vmlinuz-<release>`, `boot/config-<release>`
//! and `lib/modules/<release>/` (or `usr/lib/modules/`).

use super::archive::{self, ArchiveError, MAX_UNPACKED};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("reading {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("not a Debian package (ar archive)")]
    NotDeb(#[source] io::Error),
    #[error("the package has no data.tar member")]
    NoData,
    #[error(
        "unsupported data member `{0}` (expected data.tar with .xz, .zst, .gz or no compression)"
    )]
    Compression(String),
    #[error("the package contains no boot/vmlinuz-*: is it a linux-image package?")]
    NoKernel,
    #[error("the package holds kernels for several releases ({0})")]
    SeveralReleases(String),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

#[derive(Debug)]
pub struct DebKernel {
    /// `uname -r`, from the vmlinuz file name.
    pub release: String,
    pub bzimage: PathBuf,
    pub config: Option<PathBuf>,
    /// `<out>/lib/modules/<release>`, when the package ships modules.
    pub modules: Option<PathBuf>,
}

/// Unpacks the kernel parts of `deb` under `out`.
pub fn extract(deb: &Path, out: &Path) -> Result<DebKernel, DebError> {
    let file = File::open(deb).map_err(|source| DebError::Open {
        path: deb.to_owned(),
        source,
    })?;
    let mut ar = ar::Archive::new(file);
    while let Some(entry) = ar.next_entry() {
        let entry = entry.map_err(DebError::NotDeb)?;
        let name = String::from_utf8_lossy(entry.header().identifier()).into_owned();
        let reader: Box<dyn Read> = match name.as_str() {
            "data.tar" => Box::new(entry),
            "data.tar.xz" => Box::new(xz2::read::XzDecoder::new(entry)),
            "data.tar.zst" => Box::new(
                zstd::stream::read::Decoder::new(entry).map_err(|e| DebError::Archive(e.into()))?,
            ),
            "data.tar.gz" => Box::new(flate2::read::GzDecoder::new(entry)),
            n if n.starts_with("data.tar") => return Err(DebError::Compression(n.to_owned())),
            _ => continue,
        };
        return unpack_kernel(reader, out);
    }
    Err(DebError::NoData)
}

fn unpack_kernel(reader: impl Read, out: &Path) -> Result<DebKernel, DebError> {
    let mut tar = tar::Archive::new(crate::tar_guard::TarGuard::new(reader));
    let mut budget = MAX_UNPACKED;
    let mut kernels = Vec::new();
    let mut configs = Vec::new();
    let mut module_releases = std::collections::BTreeSet::new();
    let mut admitted = crate::beneath::Entries::default();
    for entry in tar.entries().map_err(ArchiveError::from)? {
        let mut entry = entry.map_err(ArchiveError::from)?;
        admitted.admit(&entry).map_err(ArchiveError::Metadata)?;
        let rel = archive::safe_relative(&entry.path().map_err(ArchiveError::from)?)?;
        let parts: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        // Only what a kernel needs; docs, System.map and the rest stay out.
        let wanted = match parts.as_slice() {
            ["boot", file] if file.starts_with("vmlinuz-") => {
                kernels.push(file.trim_start_matches("vmlinuz-").to_owned());
                true
            }
            ["boot", file] if file.starts_with("config-") => {
                configs.push(file.to_string());
                true
            }
            ["lib", "modules", release, ..] | ["usr", "lib", "modules", release, ..] => {
                module_releases.insert(release.to_string());
                true
            }
            _ => false,
        };
        if wanted {
            // Normalise usr/lib/modules to lib/modules.
            let rel = rel
                .strip_prefix("usr")
                .map(Path::to_path_buf)
                .unwrap_or(rel);
            archive::unpack_entry(&mut entry, out, &rel, &mut budget)?;
        }
    }
    let release = match kernels.as_slice() {
        [] => return Err(DebError::NoKernel),
        [one] => one.clone(),
        many => return Err(DebError::SeveralReleases(many.join(", "))),
    };
    let modules = out.join("lib/modules").join(&release);
    Ok(DebKernel {
        bzimage: out.join("boot").join(format!("vmlinuz-{release}")),
        config: configs
            .iter()
            .find(|c| c.ends_with(release.as_str()))
            .map(|c| out.join("boot").join(c)),
        modules: modules.is_dir().then_some(modules),
        release,
    })
}
