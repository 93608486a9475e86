//! Layer media types: which decompressor turns a blob into its tar.

use super::OciError;
use std::io::Read;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The compression of a layer, by its media type (OCI and Docker v2,
/// distributable or not).
pub fn compression(digest: &str, media_type: &str) -> Result<Compression, OciError> {
    let base = media_type
        .strip_prefix("application/vnd.oci.image.layer.nondistributable.v1.")
        .or_else(|| media_type.strip_prefix("application/vnd.oci.image.layer.v1."))
        .map(|rest| rest.to_owned())
        .or_else(|| {
            media_type
                .strip_prefix("application/vnd.docker.image.rootfs.")
                .and_then(|r| r.strip_prefix("foreign.").or(Some(r)))
                .and_then(|r| r.strip_prefix("diff."))
                .map(|r| r.replace("tar.", "tar+"))
        });
    match base.as_deref() {
        Some("tar") => Ok(Compression::None),
        Some("tar+gzip") => Ok(Compression::Gzip),
        Some("tar+zstd") => Ok(Compression::Zstd),
        _ => Err(OciError::LayerType {
            digest: digest.to_owned(),
            media_type: media_type.to_owned(),
        }),
    }
}

/// The layer's tar, read through its decompressor.
pub fn decoder<'a>(c: Compression, blob: impl Read + 'a) -> std::io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(blob),
        // Multi-member gzip streams are valid layers.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(blob)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        for (t, want) in [
            ("application/vnd.oci.image.layer.v1.tar", Compression::None),
            (
                "application/vnd.oci.image.layer.v1.tar+gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.oci.image.layer.v1.tar+zstd",
                Compression::Zstd,
            ),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar",
                Compression::None,
            ),
        ] {
            assert_eq!(compression("d", t).unwrap(), want, "{t}");
        }
        let e = compression("sha256:x", "application/vnd.wasm.content.layer.v1+wasm").unwrap_err();
        assert!(e.to_string().contains("cannot unpack"), "{e}");
    }
}
