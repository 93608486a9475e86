//! Every HTTP path the daemon serves, under one version prefix.

/// Bumped only on incompatible changes; both ends name it through here.
pub const PREFIX: &str = "/v1";

pub const DAEMON_STATUS: &str = "/v1/daemon/status";
pub const DAEMON_SHUTDOWN: &str = "/v1/daemon/shutdown";
pub const DOCTOR: &str = "/v1/doctor";

/// Content type of streamed responses: one JSON [`crate::Event`] per line.
pub const NDJSON: &str = "application/x-ndjson";
