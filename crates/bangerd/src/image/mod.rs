//! Images: registration (unmanaged records of the user's files), promotion
//! into daemon-owned copies, deletion, and start-up cleanup.

mod delete;
pub mod oci;
mod promote;
mod register;

pub use delete::delete;
pub use promote::{Copier, promote, promote_with};
pub use register::register;

use crate::store::{Store, StoreError};
use banger_api::image::Image;
use banger_config::Paths;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid image name: {0}")]
    InvalidName(String),
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error("{what} {} is not an ext4 filesystem image (no ext2/3/4 superblock)", path.display())]
    NotExt4 { what: &'static str, path: PathBuf },
    #[error("kernel {} is neither an x86-64 ELF vmlinux nor a bzImage", path.display())]
    NotKernel { path: PathBuf },
    #[error("modules {} does not look like a lib/modules/<version> directory (no kernel/ or modules.order)", path.display())]
    NotModules { path: PathBuf },
    #[error("{0}")]
    KernelChoice(&'static str),
    #[error("rootfs {}: {}", path.display(), crate::guest_init::refusal(*init))]
    UnservedInit {
        path: PathBuf,
        init: crate::guest_init::Init,
    },
    #[error("reading rootfs {}", path.display())]
    ReadRootfs {
        path: PathBuf,
        #[source]
        source: crate::disk::debugfs::DebugfsError,
    },
    #[error("no kernel named `{0}` in the kernel store (see `banger kernel list`)")]
    UnknownKernel(String),
    #[error("no image named `{0}`")]
    NotFound(String),
    #[error("image `{0}` is already managed")]
    AlreadyManaged(String),
    #[error("copying {what} from {}", from.display())]
    Copy {
        what: &'static str,
        from: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImageError {
    /// What kind of failure this is (the API picks the HTTP status from it).
    pub fn kind(&self) -> banger_api::ErrorKind {
        use banger_api::ErrorKind as S;
        match self {
            ImageError::NotFound(_) => S::NotFound,
            ImageError::AlreadyManaged(_)
            | ImageError::Store(StoreError::ImageExists(_))
            | ImageError::Store(StoreError::ImageInUse { .. }) => S::Conflict,
            ImageError::Copy { .. } | ImageError::Io { .. } | ImageError::Store(_) => S::Internal,
            _ => S::BadRequest,
        }
    }
}

pub fn get(store: &Store, name: &str) -> Result<Image, ImageError> {
    let mut image = store
        .image(name)?
        .ok_or_else(|| ImageError::NotFound(name.to_owned()))?;
    fill_sizes(&mut image);
    Ok(image)
}

pub fn list(store: &Store) -> Result<Vec<Image>, ImageError> {
    let mut images = store.images()?;
    images.iter_mut().for_each(fill_sizes);
    Ok(images)
}

pub(crate) fn fill_sizes(image: &mut Image) {
    image.rootfs_bytes = std::fs::metadata(&image.rootfs)
        .map(|m| m.len())
        .unwrap_or(0);
}

/// Removes artifact directories that no managed image owns: what a crash
/// between the final rename and the database update leaves behind.
pub fn clean_orphans(paths: &Paths, store: &Store) -> Result<usize, ImageError> {
    let owned = store.managed_image_ids()?;
    let dir = paths.images_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(ImageError::Io {
                what: format!("reading {}", dir.display()),
                source,
            });
        }
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !owned.contains(&name) {
            tracing::warn!(dir = %entry.path().display(), "removing image directory no image owns (interrupted promote)");
            crate::staging::remove_atomically(paths, &entry.path()).map_err(|source| {
                ImageError::Io {
                    what: format!("removing {}", entry.path().display()),
                    source,
                }
            })?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
pub(crate) mod tests;
