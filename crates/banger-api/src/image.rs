//! Images: a rootfs (+ optional work-seed) and the kernel that boots it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub id: String,
    pub name: String,
    /// Managed: the daemon owns copies of the artifacts under its data dir.
    /// Unmanaged: the record points at the user's files.
    pub managed: bool,
    pub rootfs: String,
    pub work_seed: Option<String>,
    /// Kernel files, when the image names them directly...
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub modules: Option<String>,
    /// ...or a kernel from the kernel store.
    pub kernel_ref: Option<String>,
    /// Where a pulled image came from: the reference as given and the
    /// manifest digest it resolved to (`REF@sha256:...`).
    #[serde(default)]
    pub source: Option<String>,
    /// Apparent size of the rootfs, bytes.
    pub rootfs_bytes: u64,
    pub created_at: u64,
}

/// Body of `POST /v1/images`: records an unmanaged image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterImage {
    pub name: String,
    pub rootfs: String,
    #[serde(default)]
    pub work_seed: Option<String>,
    #[serde(default)]
    pub kernel: Option<String>,
    #[serde(default)]
    pub initrd: Option<String>,
    #[serde(default)]
    pub modules: Option<String>,
    #[serde(default)]
    pub kernel_ref: Option<String>,
}

/// Body of `POST /v1/images/{name}/promote`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoteImage {}

/// Answer of `DELETE /v1/images/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageDeleted {
    pub name: String,
    /// The artifact directory removed (managed images only).
    pub removed_dir: Option<String>,
}

/// Body of `POST /v1/images/pull`: an OCI image from a registry, flattened
/// into a managed ext4 image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullImage {
    /// `debian:bookworm`, `ghcr.io/o/r:tag`, `localhost:5000/x/y@sha256:...`.
    pub reference: String,
    /// The kernel (from the kernel store) the image boots with.
    pub kernel_ref: String,
    /// Image name; default: from the reference (`debian-bookworm`).
    #[serde(default)]
    pub name: Option<String>,
    /// Size of the rootfs in bytes; default: the content plus headroom.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// `os/arch[/variant]`; default `linux/amd64`.
    #[serde(default)]
    pub platform: Option<String>,
    /// Allow plain HTTP to this registry (loopback always may).
    #[serde(default)]
    pub insecure: bool,
}
