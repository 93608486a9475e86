//! Applying image layers, in order, to a root directory with OCI whiteout
//! semantics, never writing outside the root.
//!
//! - `.wh.<name>` deletes `<name>` from the layers below;
//! - `.wh..wh..opq` empties its directory of what the layers below put
//!   there (entries of the same layer stay);
//! - paths are resolved inside the root: `..` and absolute names are
//!   refused, and symlinks met on the way are followed as if the root were
//!   `/` (a link to `/usr` means `<root>/usr`), so no entry lands outside;
//! - hard links must point at something already in the root;
//! - ownership is recorded for every entry (and applied when running as
//!   root), so an unprivileged build can fix it up in the ext4 later;
//! - extended attributes (pax `SCHILY.xattr.*` records, e.g. file
//!   capabilities) are set on the entry, and `mkfs.ext4 -d` carries them
//!   into the image.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const OPAQUE: &str = ".wh..wh..opq";
const WHITEOUT: &str = ".wh.";

#[derive(Debug, thiserror::Error)]
pub enum FlattenError {
    #[error("layer entry `{0}` escapes the root (absolute or `..`)")]
    Escapes(String),
    #[error("layer entry `{0}`: too many symlinks while resolving it")]
    SymlinkLoop(String),
    #[error("layer entry `{entry}`: hard link to `{target}`, which is not in the image")]
    BadHardLink { entry: String, target: String },
    #[error("the layers expand beyond {limit} bytes (a decompression bomb?)")]
    TooLarge { limit: u64 },
    #[error("layer entry `{entry}`")]
    Io {
        entry: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the layer")]
    Tar(#[source] std::io::Error),
    #[error("{0}")]
    Metadata(String),
}

/// Owner and group of every path written, relative to the root.
pub type Ownership = BTreeMap<PathBuf, (u64, u64)>;

/// A character or block device an unprivileged flattener could not make
/// (mknod needs root): the tree holds an empty placeholder, and the ext4
/// build makes the node (`debugfs mknod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    /// `c` or `b`, as debugfs writes it.
    pub kind: char,
    pub major: u32,
    pub minor: u32,
    /// Permission bits.
    pub mode: u32,
}

/// The devices still to be made, by path relative to the root.
pub type Devices = BTreeMap<PathBuf, Device>;

#[derive(Debug, Default)]
pub struct Flattener {
    pub ownership: Ownership,
    /// Bytes of file content written so far, for the size cap.
    pub bytes: u64,
    pub limit: u64,
    /// Extended attributes the staging filesystem would not take.
    pub dropped_xattrs: u64,
    /// Whether chown and mknod are possible (root); otherwise owners and
    /// devices are recorded for the ext4 build to apply.
    pub privileged: bool,
    pub devices: Devices,
}

/// `rel` (from a tar header) as clean components, or a refusal.
fn clean(rel: &Path, shown: &str) -> Result<PathBuf, FlattenError> {
    crate::beneath::clean(rel).map_err(|_| FlattenError::Escapes(shown.to_owned()))
}

/// Resolves `rel` inside `root` (the one resolver every unpacker uses:
/// `crate::beneath`), with `shown` in errors.
pub fn resolve_in_root(root: &Path, rel: &Path, shown: &str) -> Result<PathBuf, FlattenError> {
    use crate::beneath::BeneathError as B;
    crate::beneath::resolve(root, rel).map_err(|e| match e {
        B::SymlinkLoop(_) => FlattenError::SymlinkLoop(shown.to_owned()),
        B::Io { source, .. } => FlattenError::Io {
            entry: shown.to_owned(),
            source,
        },
        _ => FlattenError::Escapes(shown.to_owned()),
    })
}

fn io(entry: &str) -> impl Fn(std::io::Error) -> FlattenError + '_ {
    move |source| FlattenError::Io {
        entry: entry.to_owned(),
        source,
    }
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl Flattener {
    pub fn new(limit: u64) -> Flattener {
        Flattener {
            limit,
            privileged: rustix::process::geteuid().is_root(),
            ..Default::default()
        }
    }

    /// Applies one uncompressed layer tar to `root`.
    pub fn apply(&mut self, root: &Path, layer: impl Read) -> Result<(), FlattenError> {
        let mut archive = tar::Archive::new(crate::tar_guard::TarGuard::new(layer));
        let mut this_layer: HashSet<PathBuf> = HashSet::new();
        let mut admitted = crate::beneath::Entries::default();
        for entry in archive.entries().map_err(FlattenError::Tar)? {
            let mut entry = entry.map_err(FlattenError::Tar)?;
            admitted
                .admit(&entry)
                .map_err(|e| FlattenError::Metadata(e.to_string()))?;
            let raw = entry.path().map_err(FlattenError::Tar)?.into_owned();
            let shown = raw.display().to_string();
            let rel = clean(&raw, &shown)?;
            if rel.as_os_str().is_empty() {
                continue; // "./" itself
            }
            let name = rel.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            let parent = rel.parent().unwrap_or(Path::new("")).to_owned();
            if name == OPAQUE {
                let dir = resolve_in_root(root, &parent.join("x"), &shown)?;
                let dir = dir.parent().expect("joined").to_owned();
                if let Ok(children) = std::fs::read_dir(&dir) {
                    for child in children.flatten() {
                        let child_rel = parent.join(child.file_name());
                        if !this_layer.contains(&child_rel) {
                            remove_any(&child.path()).map_err(io(&shown))?;
                            self.forget(&child_rel);
                        }
                    }
                }
                continue;
            }
            if let Some(hidden) = name.strip_prefix(WHITEOUT) {
                let victim = parent.join(hidden);
                let path = resolve_in_root(root, &victim, &shown)?;
                remove_any(&path).map_err(io(&shown))?;
                self.forget(&victim);
                continue;
            }
            let path = resolve_in_root(root, &rel, &shown)?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io(&shown))?;
            }
            let header = entry.header().clone();
            let kind = header.entry_type();
            // Whatever this entry is now, it is no longer a device to make.
            self.devices.remove(&rel);
            let existing = std::fs::symlink_metadata(&path).ok();
            if !(kind.is_dir() && existing.as_ref().is_some_and(|m| m.is_dir())) {
                remove_any(&path).map_err(io(&shown))?;
            }
            match kind {
                tar::EntryType::Directory => {
                    std::fs::create_dir_all(&path).map_err(io(&shown))?;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    self.bytes += header.size().map_err(FlattenError::Tar)?;
                    if self.bytes > self.limit {
                        return Err(FlattenError::TooLarge { limit: self.limit });
                    }
                    let mut f = std::fs::File::create(&path).map_err(io(&shown))?;
                    std::io::copy(&mut entry, &mut f).map_err(io(&shown))?;
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name()
                        .map_err(FlattenError::Tar)?
                        .ok_or_else(|| FlattenError::Escapes(shown.clone()))?;
                    std::os::unix::fs::symlink(&target, &path).map_err(io(&shown))?;
                }
                tar::EntryType::Link => {
                    let target_raw = entry
                        .link_name()
                        .map_err(FlattenError::Tar)?
                        .ok_or_else(|| FlattenError::Escapes(shown.clone()))?
                        .into_owned();
                    let target_shown = target_raw.display().to_string();
                    let target_rel = clean(&target_raw, &target_shown)?;
                    let target = resolve_in_root(root, &target_rel, &target_shown)?;
                    if std::fs::symlink_metadata(&target).is_err() {
                        return Err(FlattenError::BadHardLink {
                            entry: shown,
                            target: target_shown,
                        });
                    }
                    std::fs::hard_link(&target, &path).map_err(io(&shown))?;
                }
                tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                    let (dev_kind, major, minor) = match kind {
                        tar::EntryType::Char => {
                            (libc::S_IFCHR, header.device_major(), header.device_minor())
                        }
                        tar::EntryType::Block => {
                            (libc::S_IFBLK, header.device_major(), header.device_minor())
                        }
                        _ => (libc::S_IFIFO, Ok(Some(0)), Ok(Some(0))),
                    };
                    let major = major.map_err(FlattenError::Tar)?.unwrap_or(0);
                    let minor = minor.map_err(FlattenError::Tar)?.unwrap_or(0);
                    if dev_kind != libc::S_IFIFO && !self.privileged {
                        std::fs::File::create(&path).map_err(io(&shown))?;
                        let device = Device {
                            kind: if dev_kind == libc::S_IFCHR { 'c' } else { 'b' },
                            major,
                            minor,
                            mode: header.mode().map_err(FlattenError::Tar)? & 0o7777,
                        };
                        self.devices.insert(rel.clone(), device);
                    } else {
                        mknod(&path, dev_kind, major, minor).map_err(io(&shown))?;
                    }
                }
                // Metadata entries (pax, GNU long names) are consumed by tar.
                _ => continue,
            }
            let uid = header.uid().map_err(FlattenError::Tar)?;
            let gid = header.gid().map_err(FlattenError::Tar)?;
            self.ownership.insert(rel.clone(), (uid, gid));
            this_layer.insert(rel.clone());
            if kind != tar::EntryType::Link {
                self.finish(&path, &header, uid, gid).map_err(io(&shown))?;
            }
            // After the chown, which would clear file capabilities.
            self.xattrs(&mut entry, &path, &shown)?;
        }
        Ok(())
    }

    /// Owner (when root), then mode (chown clears setuid/setgid), then mtime.
    fn finish(&self, path: &Path, header: &tar::Header, uid: u64, gid: u64) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        if self.privileged {
            std::os::unix::fs::lchown(path, Some(uid as u32), Some(gid as u32))?;
        }
        if header.entry_type() != tar::EntryType::Symlink {
            let mode = header.mode().map_err(std::io::Error::other)? & 0o7777;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    }

    /// Sets the entry's extended attributes. A filesystem that refuses one
    /// (no `user.*` support, or `security.*` without privilege) loses that
    /// attribute only, with a warning: the pull still yields a usable image.
    fn xattrs<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &Path,
        shown: &str,
    ) -> Result<(), FlattenError> {
        let Some(exts) = entry.pax_extensions().map_err(FlattenError::Tar)? else {
            return Ok(());
        };
        for ext in exts {
            let ext = ext.map_err(FlattenError::Tar)?;
            let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
                continue;
            };
            if let Err(e) = rustix::fs::lsetxattr(
                path,
                std::ffi::OsStr::from_bytes(name),
                ext.value_bytes(),
                rustix::fs::XattrFlags::empty(),
            ) {
                tracing::warn!(entry = shown, attribute = %String::from_utf8_lossy(name), error = %e, "extended attribute not set");
                self.dropped_xattrs += 1;
            }
        }
        Ok(())
    }

    fn forget(&mut self, rel: &Path) {
        self.ownership.retain(|p, _| !p.starts_with(rel));
        self.devices.retain(|p, _| !p.starts_with(rel));
    }
}

fn mknod(path: &Path, kind: libc::mode_t, major: u32, minor: u32) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(std::io::Error::other)?;
    // SAFETY: mknod(2) with a valid C path.
    let rc = unsafe { libc::mknod(c.as_ptr(), kind | 0o600, libc::makedev(major, minor)) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
