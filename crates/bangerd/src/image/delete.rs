//! `image delete`: a managed image takes its artifact directory with it; an
//! unmanaged one only loses its record (the user's files are theirs).

use super::ImageError;
use crate::store::Store;
use banger_api::image::ImageDeleted;
use banger_config::Paths;

pub fn delete(paths: &Paths, store: &Store, name: &str) -> Result<ImageDeleted, ImageError> {
    let image = store
        .image(name)?
        .ok_or_else(|| ImageError::NotFound(name.to_owned()))?;
    // Record first: once it is gone nothing refers to the directory, and a
    // crash before the directory is removed leaves an orphan that start-up
    // cleanup removes.
    store.delete_image(&image.id)?;
    let removed_dir = if image.managed {
        let dir = paths.image_dir(&image.id);
        if dir.exists() {
            crate::staging::remove_atomically(paths, &dir).map_err(|source| ImageError::Io {
                what: format!("removing {}", dir.display()),
                source,
            })?;
        }
        Some(dir.display().to_string())
    } else {
        None
    };
    Ok(ImageDeleted {
        name: image.name,
        removed_dir,
    })
}
