//! A VM's disks: its own copy of the image's rootfs (/dev/vda) and its work
//! disk (/dev/vdb, mounted at /root), both kept until `vm delete`.

use crate::disk;
use banger_config::VmDir;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    #[error("growing the work disk to {size_mib} MiB with resize2fs: {detail}")]
    Grow { size_mib: u64, detail: String },
}

/// Clones the rootfs (reflink or sparse: time does not grow with the
/// image's size) and the work-seed, or makes a fresh work disk.
pub fn prepare(
    vm_dir: &VmDir,
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
    let method = clone(rootfs, &vm_dir.rootfs())?;
    match work_seed {
        Some(seed) => {
            clone(seed, &vm_dir.work())?;
            grow(&vm_dir.work(), work_size_mib)?;
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
                .arg(vm_dir.work())
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

/// A work disk cloned from a seed (sized to the seed's content) grows to
/// the VM's disk size; a larger seed is left as it is.
fn grow(work: &Path, size_mib: u64) -> Result<(), DiskError> {
    let fail = |detail: String| DiskError::Grow { size_mib, detail };
    disk::grow_ext4(work, size_mib << 20).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_work_disk_grows_to_the_disk_size_and_keeps_its_files() {
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("tree");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join(".profile"), "seeded").unwrap();
        let seed = d.path().join("seed.ext4");
        let rootfs = d.path().join("root.ext4");
        for (img, t) in [(&seed, Some(&tree)), (&rootfs, None)] {
            let mut c = Command::new("mkfs.ext4");
            c.args(["-q", "-F"]);
            if let Some(t) = t {
                c.arg("-d").arg(t);
            }
            assert!(c.arg(img).arg("16M").status().unwrap().success());
        }
        let vm = VmDir::at(d.path().join("vm"));
        std::fs::create_dir_all(&vm).unwrap();
        prepare(&vm, &rootfs, Some(&seed), 256).unwrap();
        let work = vm.work();
        assert_eq!(std::fs::metadata(&work).unwrap().len(), 256 << 20);
        let out = Command::new("e2fsck")
            .arg("-fn")
            .arg(&work)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let dump = Command::new("dumpe2fs")
            .arg("-h")
            .arg(&work)
            .output()
            .unwrap();
        let dump = String::from_utf8_lossy(&dump.stdout);
        let blocks: u64 = dump
            .lines()
            .find_map(|l| l.strip_prefix("Block count:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            blocks * 1024 >= 250 << 20,
            "filesystem grown: {blocks} blocks"
        );
        let cat = Command::new("debugfs")
            .args(["-R", "cat /.profile"])
            .arg(&work)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&cat.stdout), "seeded");
        // Never shrunk.
        std::fs::remove_dir_all(&vm).unwrap();
        std::fs::create_dir_all(&vm).unwrap();
        prepare(&vm, &rootfs, Some(&seed), 8).unwrap();
        assert_eq!(std::fs::metadata(vm.work()).unwrap().len(), 16 << 20);
    }
}
