//! Every HTTP path the daemon serves, under one version prefix.

/// Bumped only on incompatible changes; both ends name it through here.
pub const PREFIX: &str = "/v1";

pub const DAEMON_STATUS: &str = "/v1/daemon/status";
pub const DAEMON_SHUTDOWN: &str = "/v1/daemon/shutdown";
pub const DOCTOR: &str = "/v1/doctor";

/// Content type of streamed responses: one JSON [`crate::Event`] per line.
pub const NDJSON: &str = "application/x-ndjson";

pub const IMAGES: &str = "/v1/images";
/// `POST`: pull an OCI image (NDJSON progress, then the image). Not under
/// `/v1/images/`, where it would shadow an image named `pull`.
pub const IMAGE_PULL: &str = "/v1/oci/pull";
pub const IMAGE_BUILD: &str = "/v1/builds";
pub const IMAGE_BUILD_DOWNLOAD: &str = "/v1/builds/download";
pub const KERNELS: &str = "/v1/kernels";
pub const KERNEL_CATALOG: &str = "/v1/kernels/catalog";
pub const KERNEL_PULL: &str = "/v1/kernels/pull";
pub const KERNEL_IMPORT: &str = "/v1/kernels/import";

/// `/v1/images/{name}`; names are validated to a URL-safe alphabet.
pub fn image(name: &str) -> String {
    format!("{IMAGES}/{name}")
}

pub fn image_promote(name: &str) -> String {
    format!("{IMAGES}/{name}/promote")
}

pub fn kernel(name: &str) -> String {
    format!("{KERNELS}/{name}")
}

pub const VMS: &str = "/v1/vms";
/// What a workspace prepare would send, checked without a VM.
pub const WORKSPACE_CHECK: &str = "/v1/workspaces/check";

pub fn vm(name: &str) -> String {
    format!("{VMS}/{name}")
}

/// `start`, `stop`, `exec`, `ports`, `opencode`, `logs`, `host-keys`.
pub fn vm_action(name: &str, action: &str) -> String {
    format!("{VMS}/{name}/{action}")
}
