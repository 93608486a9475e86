//! The files inside banger's per-VM, per-image and per-kernel directories,
//! named once. Each type wraps a directory (the real one, or a staging
//! directory that becomes it by one rename) and reads as a `Path`.
//! docs/on-disk-layout.md describes the same layout.

use std::ops::Deref;
use std::path::{Path, PathBuf};

macro_rules! dir_type {
    ($name:ident) => {
        impl $name {
            /// The layout at `dir`.
            pub fn at(dir: impl Into<PathBuf>) -> $name {
                $name(dir.into())
            }

            pub fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = Path;
            fn deref(&self) -> &Path {
                &self.0
            }
        }

        impl AsRef<Path> for $name {
            fn as_ref(&self) -> &Path {
                &self.0
            }
        }
    };
}

/// A VM's directory: its disks, its serial console, its vsock socket, and
/// whatever files its VMM keeps there (each backend names its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmDir(PathBuf);
dir_type!(VmDir);

impl VmDir {
    pub const ROOTFS: &str = "rootfs.ext4";
    pub const WORK: &str = "work.ext4";
    pub const CONSOLE: &str = "console.log";
    pub const VSOCK: &str = "vm.vsock";
    pub const CREATING: &str = "creating";

    /// The VM's own copy of its image's rootfs (/dev/vda).
    pub fn rootfs(&self) -> PathBuf {
        self.0.join(Self::ROOTFS)
    }

    /// The work disk (/dev/vdb, mounted at /root in the guest).
    pub fn work(&self) -> PathBuf {
        self.0.join(Self::WORK)
    }

    /// The guest's serial console.
    pub fn console(&self) -> PathBuf {
        self.0.join(Self::CONSOLE)
    }

    /// Present while `vm create` makes the disks: a directory that still
    /// has it after a crash is half-made, and the next daemon removes it.
    pub fn creating(&self) -> PathBuf {
        self.0.join(Self::CREATING)
    }

    /// The hybrid vsock Unix socket the agent is reached through.
    pub fn vsock(&self) -> PathBuf {
        self.0.join(Self::VSOCK)
    }

    /// Where the hybrid vsock delivers the guest's connections to host
    /// port `port`: `vm.vsock_PORT` (Firecracker's convention, which
    /// vhost-device-vsock follows).
    pub fn guest_port_socket(&self, port: u32) -> PathBuf {
        self.0.join(format!("{}_{port}", Self::VSOCK))
    }
}

/// A managed image's artifacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDir(PathBuf);
dir_type!(ImageDir);

impl ImageDir {
    pub const ROOTFS: &str = "rootfs.ext4";
    pub const WORK_SEED: &str = "work-seed.ext4";
    pub const KERNEL: &str = "kernel";
    pub const INITRD: &str = "initrd.img";
    pub const MODULES: &str = "modules";

    pub fn rootfs(&self) -> PathBuf {
        self.0.join(Self::ROOTFS)
    }

    /// What a new VM's work disk starts as.
    pub fn work_seed(&self) -> PathBuf {
        self.0.join(Self::WORK_SEED)
    }
}

/// A stored kernel: the kernel (ELF `vmlinux` and/or `bzImage`), its
/// config, the generated initrd, the modules and the record of it all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelDir(PathBuf);
dir_type!(KernelDir);

impl KernelDir {
    pub const VMLINUX: &str = "vmlinux";
    pub const BZIMAGE: &str = "bzImage";
    pub const INITRD: &str = "initrd.img";
    pub const CONFIG: &str = "config";
    pub const MODULES: &str = "modules";
    /// The files hashed and listed for a kernel (modules is a directory).
    pub const FILES: [&str; 4] = [Self::VMLINUX, Self::BZIMAGE, Self::INITRD, Self::CONFIG];

    pub fn vmlinux(&self) -> PathBuf {
        self.0.join(Self::VMLINUX)
    }

    pub fn bzimage(&self) -> PathBuf {
        self.0.join(Self::BZIMAGE)
    }

    pub fn initrd(&self) -> PathBuf {
        self.0.join(Self::INITRD)
    }

    pub fn config(&self) -> PathBuf {
        self.0.join(Self::CONFIG)
    }

    pub fn modules(&self) -> PathBuf {
        self.0.join(Self::MODULES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_directory_names_its_files() {
        let vm = VmDir::at("/d/vms/abc");
        assert_eq!(vm.rootfs(), Path::new("/d/vms/abc/rootfs.ext4"));
        assert_eq!(vm.console(), Path::new("/d/vms/abc/console.log"));
        assert_eq!(vm.join("x"), Path::new("/d/vms/abc/x"), "reads as a Path");
        let k = KernelDir::at("/d/kernels/generic");
        assert_eq!(k.initrd(), Path::new("/d/kernels/generic/initrd.img"));
        assert_eq!(
            ImageDir::at("/i").work_seed(),
            Path::new("/i/work-seed.ext4")
        );
    }
}
