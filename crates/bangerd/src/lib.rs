//! bangerd: the per-user daemon that owns banger's state, VMs and images.

pub mod agent;
pub mod api;
pub mod beneath;
pub mod build;
pub mod clock;
pub mod disk;
pub mod doctor;
pub mod guest_layout;
pub mod host;
pub mod image;
pub mod input;
pub mod kernel;
pub mod log_rotation;
pub mod monitor;
pub mod net;
pub mod preempt;
pub mod server;
pub mod session;
pub mod staging;
pub mod state;
pub mod store;
pub mod tar_guard;
pub mod vm;
pub mod vmm;
pub mod web;
pub mod workspace;
