//! Kernels: the local store and the catalog.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    pub name: String,
    /// The kernel release (`uname -r`), e.g. `6.1.0-28-cloud-amd64`.
    pub version: String,
    pub arch: String,
    /// Where it came from: `catalog <url>`, `deb <file>`, `files`.
    pub source: String,
    pub dir: String,
    /// Every file in the store entry with its digest.
    pub files: Vec<KernelFile>,
    pub created_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelFile {
    /// `vmlinux`, `bzImage`, `initrd.img`, `config`, or `modules` (a directory, no digest).
    pub name: String,
    pub bytes: u64,
    pub sha256: Option<String>,
}

/// One kernel the catalog offers, and whether it is in the local store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailableKernel {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub description: String,
    /// Sum of the artifacts' sizes; `None` where the size is known only
    /// once the source is asked (a package of Debian's archive).
    #[serde(default)]
    pub download_bytes: Option<u64>,
    pub pulled: bool,
}

/// Answer of `GET /v1/kernels/catalog`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Where the catalog was read from (URL, path, or `built-in`).
    pub location: String,
    pub kernels: Vec<AvailableKernel>,
}

/// Body of `POST /v1/kernels/pull`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullKernel {
    pub name: String,
}

/// Body of `POST /v1/kernels/import`: a Debian package, or loose files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportKernel {
    pub name: String,
    #[serde(default)]
    pub deb: Option<String>,
    /// ELF vmlinux or bzImage.
    #[serde(default)]
    pub vmlinux: Option<String>,
    #[serde(default)]
    pub initrd: Option<String>,
    /// A `lib/modules/<version>` directory.
    #[serde(default)]
    pub modules: Option<String>,
}

/// Answer of `DELETE /v1/kernels/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelDeleted {
    pub name: String,
}
