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
    /// How `image build` made it (built images only).
    #[serde(default)]
    pub build: Option<BuildInfo>,
}

/// What `image build` did: from which image, what it installed, where its
/// whole log is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildInfo {
    pub from_image: String,
    /// Each tool with the version it answered `--version` with.
    pub tools: Vec<BuiltTool>,
    /// The provisioning log, kept with the image.
    pub log: String,
    pub seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltTool {
    /// The command on PATH (`opencode`).
    pub command: String,
    /// The package it came from, as pinned (`opencode-ai@1.18.33`).
    pub package: String,
    /// What `COMMAND --version` printed (its first line).
    pub version: String,
}

/// Body of `POST /v1/images/build`: a dev box image provisioned from a
/// registered one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildImage {
    pub name: String,
    pub from_image: String,
    /// Size of the new rootfs in bytes; default: the base's plus room for
    /// the tools.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// Also Docker Engine (Debian's `docker.io`), running at boot, with the
    /// kernel modules it needs.
    #[serde(default)]
    pub docker: bool,
}

/// Body of `POST /v1/images/build/download`: fill the build cache with
/// what a build installs, so a later build needs no network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadBuildTools {
    /// With `docker`: the base whose Debian release (and installed
    /// packages) the Docker packages are resolved for.
    #[serde(default)]
    pub from_image: Option<String>,
    #[serde(default)]
    pub docker: bool,
}

/// Answer of `POST /v1/images/build/download`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildToolsCached {
    /// The build cache directory.
    pub cache: String,
    /// The pinned packages it now holds (`opencode-ai@1.18.33`, ...).
    pub packages: Vec<String>,
    /// Whether anything had to be downloaded.
    pub downloaded: bool,
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
