//! Virtual machine monitors: which one runs guests on this host, and (to
//! come) the Firecracker and QEMU backends behind one small trait.

pub mod kvm;
pub mod qemu;
pub mod select;

pub use kvm::KvmState;
pub use select::{Backend, HostVmms, Selection, select};
