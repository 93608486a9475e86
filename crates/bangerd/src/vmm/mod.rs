//! Virtual machine monitors: which one runs guests on this host, and the
//! Firecracker and QEMU backends behind one small trait (`launch.rs`).

pub mod firecracker;
pub mod kvm;
pub mod launch;
pub mod qemu;
pub mod select;

pub use kvm::KvmState;
pub use launch::{Launch, Launched, Vmm, VmmError};
pub use select::{Backend, HostVmms, Selection, select};
