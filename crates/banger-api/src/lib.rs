//! The contract between `banger` (CLI), `bangerd` (daemon) and the web UI.
//!
//! Everything that crosses the daemon's socket is defined here and nowhere
//! else, so the two ends cannot drift. Inputs are strict
//! (`deny_unknown_fields`): a client that sends a field the daemon does not
//! know gets an error instead of silently ignored intent.
//!
//! This crate must never depend on the daemon or the CLI.

pub mod daemon;
pub mod doctor;
pub mod error;
pub mod event;
pub mod image;
pub mod kernel;
#[cfg(feature = "mux")]
pub mod mux;
pub mod progress;
pub mod routes;
pub mod session;
pub mod text;
pub mod vm;
pub mod workspace;

#[cfg(feature = "client")]
pub mod client;

pub use error::{ApiError, ErrorKind};
pub use event::Event;

/// Version of the banger workspace that produced this crate; the daemon
/// reports it so a CLI can notice it talks to an older daemon.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
