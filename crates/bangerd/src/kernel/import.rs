//! `kernel import`: from a Debian kernel package or from loose files.

use super::{KernelError, check_new_name, complete, deb, io, modules};
use crate::disk::format::{KernelFormat, kernel_format, kernel_release};
use crate::input::{InputError, Kind, host_path};
use crate::staging::Staging;
use crate::store::Store;
use banger_api::kernel::{ImportKernel, Kernel};
use banger_api::progress::{Progress, Stage};
use banger_config::{KernelDir, Paths};
use std::fs;
use std::path::Path;

pub fn import(
    paths: &Paths,
    store: &Store,
    req: ImportKernel,
    agent: Option<&Path>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Kernel, KernelError> {
    check_new_name(paths, store, &req.name)?;
    let staging = Staging::new(paths, &format!("kernel-import-{}", req.name))
        .map_err(io("creating staging directory"))?;
    let stage = staging.path().to_owned();
    if req.deb.is_some() && (req.vmlinux.is_some() || req.initrd.is_some() || req.modules.is_some())
    {
        return Err(KernelError::Usage(
            "--deb brings its own kernel and modules: give it alone",
        ));
    }
    let (release, source) = match (&req.deb, &req.vmlinux) {
        (Some(deb_path), _) => {
            from_deb(&host_path(deb_path, "deb", Kind::File)?, &stage, progress)?
        }
        (None, Some(kernel)) => from_files(
            &req,
            &host_path(kernel, "vmlinux", Kind::File)?,
            &stage,
            progress,
        )?,
        (None, None) => {
            return Err(KernelError::Usage(
                "give --deb FILE, or --vmlinux FILE (with optional --initrd, --modules)",
            ));
        }
    };
    complete(
        paths, store, staging, &req.name, &release, source, agent, progress,
    )
}

pub(super) fn from_deb(
    deb_path: &Path,
    stage: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<(String, String), KernelError> {
    progress(Progress::step(
        Stage::Unpack,
        deb_path.display().to_string(),
    ));
    let unpack = stage.join("unpack");
    let found = deb::extract(deb_path, &unpack).map_err(|source| KernelError::Deb {
        path: deb_path.to_owned(),
        source,
    })?;
    fs::rename(&found.bzimage, stage.join(KernelDir::BZIMAGE)).map_err(io("moving the kernel"))?;
    if let Some(config) = &found.config {
        fs::rename(config, stage.join(KernelDir::CONFIG))
            .map_err(io("moving the kernel config"))?;
    }
    if found.modules.is_some() {
        index_modules(&unpack, &found.release, stage, progress)?;
    }
    fs::remove_dir_all(&unpack).map_err(io("cleaning the unpacked package"))?;
    let name = deb_path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((found.release, format!("deb {name}")))
}

fn from_files(
    req: &ImportKernel,
    kernel: &Path,
    stage: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<(String, String), KernelError> {
    let format = kernel_format(kernel).map_err(unreadable("vmlinux", kernel))?;
    let target = match format {
        Some(KernelFormat::Elf) => KernelDir::VMLINUX,
        Some(KernelFormat::BzImage) => KernelDir::BZIMAGE,
        None => {
            return Err(KernelError::NotKernel {
                path: kernel.to_owned(),
            });
        }
    };
    progress(Progress::step(Stage::Copy, kernel.display().to_string()));
    fs::copy(kernel, stage.join(target)).map_err(unreadable("vmlinux", kernel))?;
    let modules = req
        .modules
        .as_deref()
        .map(|m| host_path(m, "modules", Kind::Dir))
        .transpose()?;
    let release = match kernel_release(kernel).map_err(unreadable("vmlinux", kernel))? {
        Some(r) => r,
        None => modules
            .as_ref()
            .and_then(|m| m.file_name())
            .map(|f| f.to_string_lossy().into_owned())
            .ok_or_else(|| KernelError::NoRelease {
                path: kernel.to_owned(),
            })?,
    };
    if let Some(initrd) = req.initrd.as_deref() {
        let initrd = host_path(initrd, "initrd", Kind::File)?;
        fs::copy(&initrd, stage.join(KernelDir::INITRD)).map_err(unreadable("initrd", &initrd))?;
    }
    if let Some(modules) = modules {
        progress(Progress::step(Stage::Copy, modules.display().to_string()));
        let unpack = stage.join("unpack");
        let dest = unpack.join("lib/modules").join(&release);
        fs::create_dir_all(dest.parent().expect("has parent"))
            .map_err(io("creating the modules tree"))?;
        crate::disk::copy_tree(&modules, &dest).map_err(unreadable("modules", &modules))?;
        index_modules(&unpack, &release, stage, progress)?;
        fs::remove_dir_all(&unpack).map_err(io("cleaning the copied modules"))?;
    }
    Ok((release, "files".into()))
}

fn unreadable(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KernelError {
    let path = path.to_owned();
    move |source| InputError::unreadable(what, &path, source).into()
}

/// `depmod` over `root/lib/modules/<release>`, then moves it to `stage/modules`.
pub(super) fn index_modules(
    root: &Path,
    release: &str,
    stage: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), KernelError> {
    progress(Progress::step(Stage::Depmod, release.to_owned()));
    modules::depmod(root, release)?;
    fs::rename(
        root.join("lib/modules").join(release),
        stage.join(KernelDir::MODULES),
    )
    .map_err(io("moving the modules"))?;
    Ok(())
}
