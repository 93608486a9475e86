//! `image register`: validate every artifact, then record it. Nothing is
//! recorded unless everything checks out.

use super::ImageError;
use crate::disk::format::{is_ext4_image, kernel_format};
use crate::input::{InputError, Kind, host_path};
use crate::store::Store;
use banger_api::image::{Image, RegisterImage};
use std::path::{Path, PathBuf};

pub fn register(store: &Store, req: RegisterImage, now: u64) -> Result<Image, ImageError> {
    banger_config::config::check_name(&req.name).map_err(ImageError::InvalidName)?;
    let rootfs = ext4(&req.rootfs, "rootfs")?;
    // Before anything boots: an init the agent cannot start under.
    let init = crate::guest_init::probe(&rootfs).map_err(|source| ImageError::ReadRootfs {
        path: rootfs.clone(),
        source,
    })?;
    if !init.served() {
        return Err(ImageError::UnservedInit { path: rootfs, init });
    }
    let work_seed = req
        .work_seed
        .as_deref()
        .map(|p| ext4(p, "work-seed"))
        .transpose()?;
    let (kernel, initrd, modules) = match (&req.kernel, &req.kernel_ref) {
        (Some(_), Some(_)) => {
            return Err(ImageError::KernelChoice(
                "give either --kernel (with --initrd/--modules) or --kernel-ref, not both",
            ));
        }
        (None, _) if req.initrd.is_some() || req.modules.is_some() => {
            return Err(ImageError::KernelChoice(
                "--initrd and --modules go with --kernel; a --kernel-ref kernel brings its own",
            ));
        }
        (None, None) => {
            return Err(ImageError::KernelChoice(
                "a kernel is required: --kernel PATH or --kernel-ref NAME",
            ));
        }
        (None, Some(name)) => {
            if store.kernel(name, &|n| n.to_owned())?.is_none() {
                return Err(ImageError::UnknownKernel(name.clone()));
            }
            (None, None, None)
        }
        (Some(k), None) => {
            let kernel = host_path(k, "kernel", Kind::File)?;
            let format =
                kernel_format(&kernel).map_err(|source| unreadable("kernel", &kernel, source))?;
            if format.is_none() {
                return Err(ImageError::NotKernel { path: kernel });
            }
            let initrd = req
                .initrd
                .as_deref()
                .map(|p| host_path(p, "initrd", Kind::File))
                .transpose()?;
            let modules = req.modules.as_deref().map(modules_dir).transpose()?;
            (Some(kernel), initrd, modules)
        }
    };
    let show = |p: Option<PathBuf>| p.map(|p| p.display().to_string());
    let mut image = Image {
        id: crate::staging::random_hex(8),
        name: req.name,
        managed: false,
        rootfs: rootfs.display().to_string(),
        work_seed: show(work_seed),
        kernel: show(kernel),
        initrd: show(initrd),
        modules: show(modules),
        kernel_ref: req.kernel_ref,
        source: None,
        rootfs_bytes: 0,
        created_at: now,
        build: None,
    };
    store.insert_image(&image)?;
    image.rootfs_bytes = std::fs::metadata(&image.rootfs)
        .map(|m| m.len())
        .unwrap_or(0);
    Ok(image)
}

fn unreadable(what: &'static str, path: &Path, source: std::io::Error) -> ImageError {
    InputError::unreadable(what, path, source).into()
}

fn ext4(path: &str, what: &'static str) -> Result<PathBuf, ImageError> {
    let p = host_path(path, what, Kind::File)?;
    if !is_ext4_image(&p).map_err(|source| unreadable(what, &p, source))? {
        return Err(ImageError::NotExt4 { what, path: p });
    }
    Ok(p)
}

fn modules_dir(path: &str) -> Result<PathBuf, ImageError> {
    let p = host_path(path, "modules", Kind::Dir)?;
    if !(p.join("kernel").is_dir() || p.join("modules.order").is_file()) {
        return Err(ImageError::NotModules { path: p });
    }
    Ok(p)
}
