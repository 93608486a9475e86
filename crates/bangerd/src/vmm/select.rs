//! Which backend runs guests: the rule behind `vmm = "auto"`, shared by VM
//! creation and `banger doctor` so they never disagree.

use super::firecracker::Firecracker;
use super::qemu::{Accel, Qemu};
use super::{KvmState, Vmm};
use crate::host::Host;
use banger_config::{Config, VmmChoice};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Firecracker,
    /// QEMU with hardware acceleration.
    QemuKvm,
    /// QEMU's software emulator: slow, but runs anywhere.
    QemuTcg,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Firecracker => "firecracker",
            Backend::QemuKvm => "qemu (kvm)",
            Backend::QemuTcg => "qemu (tcg)",
        }
    }
}

/// What the host offers, as found by the caller.
#[derive(Debug, Clone)]
pub struct HostVmms {
    pub firecracker: Option<PathBuf>,
    pub qemu: Option<PathBuf>,
    pub vhost_vsock: Option<PathBuf>,
    pub kvm: KvmState,
}

impl HostVmms {
    /// What `host` offers, with the config's paths for the programs.
    pub fn probe(host: &Host, config: &Config) -> HostVmms {
        HostVmms {
            firecracker: host.find(config.firecracker_bin.as_deref(), "firecracker"),
            qemu: host.find(config.qemu_bin.as_deref(), "qemu-system-x86_64"),
            vhost_vsock: host.find(config.vhost_vsock_bin.as_deref(), "vhost-device-vsock"),
            kvm: super::kvm::probe(&host.dev_root, &host.sys_root),
        }
    }
}

/// The VMM this daemon boots guests with, chosen once at start.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub vmm: Arc<dyn Vmm>,
    pub reason: String,
    /// The choice stands against the probe's advice (logged at each boot).
    pub doubtful: bool,
}

/// What the daemon carries: the chosen VMM, or why there is none (every VM
/// boot then fails with that reason; everything else keeps working).
pub type VmmSlot = Result<Chosen, NoVmm>;

