//! The guests' network on the host: a bridge with the host's address, a
//! pool of TAP devices on it, and nftables masquerading for guest egress.
//! Guest addresses are allocated in SQLite (see `store/vms.rs`); this
//! module turns them into kernel command lines and MAC addresses.

mod addr;
#[cfg(test)]
pub mod fake;
pub mod helper;
mod host;
mod runner;

pub use addr::{GuestNet, guest_addresses, mac_for};
pub use host::HostNet;
pub use runner::{RecordingRunner, Runner, SystemRunner};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("running `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "banger needs root for `{command}` and `sudo -n` refused ({stderr}); allow banger's network helper, and nothing else, with a sudoers rule such as:\n  {user} ALL=(root) NOPASSWD: {program}"
    )]
    Sudo {
        command: String,
        stderr: String,
        user: String,
        /// What the rule should allow: the program that was refused.
        program: String,
    },
    #[error("unexpected output from `{command}`: {detail}")]
    Parse { command: String, detail: String },
    #[error("no free TAP device name with prefix `{0}` (0-9999 are taken)")]
    NoTapName(String),
    #[error("`{0}` is not a bridge; bridge_name must name a bridge banger may make or use")]
    NotABridge(String),
    #[error("`{0}` is not one of banger's TAP devices")]
    NotOurs(String),
}
