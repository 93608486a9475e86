//! What a registry's manifests say, decoded from bytes banger did not make:
//! an image index (one manifest per platform) or an image manifest, the
//! platform's entry chosen from an index, and every digest checked for
//! shape before it names a URL or a cache file. Pure: the registry session
//! (registry.rs) fetches, this decides.

use super::OciError;
use super::reference::Platform;
use oci_client::manifest::OciImageManifest;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Index {
    pub manifests: Vec<IndexEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    pub digest: String,
    #[serde(default)]
    pub platform: Option<IndexPlatform>,
}

#[derive(Debug, Deserialize)]
pub struct IndexPlatform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl IndexPlatform {
    pub fn show(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// What a reference's manifest turned out to be.
#[derive(Debug)]
pub enum Top {
    Index(Index),
    /// An image manifest: decoded by `image_manifest` (schema 1 refused there).
    Manifest,
}

/// `sha256:` and 64 hex digits: the only digests banger fetches or caches.
pub fn is_sha256_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn bad(what: impl Into<String>, detail: impl Into<String>) -> OciError {
    OciError::Manifest {
        what: what.into(),
        detail: detail.into(),
    }
}

/// An index or an image manifest; `shown` names the reference in errors.
pub fn top(bytes: &[u8], shown: &str) -> Result<Top, OciError> {
    let kind: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("the manifest of {shown}"), format!("not JSON: {e}")))?;
    if kind.get("manifests").is_none() {
        return Ok(Top::Manifest);
    }
    let index: Index = serde_json::from_value(kind)
        .map_err(|e| bad(format!("the image index of {shown}"), e.to_string()))?;
    Ok(Top::Index(index))
}

/// The digest of `platform`'s manifest in `index`; when none fits, the
/// platforms it has are named.
pub fn choose(index: &Index, platform: &Platform, shown: &str) -> Result<String, OciError> {
    let chosen = index.manifests.iter().find(|m| {
        m.platform
            .as_ref()
            .is_some_and(|p| platform.matches(&p.os, &p.architecture, p.variant.as_deref()))
    });
    let Some(chosen) = chosen else {
        let mut available: Vec<String> = index
            .manifests
            .iter()
            .filter_map(|m| m.platform.as_ref())
            // Build attestations ride in indexes as unknown/unknown.
            .filter(|p| p.os != "unknown")
            .map(IndexPlatform::show)
            .collect();
        // In the index's order, each once.
        let mut seen = std::collections::HashSet::new();
        available.retain(|p| seen.insert(p.clone()));
        return Err(OciError::NoPlatform {
            reference: shown.to_owned(),
            wanted: platform.to_string(),
            available: if available.is_empty() {
                "no platforms".into()
            } else {
                available.join(", ")
            },
        });
    };
    if !is_sha256_digest(&chosen.digest) {
        return Err(bad(
            format!("the image index of {shown}"),
            format!(
                "its {} entry's digest `{}` is not a sha256 digest",
                platform,
                banger_api::text::printable(&chosen.digest)
            ),
        ));
    }
    Ok(chosen.digest.clone())
}

/// The image manifest in `bytes`, its config and layer digests checked.
pub fn image_manifest(bytes: &[u8], shown: &str) -> Result<OciImageManifest, OciError> {
    let what = || format!("the image manifest of {shown}");
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes)
        && v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1)
    {
        return Err(bad(
            format!("the manifest of {shown}"),
            "Docker schema 1 manifests are not supported (re-push the image with a current tool)",
        ));
    }
    let manifest: OciImageManifest =
        serde_json::from_slice(bytes).map_err(|e| bad(what(), e.to_string()))?;
    let descriptors = std::iter::once(("config", &manifest.config))
        .chain(manifest.layers.iter().map(|l| ("layer", l)));
    for (kind, d) in descriptors {
        if !is_sha256_digest(&d.digest) {
            return Err(bad(
                what(),
                format!(
                    "a {kind} digest `{}` is not a sha256 digest",
                    banger_api::text::printable(&d.digest)
                ),
            ));
        }
        if d.size < 0 {
            return Err(bad(
                what(),
                format!("a {kind} of negative size ({})", d.size),
            ));
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn amd64() -> Platform {
        Platform::parse("linux/amd64").unwrap()
    }

    #[test]
    fn an_index_names_its_platforms_when_none_fits() {
        let bytes = format!(
            r#"{{"manifests":[
                {{"digest":"{D}","platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
                {{"digest":"{D}","platform":{{"os":"unknown","architecture":"unknown"}}}},
                {{"digest":"{D}","platform":{{"os":"linux","architecture":"arm","variant":"v7"}}}}]}}"#
        );
        let Top::Index(index) = top(bytes.as_bytes(), "r").unwrap() else {
            panic!("an index")
        };
        let e = choose(&index, &amd64(), "r").unwrap_err().to_string();
        assert!(e.contains("linux/arm64/v8, linux/arm/v7"), "{e}");
        assert!(!e.contains("unknown"), "{e}");
    }

    #[test]
    fn digests_that_are_not_sha256_are_refused() {
        let bytes = r#"{"manifests":[{"digest":"sha256:../../etc","platform":{"os":"linux","architecture":"amd64"}}]}"#;
        let Top::Index(index) = top(bytes.as_bytes(), "r").unwrap() else {
            panic!("an index")
        };
        let e = choose(&index, &amd64(), "r").unwrap_err().to_string();
        assert!(e.contains("is not a sha256 digest"), "{e}");

        let layer = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"DIGEST","size":2},
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:zz","size":3}]}"#;
        let e = image_manifest(layer.replace("DIGEST", D).as_bytes(), "r")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a layer digest `sha256:zz`"), "{e}");
        let e = image_manifest(
            layer
                .replace("DIGEST", "md5:1")
                .replace("sha256:zz", D)
                .as_bytes(),
            "r",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("a config digest `md5:1`"), "{e}");
    }

    #[test]
    fn schema_1_manifests_are_refused() {
        let e = image_manifest(br#"{"schemaVersion":1,"fsLayers":[]}"#, "r")
            .unwrap_err()
            .to_string();
        assert!(e.contains("schema 1"), "{e}");
    }
}
