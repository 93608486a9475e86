//! A VM's disks: its own copy of the image's rootfs (/dev/vda) and its work
//! disk (/dev/vdb, mounted at /root), both kept until `vm delete`.

use crate::disk;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const ROOTFS: &str = "rootfs.ext4";
pub const WORK: &str = "work.ext4";

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("cloning {} for the VM", from.display())]
    Clone {
        from: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("creating a {size_mib} MiB work disk with mkfs.ext4: {detail}")]
    Mkfs { size_mib: u64, detail: String },
}

/// Clones the rootfs (reflink or sparse: time does not grow with the
/// image's size) and the work-seed, or makes a fresh work disk.
pub fn prepare(
    vm_dir: &Path,
    rootfs: &Path,
    work_seed: Option<&Path>,
    work_size_mib: u64,
) -> Result<disk::CopyMethod, DiskError> {
    let clone = |from: &Path, to: &Path| {
        disk::clone_file(from, to, &mut |_, _| {}).map_err(|source| DiskError::Clone {
            from: from.to_owned(),
            source,
        })
    };
    let method = clone(rootfs, &vm_dir.join(ROOTFS))?;
    match work_seed {
        Some(seed) => {
            clone(seed, &vm_dir.join(WORK))?;
        }
        None => {
            let out = Command::new("mkfs.ext4")
                .args([
                    "-q",
                    "-F",
                    "-L",
                    "work",
                    "-E",
                    "lazy_itable_init=1,lazy_journal_init=1",
                ])
                .arg(vm_dir.join(WORK))
                .arg(format!("{work_size_mib}M"))
                .stdout(Stdio::null())
                .output()
                .map_err(|e| DiskError::Mkfs {
                    size_mib: work_size_mib,
                    detail: e.to_string(),
                })?;
            if !out.status.success() {
                return Err(DiskError::Mkfs {
                    size_mib: work_size_mib,
                    detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                });
            }
        }
    }
    Ok(method)
}
