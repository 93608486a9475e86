//! The kernel store (`kernels/<name>/`): import from a Debian package or
//! loose files, pull from a catalog, list, delete. Every entry is built in a
//! staging directory and appears by one rename; the database records it
//! after, and start-up removes directories no record owns.

pub mod archive;
pub mod catalog;
pub mod deb;
pub mod debian;
mod import;
pub mod initrd;
pub mod modules;
mod pull;
pub mod vmlinux;

pub use import::import;
pub use pull::pull;

use crate::store::{Store, StoreError};
use banger_api::kernel::{Kernel, KernelFile};
use banger_config::{KernelDir, Paths};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("invalid kernel name: {0}")]
    InvalidName(String),
    #[error("a kernel named `{0}` already exists (delete it first)")]
    Exists(String),
    #[error("no kernel named `{0}` (see `banger kernel list`)")]
    NotFound(String),
    #[error("{0}")]
    Usage(&'static str),
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error("kernel {} is neither an x86-64 ELF vmlinux nor a bzImage", path.display())]
    NotKernel { path: PathBuf },
    #[error("cannot tell the kernel release of {}: give --modules (named after the release)", path.display())]
    NoRelease { path: PathBuf },
    #[error("importing {}", path.display())]
    Deb {
        path: PathBuf,
        #[source]
        source: deb::DebError,
    },
    #[error("extracting vmlinux from the bzImage")]
    Vmlinux(#[from] vmlinux::VmlinuxError),
    #[error("indexing modules")]
    Modules(#[from] modules::ModulesError),
    #[error("generating the initrd")]
    Initrd(#[from] initrd::InitrdError),
    #[error("the guest agent {} is not statically linked, so it cannot be an initrd's /init; build it with `make build`", path.display())]
    AgentNotStatic { path: PathBuf },
    #[error(
        "the guest agent (banger-vsock-agent) was not found beside bangerd; an initrd cannot be generated"
    )]
    NoAgent,
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error("finding the kernel in Debian's archive")]
    Debian(#[from] debian::DebianError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for KernelError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::KernelExists(n) => KernelError::Exists(n),
            e => KernelError::Store(e),
        }
    }
}

impl KernelError {
    /// What kind of failure this is (the API picks the HTTP status from it).
    pub fn kind(&self) -> banger_api::ErrorKind {
        use banger_api::ErrorKind as S;
        match self {
            KernelError::NotFound(_) => S::NotFound,
            KernelError::Catalog(catalog::CatalogError::UnknownKernel { .. }) => S::NotFound,
            KernelError::Exists(_) | KernelError::Store(StoreError::KernelInUse { .. }) => {
                S::Conflict
            }
            KernelError::Io { .. }
            | KernelError::Store(_)
            | KernelError::NoAgent
            | KernelError::Catalog(_)
            | KernelError::Debian(_) => S::Internal,
            _ => S::BadRequest,
        }
    }
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> KernelError {
    let what = what.into();
    move |source| KernelError::Io { what, source }
}

fn dir_fn(paths: &Paths) -> impl Fn(&str) -> String + '_ {
    move |name| paths.kernel_dir(name).display().to_string()
}

pub fn list(paths: &Paths, store: &Store) -> Result<Vec<Kernel>, KernelError> {
    Ok(store.kernels(&dir_fn(paths))?)
}

pub fn get(paths: &Paths, store: &Store, name: &str) -> Result<Kernel, KernelError> {
    store
        .kernel(name, &dir_fn(paths))?
        .ok_or_else(|| KernelError::NotFound(name.to_owned()))
}

/// Refused while an image references the kernel (the database enforces it).
pub fn delete(paths: &Paths, store: &Store, name: &str) -> Result<(), KernelError> {
    get(paths, store, name)?;
    store.delete_kernel(name)?;
    let dir = paths.kernel_dir(name);
    if dir.exists() {
        crate::staging::remove_atomically(paths, &dir)
            .map_err(io(format!("removing {}", dir.display())))?;
    }
    Ok(())
}

fn check_new_name(paths: &Paths, store: &Store, name: &str) -> Result<(), KernelError> {
    banger_config::config::check_name(name).map_err(KernelError::InvalidName)?;
    if store.kernel(name, &dir_fn(paths))?.is_some() {
        return Err(KernelError::Exists(name.to_owned()));
    }
    Ok(())
}

