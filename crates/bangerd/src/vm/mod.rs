//! VMs: their records, disks and processes.

pub mod inject;