/// Selects by the rule below and builds the backend it names.
pub fn choose(config: &Config, host: &Host) -> VmmSlot {
    let vmms = HostVmms::probe(host, config);
    let sel = select(config.vmm, &vmms)?;
    let vmm: Arc<dyn Vmm> = match sel.backend {
        Backend::Firecracker => Arc::new(Firecracker {
            binary: vmms.firecracker.expect("selected"),
        }),
        b => Arc::new(Qemu {
            qemu: vmms.qemu.expect("selected"),
            vhost: vmms.vhost_vsock.expect("selected"),
            accel: if b == Backend::QemuKvm {
                Accel::Kvm
            } else {
                Accel::Tcg
            },
        }),
    };
    Ok(Chosen {
        vmm,
        reason: sel.reason,
        doubtful: sel.doubtful,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub backend: Backend,
    pub reason: String,
    /// The choice stands against the probe's advice (log it at each boot).
    pub doubtful: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no usable VMM for vmm = \"{}\": {why}", choice.as_str())]
pub struct NoVmm {
    pub choice: VmmChoice,
    pub why: String,
}

pub fn select(choice: VmmChoice, host: &HostVmms) -> Result<Selection, NoVmm> {
    let kvm_ok = host.kvm.can_run_guests();
    let qemu_ready = host.qemu.is_some() && host.vhost_vsock.is_some();
    let fail = |why: String| NoVmm { choice, why };
    let qemu = |reason: String| Selection {
        doubtful: false,
        backend: if kvm_ok {
            Backend::QemuKvm
        } else {
            Backend::QemuTcg
        },
        reason,
    };
    let qemu_missing = || match (&host.qemu, &host.vhost_vsock) {
        (None, None) => "qemu-system-x86_64 and vhost-device-vsock are missing",
        (None, _) => "qemu-system-x86_64 is missing",
        _ => "vhost-device-vsock is missing",
    };
    let kvm_why = || match &host.kvm {
        KvmState::Missing => "/dev/kvm does not exist".to_owned(),
        KvmState::NoAccess(w) | KvmState::Broken(w) | KvmState::CannotRunGuests(w) => w.clone(),
        KvmState::Usable(_) => "KVM is usable".to_owned(),
    };
    match choice {
        VmmChoice::Firecracker => match (&host.firecracker, kvm_ok) {
            (Some(_), true) => Ok(Selection {
                doubtful: false,
                backend: Backend::Firecracker,
                reason: "configured (vmm = \"firecracker\")".into(),
            }),
            (None, _) => Err(fail("firecracker was not found".into())),
            // The user asked for it and /dev/kvm works, though the probe says
            // guests fail: start it and let the guest's failure be reported.
            (Some(_), false) if matches!(host.kvm, KvmState::CannotRunGuests(_)) => Ok(Selection {
                doubtful: true,
                backend: Backend::Firecracker,
                reason: format!(
                    "configured (vmm = \"firecracker\"), although {}: guests will likely fail",
                    kvm_why()
                ),
            }),
            (Some(_), false) => Err(fail(format!("Firecracker needs KVM: {}", kvm_why()))),
        },
        VmmChoice::Qemu if qemu_ready => Ok(qemu("configured (vmm = \"qemu\")".into())),
        VmmChoice::Qemu => Err(fail(qemu_missing().into())),
        VmmChoice::Auto => {
            if host.firecracker.is_some() && kvm_ok {
                Ok(Selection {
                    doubtful: false,
                    backend: Backend::Firecracker,
                    reason: "firecracker found and KVM can run guests".into(),
                })
            } else if qemu_ready {
                let why_not_fc = if host.firecracker.is_none() {
                    "firecracker not found".to_owned()
                } else {
                    format!("firecracker found but {}", kvm_why())
                };
                let accel = if kvm_ok {
                    "with KVM".to_owned()
                } else {
                    format!("with TCG software emulation (slow) because {}", kvm_why())
                };
                Ok(qemu(format!("{why_not_fc}; QEMU {accel}")))
            } else {
                Err(fail(format!(
                    "{}; install qemu-system-x86 and vhost-device-vsock, or firecracker on a host with KVM",
                    qemu_missing()
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(fc: bool, qemu: bool, vhost: bool, kvm: KvmState) -> HostVmms {
        let p = |b: bool, n: &str| b.then(|| PathBuf::from(n));
        HostVmms {
            firecracker: p(fc, "/fc"),
            qemu: p(qemu, "/qemu"),
            vhost_vsock: p(vhost, "/vhost"),
            kvm,
        }
    }
    fn usable() -> KvmState {
        KvmState::Usable("kvm_intel".into())
    }
    fn pvm() -> KvmState {
        KvmState::CannotRunGuests("nested paravirtual KVM (kvm_pvm)".into())
    }

    #[test]
    fn auto_prefers_firecracker_with_working_kvm() {
        let s = select(VmmChoice::Auto, &host(true, true, true, usable())).unwrap();
        assert_eq!(s.backend, Backend::Firecracker);
    }

    #[test]
    fn auto_falls_back_to_tcg_on_nested_kvm_and_says_why() {
        let s = select(VmmChoice::Auto, &host(true, true, true, pvm())).unwrap();
        assert_eq!(s.backend, Backend::QemuTcg);
        assert!(s.reason.contains("kvm_pvm"), "{}", s.reason);
        let s = select(VmmChoice::Auto, &host(false, true, true, usable())).unwrap();
        assert_eq!(s.backend, Backend::QemuKvm);
        assert!(s.reason.contains("firecracker not found"));
    }

    #[test]
    fn nothing_usable_names_what_to_install() {
        let e = select(VmmChoice::Auto, &host(true, true, false, pvm())).unwrap_err();
        assert!(
            e.to_string().contains("vhost-device-vsock is missing"),
            "{e}"
        );
    }

    #[test]
    fn explicit_firecracker_needs_kvm() {
        let e = select(
            VmmChoice::Firecracker,
            &host(true, true, true, KvmState::Missing),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("Firecracker needs KVM: /dev/kvm does not exist"),
            "{e}"
        );
        // A KVM that opens but cannot run ordinary guests: the user's choice
        // stands, with a warning.
        let s = select(VmmChoice::Firecracker, &host(true, true, true, pvm())).unwrap();
        assert_eq!(s.backend, Backend::Firecracker);
        assert!(s.reason.contains("guests will likely fail"), "{}", s.reason);
        assert!(s.doubtful);
        let e = select(VmmChoice::Firecracker, &host(false, true, true, usable())).unwrap_err();
        assert!(e.to_string().contains("firecracker was not found"), "{e}");
    }

    #[test]
    fn explicit_qemu() {
        assert_eq!(
            select(VmmChoice::Qemu, &host(true, true, true, KvmState::Missing))
                .unwrap()
                .backend,
            Backend::QemuTcg
        );
        assert!(select(VmmChoice::Qemu, &host(true, false, true, usable())).is_err());
    }
}
