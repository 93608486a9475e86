//! The guests' network on the host: a bridge with the host's address, a
//! pool of TAP devices on it, and nftables masquerading for guest egress.
//! Guest addresses are allocated in SQLite (see `store/vms.rs`); this
//! module turns them into kernel command lines and MAC addresses.

mod addr;
#[cfg(test)]
pub mod fake;
mod host;
mod runner;

pub use addr::{GuestNet, guest_addresses, mac_for};
pub use host::HostNet;
pub use runner::{PRIVILEGED_TOOLS, RecordingRunner, Runner, SystemRunner};

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
        "banger needs root for `{command}` and `sudo -n` refused ({stderr}); allow banger's network commands with a sudoers rule such as:\n  {user} ALL=(root) NOPASSWD: /usr/sbin/ip, /usr/sbin/nft, /usr/sbin/sysctl"
    )]
    Sudo {
        command: String,
        stderr: String,
        user: String,
    },
    #[error("unexpected output from `{command}`: {detail}")]
    Parse { command: String, detail: String },
    #[error("no free TAP device name with prefix `{0}` (0-9999 are taken)")]
    NoTapName(String),
}
