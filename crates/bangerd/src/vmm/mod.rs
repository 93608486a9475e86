//! Virtual machine monitors: which one runs guests on this host (chosen
//! once, `select.rs`), the Firecracker and QEMU backends behind one trait
//! (`launch.rs`), and the supervision of their processes (`process.rs`,
//! `metrics.rs`; `stall.rs` tells a stuck guest from a slow one). Each
//! backend names its own files in a VM's directory.

#[cfg(test)]
pub mod fake;
pub mod firecracker;
pub mod kvm;
pub mod launch;
pub mod metrics;
pub mod process;
pub mod qemu;
pub mod select;
pub mod stall;

pub use kvm::KvmState;
pub use launch::{Launch, Launched, Vmm, VmmError};
pub use select::{Backend, Chosen, HostVmms, NoVmm, Selection, VmmSlot, choose, select};
