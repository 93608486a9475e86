//! What VM operations are given by the daemon: borrowed, so the VM core
//! never reaches for the daemon's state and a unit test can build one from
//! a temporary directory, a store, a recording network runner and a fake
//! VMM.

use super::VmError;
use crate::net::HostNet;
use crate::store::Store;
use crate::vmm::{Chosen, VmmSlot};
use banger_config::{Config, Paths};
use std::path::Path;

#[derive(Debug)]
pub struct VmEnv<'a> {
    pub paths: &'a Paths,
    pub store: &'a Store,
    pub config: &'a Config,
    /// The guest agent binary installed into every VM.
    pub agent: Option<&'a Path>,
    /// banger's public key, for the guest's authorized_keys.
    pub ssh_public: &'a str,
    pub net: &'a HostNet,
    /// The VMM chosen when the daemon started, or why there is none.
    pub vmm: &'a VmmSlot,
}

impl VmEnv<'_> {
    /// The chosen VMM; booting without one fails with the reason.
    pub fn vmm(&self) -> Result<&Chosen, VmError> {
        self.vmm.as_ref().map_err(|e| VmError::NoVmm(e.clone()))
    }
}
