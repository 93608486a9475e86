//! `kernel pull`: download a catalog kernel's artifacts, verify each, unpack
//! the modules, and store it like an import.

use super::catalog::{self, CatalogError, Location};
use super::debian;
use super::{KernelError, check_new_name, complete, io};
use crate::disk::format::{KernelFormat, kernel_format};
use crate::staging::Staging;
use crate::store::Store;
use banger_api::kernel::Kernel;
use banger_api::progress::{Progress, Stage};
use banger_config::{KernelDir, Paths};
use std::fs;
use std::io::Read;
use std::path::Path;

#[allow(clippy::too_many_arguments)]
pub fn pull(
    paths: &Paths,
    store: &Store,
    location: &Location,
    archive: &debian::Archive,
    name: &str,
    agent: Option<&Path>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Kernel, KernelError> {
    progress(Progress::step(Stage::Catalog, location.to_string()));
    let doc = catalog::load(location)?;
    let entry = catalog::find(&doc, location, name)?.clone();
    check_new_name(paths, store, name)?;
    let staging = Staging::new(paths, &format!("kernel-pull-{name}"))
        .map_err(io("creating staging directory"))?;
    let stage = staging.path().to_owned();
    let downloads = stage.join("download");
    fs::create_dir(&downloads).map_err(io("creating the download directory"))?;

    let a = match (&entry.artifacts, &entry.debian) {
        (Some(a), _) => a,
        (None, Some(pkg)) => {
            let (release, source) = from_debian(archive, pkg, name, &stage, &downloads, progress)?;
            fs::remove_dir_all(&downloads).map_err(io("cleaning downloads"))?;
            return complete(
                paths, store, staging, name, &release, source, agent, progress,
            );
        }
        (None, None) => {
            return Err(CatalogError::NoSource {
                location: location.to_string(),
                name: name.to_owned(),
            }
            .into());
        }
    };
    for (which, artifact) in [
        ("kernel", Some(&a.kernel)),
        ("initrd", a.initrd.as_ref()),
        ("modules", a.modules.as_ref()),
    ] {
        let Some(artifact) = artifact else { continue };
        let fail = |source| {
            KernelError::Catalog(CatalogError::Artifact {
                which,
                kernel: name.to_owned(),
                source,
            })
        };
        let from = location.join(&artifact.url)?;
        catalog::download(
            &from,
            artifact,
            &downloads.join(which),
            &mut |done, total| progress(Progress::bytes(Stage::Download, which, done, Some(total))),
        )
        .map_err(fail)?;
    }

    let kernel = downloads.join("kernel");
    let target = match kernel_format(&kernel).map_err(io("reading the kernel"))? {
        Some(KernelFormat::Elf) => KernelDir::VMLINUX,
        Some(KernelFormat::BzImage) => KernelDir::BZIMAGE,
        None => return Err(KernelError::NotKernel { path: kernel }),
    };
    fs::rename(&kernel, stage.join(target)).map_err(io("moving the kernel"))?;
    if downloads.join("initrd").is_file() {
        fs::rename(downloads.join("initrd"), stage.join(KernelDir::INITRD))
            .map_err(io("moving the initrd"))?;
    }
    if downloads.join("modules").is_file() {
        progress(Progress::step(Stage::Unpack, "modules"));
        let root = stage.join("unpack");
        let dest = root.join("lib/modules").join(&entry.version);
        fs::create_dir_all(&dest).map_err(io("creating the modules tree"))?;
        let file =
            fs::File::open(downloads.join("modules")).map_err(io("opening the modules archive"))?;
        super::archive::unpack_all(
            decompressed(file).map_err(io("reading the modules archive"))?,
            &dest,
        )
        .map_err(|e| KernelError::Io {
            what: "unpacking the modules archive".into(),
            source: std::io::Error::other(e),
        })?;
        super::import::index_modules(&root, &entry.version, &stage, progress)?;
        fs::remove_dir_all(&root).map_err(io("cleaning the unpacked modules"))?;
    }
    fs::remove_dir_all(&downloads).map_err(io("cleaning downloads"))?;
    complete(
        paths,
        store,
        staging,
        name,
        &entry.version,
        format!("catalog {location}"),
        agent,
        progress,
    )
}

/// A Debian package found through the archive's signed metadata,
/// downloaded against the index's size and sha256, then imported as
/// `kernel import --deb` does. The release and the source it records.
fn from_debian(
    archive: &debian::Archive,
    pkg: &catalog::DebianPackage,
    name: &str,
    stage: &Path,
    downloads: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<(String, String), KernelError> {
    let found = debian::find(archive, &pkg.suite, &pkg.package, downloads, &mut |url| {
        progress(Progress::step(Stage::Catalog, url))
    })?;
    progress(Progress::step(
        Stage::Download,
        format!("{} {} ({})", found.package, found.version, found.suite),
    ));
    let deb = downloads.join(format!("{}.deb", found.package));
    catalog::download(
        &debian::deb_location(&found)?,
        &found.deb,
        &deb,
        &mut |done, total| {
            progress(Progress::bytes(
                Stage::Download,
                "kernel package",
                done,
                Some(total),
            ))
        },
    )
    .map_err(|source| {
        KernelError::Catalog(CatalogError::Artifact {
            which: "package",
            kernel: name.to_owned(),
            source,
        })
    })?;
    let (release, _) = super::import::from_deb(&deb, stage, progress)?;
    let source = format!(
        "debian {} {} {} (sha256 {})",
        found.suite, found.package, found.version, found.deb.sha256
    );
    Ok((release, source))
}

/// A tar stream, whatever common compression wraps it.
fn decompressed(mut f: fs::File) -> std::io::Result<Box<dyn Read>> {
    use super::vmlinux::Compression;
    let mut head = [0u8; 6];
    let n = crate::disk::format::read_up_to(&mut f, &mut head)?;
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(0))?;
    Ok(match Compression::detect(&head[..n]) {
        Some(Compression::Gzip) => Box::new(flate2::read::GzDecoder::new(f)),
        Some(Compression::Xz) => Box::new(xz2::read::XzDecoder::new(f)),
        Some(Compression::Zstd) => Box::new(zstd::stream::read::Decoder::new(f)?),
        _ => Box::new(f),
    })
}
