//! `image promote`: copy every artifact into `images/<id>/` and flip the
//! record to managed. Copies go to a staging directory, are synced, renamed
//! into place, and only then is the record changed, in one statement. A
//! failure at any step leaves the image exactly as it was; a crash leaves at
//! most a directory that the next daemon start removes.

use super::ImageError;
use crate::disk;
use crate::staging::Staging;
use crate::store::Store;
use banger_api::image::Image;
use banger_config::{ImageDir, Paths};
use std::path::Path;

/// Copies one artifact (file or directory) to a new path, reporting bytes.
pub type Copier = dyn Fn(&Path, &Path, &mut dyn FnMut(u64, u64)) -> std::io::Result<()>;

pub fn promote(
    paths: &Paths,
    store: &Store,
    name: &str,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<Image, ImageError> {
    promote_with(paths, store, name, progress, &|from, to, p| {
        if from.is_dir() {
            let bytes = disk::copy_tree(from, to)?;
            p(bytes, bytes);
            Ok(())
        } else {
            disk::clone_file(from, to, p).map(drop)
        }
    })
}

pub fn promote_with(
    paths: &Paths,
    store: &Store,
    name: &str,
    progress: &mut dyn FnMut(&str, u64, u64),
    copy: &Copier,
) -> Result<Image, ImageError> {
    let image = super::get(store, name)?;
    if image.managed {
        return Err(ImageError::AlreadyManaged(name.to_owned()));
    }
    let io = |what: String| move |source| ImageError::Io { what, source };
    let staging = Staging::new(paths, &format!("promote-{}", image.id))
        .map_err(io("creating staging directory".into()))?;
    let dest = paths.image_dir(&image.id);

    let mut managed = image.clone();
    let artifacts: [(&'static str, &str, &mut Option<String>); 4] = [
        ("work-seed", ImageDir::WORK_SEED, &mut managed.work_seed),
        ("kernel", ImageDir::KERNEL, &mut managed.kernel),
        ("initrd", ImageDir::INITRD, &mut managed.initrd),
        ("modules", ImageDir::MODULES, &mut managed.modules),
    ];
    let mut copy_one = |what: &'static str, src: &str, file: &str| -> Result<String, ImageError> {
        let from = Path::new(src);
        copy(from, &staging.path().join(file), &mut |done, total| {
            progress(what, done, total)
        })
        .map_err(|source| ImageError::Copy {
            what,
            from: from.to_owned(),
            source,
        })?;
        Ok(dest.join(file).display().to_string())
    };
    managed.rootfs = copy_one("rootfs", &image.rootfs, ImageDir::ROOTFS)?;
    for (what, file, slot) in artifacts {
        if let Some(src) = slot.take() {
            *slot = Some(copy_one(what, &src, file)?);
        }
    }

    crate::fault::point("image-promote:staged");
    // An orphan from an earlier crash may sit where we are going; it belongs
    // to no managed image (this one is unmanaged), so it can go.
    if dest.exists() {
        crate::staging::remove_atomically(paths, &dest)
            .map_err(io(format!("removing stale {}", dest.display())))?;
    }
    staging
        .commit(&dest)
        .map_err(io(format!("moving artifacts into {}", dest.display())))?;
    managed.managed = true;
    crate::fault::point("image-promote:committed");
    if let Err(e) = store.mark_image_managed(&managed) {
        // Keep the promise: the image stays as it was, with no stray copy.
        let _ = crate::staging::remove_atomically(paths, &dest);
        return Err(e.into());
    }
    Ok(managed)
}
