//! Can this host's KVM actually run a guest?
//!
//! `/dev/kvm` opening is not enough: under a nested paravirtual KVM
//! (`kvm_pvm`) it opens and creates VMs, yet ordinary guest kernels die with
//! KVM_EXIT_INTERNAL_ERROR after a minute of crawling. Such a host is
//! reported as unable to run guests so banger picks QEMU's TCG instead.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `KVM_GET_API_VERSION` = `_IO(KVMIO, 0x00)`.
const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00;
/// The only stable KVM API version, fixed since Linux 2.6.22.
const KVM_API_VERSION: i32 = 12;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmState {
    Missing,
    NoAccess(String),
    /// Opens, but is not a working KVM device (wrong API version, not a device).
    Broken(String),
    /// A KVM that cannot run ordinary guests, and why.
    CannotRunGuests(String),
    /// Usable; the string names the implementation (`kvm_intel`, `kvm_amd`).
    Usable(String),
}

impl KvmState {
    pub fn can_run_guests(&self) -> bool {
        matches!(self, KvmState::Usable(_))
    }
}

/// Probes `<dev_root>/kvm` and `<sys_root>/module/`.
pub fn probe(dev_root: &Path, sys_root: &Path) -> KvmState {
    let dev = dev_root.join("kvm");
    let file = match OpenOptions::new().read(true).write(true).open(&dev) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return KvmState::Missing,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return KvmState::NoAccess(format!("{}: {e}", dev.display()));
        }
        Err(e) => return KvmState::Broken(format!("{}: {e}", dev.display())),
    };
    // SAFETY: KVM_GET_API_VERSION takes no argument and only returns an int;
    // on a non-KVM file the kernel answers ENOTTY without touching memory.
    let version = unsafe { libc::ioctl(file.as_raw_fd(), KVM_GET_API_VERSION, 0) };
    if version != KVM_API_VERSION {
        let why = if version < 0 {
            std::io::Error::last_os_error().to_string()
        } else {
            format!("API version {version}, expected {KVM_API_VERSION}")
        };
        return KvmState::Broken(format!(
            "{} is not a working KVM device: {why}",
            dev.display()
        ));
    }
    let module = |name: &str| sys_root.join("module").join(name).exists();
    if module("kvm_pvm") {
        return KvmState::CannotRunGuests(
            "this host is itself a VM with a nested paravirtual KVM (kvm_pvm), which cannot run ordinary guest kernels".into(),
        );
    }
    let implementation = ["kvm_intel", "kvm_amd"]
        .into_iter()
        .find(|m| module(m))
        .unwrap_or("kvm");
    KvmState::Usable(implementation.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_device() {
        let dev = tempfile::tempdir().unwrap();
        let sys = tempfile::tempdir().unwrap();
        assert_eq!(probe(dev.path(), sys.path()), KvmState::Missing);
    }

    #[test]
    fn a_regular_file_is_not_kvm() {
        let dev = tempfile::tempdir().unwrap();
        let sys = tempfile::tempdir().unwrap();
        std::fs::write(dev.path().join("kvm"), "").unwrap();
        let state = probe(dev.path(), sys.path());
        assert!(
            matches!(&state, KvmState::Broken(why) if why.contains("not a working KVM device")),
            "{state:?}"
        );
    }

    /// On a host with a real /dev/kvm, a fake sysfs decides between usable and
    /// nested-paravirtual; without one the probe must say so, not panic.
    #[test]
    fn kvm_pvm_module_means_no_guests() {
        let dev = Path::new("/dev");
        let sys = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(sys.path().join("module/kvm_intel")).unwrap();
        match probe(dev, sys.path()) {
            KvmState::Usable(name) => {
                assert_eq!(name, "kvm_intel");
                std::fs::create_dir_all(sys.path().join("module/kvm_pvm")).unwrap();
                assert!(matches!(
                    probe(dev, sys.path()),
                    KvmState::CannotRunGuests(_)
                ));
            }
            other => assert!(!other.can_run_guests()),
        }
    }
}
