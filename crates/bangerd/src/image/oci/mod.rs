//! OCI images: `image pull` from any registry into a managed, bootable
//! ext4 image (see docs/oci-import.md).
//!
//! The pipeline (`pull.rs`): resolve the reference to one image manifest
//! for the wanted platform (`registry.rs`), then for each layer in order
//! stream its blob from the registry into the content-addressed cache and,
//! in the same pass, through its decompressor into the staging root
//! (`blobs.rs`, `layer.rs`, `flatten/`); write banger's guest parts into
//! the tree (`guest.rs`); make the rootfs and work-seed with mkfs.ext4
//! (`ext4.rs`); then one rename and one INSERT publish it. Nothing is
//! visible before that, and a failure leaves no record and no artifact.

mod auth;
mod blobs;
pub mod ext4;
pub mod flatten;
mod guest;
mod layer;
pub mod manifest;
mod manifest_fetch;
mod pull;
pub mod reference;
mod registry;

pub use pull::{PullEnv, pull};
pub use reference::Platform;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("`{reference}` is not an image reference")]
    Reference {
        reference: String,
        #[source]
        source: oci_client::ParseError,
    },
    #[error(
        "`{0}` is not a platform: write os/architecture[/variant], e.g. linux/amd64 or linux/arm64/v8"
    )]
    Platform(String),
    #[error("invalid image name: {0}")]
    Name(String),
    #[error("an image named `{0}` exists already (choose another with --name, or delete it)")]
    Exists(String),
    #[error("no kernel named `{0}` in the kernel store (see `banger kernel list`)")]
    UnknownKernel(String),
    #[error("reading registry credentials from {}", path.display())]
    Credentials {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{registry}: {what}: not authorized; {hint}")]
    Unauthorized {
        registry: String,
        what: String,
        hint: String,
        #[source]
        source: Box<oci_client::errors::OciDistributionError>,
    },
    #[error("{registry}: {what}")]
    Registry {
        registry: String,
        what: String,
        #[source]
        source: Box<oci_client::errors::OciDistributionError>,
    },
    #[error("{what}: {detail}")]
    Manifest { what: String, detail: String },
    #[error("{reference} has no image for {wanted}; it has: {available}")]
    NoPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    #[error(
        "{what} {digest} does not match its digest (got {actual}): the registry sent other bytes"
    )]
    Digest {
        what: &'static str,
        digest: String,
        actual: String,
    },
    #[error("{what} {digest} has {actual} bytes, but the manifest says {expected}")]
    Size {
        what: &'static str,
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "layer {digest} has media type `{media_type}`, which banger cannot unpack (tar, tar+gzip and tar+zstd layers are supported)"
    )]
    LayerType { digest: String, media_type: String },
    #[error("downloading {digest}")]
    Download {
        digest: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unpacking layer {digest}")]
    Flatten {
        digest: String,
        #[source]
        source: flatten::FlattenError,
    },
    #[error(
        "unpacking layer {digest}, whose download resumed an earlier interrupted one: that partial download is now discarded, so pulling again fetches the layer whole"
    )]
    FlattenResumed {
        digest: String,
        #[source]
        source: flatten::FlattenError,
    },
    #[error(
        "the image's files take {content} bytes, more than the --size of {size} bytes (leave --size out to size it to the content)"
    )]
    TooSmall { content: u64, size: u64 },
    #[error("building the {what} ext4 image")]
    Ext4 {
        what: &'static str,
        #[source]
        source: ext4::Ext4Error,
    },
    #[error("writing banger's guest parts into the image")]
    Guest(#[source] std::io::Error),
    #[error("the daemon has no guest agent to put into the image (see `banger doctor`)")]
    NoAgent,
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl OciError {
    /// What kind of failure this is (the API picks the HTTP status from it).
    pub fn kind(&self) -> banger_api::ErrorKind {
        use banger_api::ErrorKind as S;
        match self {
            OciError::Reference { .. }
            | OciError::Platform(_)
            | OciError::Name(_)
            | OciError::UnknownKernel(_)
            | OciError::NoPlatform { .. }
            | OciError::TooSmall { .. }
            | OciError::LayerType { .. } => S::BadRequest,
            OciError::Exists(_) => S::Conflict,
            OciError::Unauthorized { .. } => S::Unauthorized,
            OciError::Registry { .. }
            | OciError::Manifest { .. }
            | OciError::Digest { .. }
            | OciError::Size { .. }
            | OciError::Download { .. }
            | OciError::Flatten { .. }
            | OciError::FlattenResumed { .. } => S::Upstream,
            _ => S::Internal,
        }
    }
}
