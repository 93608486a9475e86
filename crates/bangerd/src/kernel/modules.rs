//! Kernel modules: `depmod` writes the index (`modules.dep`, `modules.alias`,
//! ... which guests' udev also needs); this module reads `modules.dep` and
//! `modules.builtin` to find what a guest must load, in order.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The drivers a banger guest cannot boot or be reached without: the
/// virtio-mmio transport, disk, network, the vsock the agent speaks over,
/// and ext4 for the root filesystem.
pub const GUEST_DRIVERS: &[&str] = &[
    "virtio_mmio",
    "virtio_blk",
    "virtio_net",
    "vmw_vsock_virtio_transport",
    "ext4",
];

#[derive(Debug, thiserror::Error)]
pub enum ModulesError {
    #[error("running depmod (install kmod)")]
    Spawn(#[source] std::io::Error),
    #[error("depmod failed: {0}")]
    Depmod(String),
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the kernel has no {0} driver, neither built in nor as a module; banger guests need it"
    )]
    Missing(String),
}

/// Runs `depmod -b base release`; `base/lib/modules/release` must exist.
pub fn depmod(base: &Path, release: &str) -> Result<(), ModulesError> {
    let out = Command::new("depmod")
        .arg("-b")
        .arg(base)
        .arg(release)
        .output()
        .map_err(ModulesError::Spawn)?;
    if !out.status.success() {
        return Err(ModulesError::Depmod(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    Ok(())
}

/// `virtio_blk.ko.xz` -> `virtio_blk`; `-` and `_` are the same to the kernel.
pub fn module_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file.split(".ko").next().unwrap_or(&file);
    stem.replace('-', "_")
}

#[derive(Debug, Default)]
pub struct ModuleIndex {
    /// name -> (path relative to the modules dir, dependencies as depmod lists them)
    deps: HashMap<String, (PathBuf, Vec<PathBuf>)>,
    builtin: HashSet<String>,
}

impl ModuleIndex {
    pub fn load(modules_dir: &Path) -> Result<ModuleIndex, ModulesError> {
        let read = |name: &str| {
            let path = modules_dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| ModulesError::Read { path, source })
        };
        let mut index = ModuleIndex::default();
        for line in read("modules.dep")?.lines() {
            let Some((module, deps)) = line.split_once(':') else {
                continue;
            };
            let module = PathBuf::from(module.trim());
            let deps = deps.split_whitespace().map(PathBuf::from).collect();
            index.deps.insert(module_name(&module), (module, deps));
        }
        if let Ok(builtin) = read("modules.builtin") {
            index.builtin = builtin
                .lines()
                .map(|l| module_name(Path::new(l.trim())))
                .collect();
        }
        Ok(index)
    }

    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(name)
    }

    /// Module files to load, dependencies first, for the `wanted` drivers
    /// that are not built in. A driver that is neither is an error.
    pub fn load_order(&self, wanted: &[&str]) -> Result<Vec<PathBuf>, ModulesError> {
        let mut order: Vec<PathBuf> = Vec::new();
        for name in wanted {
            if self.is_builtin(name) {
                continue;
            }
            let (path, deps) = self
                .deps
                .get(*name)
                .ok_or_else(|| ModulesError::Missing(name.to_string()))?;
            // depmod lists dependencies so that the last must load first.
            for p in deps.iter().rev().chain(std::iter::once(path)) {
                if !order.contains(p) {
                    order.push(p.clone());
                }
            }
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_puts_dependencies_first_and_skips_builtins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("modules.dep"),
            "kernel/drivers/virtio/virtio.ko:\n\
             kernel/drivers/virtio/virtio_ring.ko:\n\
             kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n\
             kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n\
             kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n\
             kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko kernel/net/vmw_vsock/vsock.ko\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("modules.builtin"),
            "kernel/fs/ext4/ext4.ko\n",
        )
        .unwrap();
        let index = ModuleIndex::load(dir.path()).unwrap();
        let order: Vec<String> = index
            .load_order(GUEST_DRIVERS)
            .unwrap()
            .iter()
            .map(|p| module_name(p))
            .collect();
        assert_eq!(
            order,
            [
                "virtio_ring",
                "virtio",
                "virtio_mmio",
                "virtio_blk",
                "failover",
                "net_failover",
                "virtio_net",
                "vsock",
                "vmw_vsock_virtio_transport_common",
                "vmw_vsock_virtio_transport"
            ]
        );
        assert!(
            matches!(index.load_order(&["nvme"]), Err(ModulesError::Missing(n)) if n == "nvme")
        );
    }

    #[test]
    fn names_ignore_compression_and_dashes() {
        assert_eq!(
            module_name(Path::new("kernel/a/virtio-blk.ko.xz")),
            "virtio_blk"
        );
        assert_eq!(module_name(Path::new("ext4.ko")), "ext4");
    }
}