/// The common end of import and pull: an ELF vmlinux beside any bzImage,
/// an initrd when the guest drivers are modules, then into the store.
#[allow(clippy::too_many_arguments)]
fn complete(
    paths: &Paths,
    store: &Store,
    staging: crate::staging::Staging,
    name: &str,
    release: &str,
    source: String,
    agent: Option<&Path>,
    progress: &mut dyn FnMut(banger_api::progress::Progress),
) -> Result<Kernel, KernelError> {
    use banger_api::progress::{Progress, Stage};
    let stage = staging.path().to_owned();
    if regular(&stage.join(KernelDir::BZIMAGE)) && !regular(&stage.join(KernelDir::VMLINUX)) {
        progress(Progress::step(Stage::Extract, "vmlinux from the bzImage"));
        let bz =
            std::fs::read(stage.join(KernelDir::BZIMAGE)).map_err(io("reading the bzImage"))?;
        let (elf, kind) = vmlinux::extract(&bz)?;
        tracing::debug!(compression = kind.name(), "extracted vmlinux");
        std::fs::write(stage.join(KernelDir::VMLINUX), elf).map_err(io("writing vmlinux"))?;
    }
    if !regular(&stage.join(KernelDir::INITRD)) {
        progress(Progress::step(Stage::Initrd, "generating"));
        if let Some(loaded) = generate_initrd(&stage, release, agent)? {
            tracing::info!(modules = %loaded.join(" "), "generated initrd");
        }
    }
    progress(Progress::step(Stage::Store, name.to_owned()));
    finalize(paths, store, staging, name, release, source)
}

/// Hashes the staged files, writes `kernel.json`, moves the directory into
/// the store and records it. On failure nothing is left in the store.
fn finalize(
    paths: &Paths,
    store: &Store,
    staging: crate::staging::Staging,
    name: &str,
    release: &str,
    source: String,
) -> Result<Kernel, KernelError> {
    let mut files = Vec::new();
    for file in KernelDir::FILES {
        let path = staging.path().join(file);
        if regular(&path) {
            let (bytes, sha256) =
                sha256_file(&path).map_err(io(format!("hashing {}", path.display())))?;
            files.push(KernelFile {
                name: file.into(),
                bytes,
                sha256: Some(sha256),
            });
        }
    }
    let modules = staging.path().join(KernelDir::MODULES);
    if std::fs::symlink_metadata(&modules).is_ok_and(|m| m.is_dir()) {
        let bytes = crate::disk::copy::size_of(&modules).map_err(io("measuring modules"))?;
        files.push(KernelFile {
            name: KernelDir::MODULES.into(),
            bytes,
            sha256: None,
        });
    }
    let kernel = Kernel {
        name: name.to_owned(),
        version: release.to_owned(),
        arch: "x86_64".into(),
        source,
        dir: paths.kernel_dir(name).display().to_string(),
        files,
        created_at: crate::clock::unix_now(),
    };
    let meta = serde_json::to_vec_pretty(&kernel).expect("kernel serializes");
    std::fs::write(staging.path().join("kernel.json"), meta).map_err(io("writing kernel.json"))?;
    let dest = paths.kernel_dir(name);
    crate::fault::point("kernel-install:staged");
    staging
        .commit(&dest)
        .map_err(io(format!("moving the kernel into {}", dest.display())))?;
    crate::fault::point("kernel-install:committed");
    if let Err(e) = store.insert_kernel(&kernel) {
        let _ = crate::staging::remove_atomically(paths, &dest);
        return Err(e.into());
    }
    Ok(kernel)
}

/// A regular file itself, not a link to one: what came out of an archive
/// is never followed (a link to /dev/zero would be hashed forever).
fn regular(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

pub fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut f, &mut hasher)?;
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// Generates `staging/initrd.img` when the kernel's guest drivers are
/// modules. Needs the static guest agent, which becomes `/init`.
fn generate_initrd(
    staging: &Path,
    release: &str,
    agent: Option<&Path>,
) -> Result<Option<Vec<String>>, KernelError> {
    let modules = staging.join(KernelDir::MODULES);
    if !std::fs::symlink_metadata(&modules).is_ok_and(|m| m.is_dir()) {
        return Ok(None);
    }
    let index = modules::ModuleIndex::load(&modules)?;
    if index.load_order(modules::GUEST_DRIVERS)?.is_empty() {
        return Ok(None);
    }
    let agent = agent.ok_or(KernelError::NoAgent)?;
    if !crate::disk::format::is_static_elf(agent)
        .map_err(io(format!("reading {}", agent.display())))?
    {
        return Err(KernelError::AgentNotStatic {
            path: agent.to_owned(),
        });
    }
    Ok(initrd::build(
        &modules,
        release,
        agent,
        &staging.join(KernelDir::INITRD),
    )?)
}

/// Removes `kernels/<name>` directories no record owns.
pub fn clean_orphans(paths: &Paths, store: &Store) -> Result<usize, KernelError> {
    let known: Vec<String> = list(paths, store)?.into_iter().map(|k| k.name).collect();
    let dir = paths.kernels_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !known.contains(&name) {
            tracing::warn!(dir = %entry.path().display(), "removing kernel directory no record owns (interrupted import or pull)");
            crate::staging::remove_atomically(paths, &entry.path())
                .map_err(io(format!("removing {}", entry.path().display())))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests;
