//! The host <-> guest agent protocol, shared by `bangerd` and
//! `banger-vsock-agent` so the two ends cannot drift.
//!
//! Transport: one stream per request, over vsock (the host reaches the
//! guest's port [`AGENT_PORT`] through the VMM's hybrid vsock Unix socket:
//! write `CONNECT <port>\n`, read `OK <n>\n`).
//!
//! Framing: `[u32 big-endian payload length][u8 frame type][payload]`.
//! Type 0 is a JSON [`Request`] or [`Response`]; types 1-3 carry raw bytes of
//! a process's stdin, stdout and stderr. An empty stdin frame is EOF.
//!
//! A request is one `Message` frame from the host; the answer is one
//! `Message` frame, except `Exec`, which streams output frames and ends with
//! `Response::Exit`; `PutTar`, where the host then streams the tar as stdin
//! frames (ended by an empty one); and `GetTar`, where the agent streams the
//! tar as stdout frames before its answer.

mod frame;
mod messages;

pub use frame::{Frame, FrameError, FrameKind, MAX_FRAME, read_frame, write_frame};
#[cfg(feature = "tokio")]
pub use frame::{read_frame_async, write_frame_async};
pub use messages::{
    ListeningPort, LogStream, Request, Response, SessionInfo, SessionState, StdinMode,
};

/// The vsock port the agent listens on inside the guest.
pub const AGENT_PORT: u32 = 1024;

/// The host port the agent connects to once it listens, to say so: the
/// VMM's hybrid vsock hands guest connections to port P to the Unix socket
/// `<vsock socket>_P` on the host. Waiting for this instead of knocking
/// means the host never connects before the guest's vsock driver is up.
pub const READY_PORT: u32 = 1025;

/// The first-boot sshd install `image pull` writes into images without
/// sshd, and where the agent, as an image's pid 1, logs it.
pub const INSTALL_SSHD: &str = "/usr/local/lib/banger/install-sshd";
pub const INSTALL_SSHD_LOG: &str = "/var/log/banger-install-sshd.log";

/// The host's vsock context id: the agent accepts connections only from it.
pub const HOST_CID: u32 = 2;

/// Protocol version; bumped on incompatible changes, reported by `Pong`.
pub const PROTOCOL_VERSION: u32 = 1;
