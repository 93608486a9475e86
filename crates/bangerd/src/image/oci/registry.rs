//! Talking to the registry through `oci-client` (auth, manifests, blobs),
//! and choosing the one image manifest a pull unpacks.

use super::OciError;
use super::manifest::Top;
use super::reference::{Platform, is_loopback};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

const ACCEPTED: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// A registry session for one reference: the client with its tokens.
pub struct Registry {
    pub client: Client,
    pub auth: RegistryAuth,
    pub reference: Reference,
    /// What to tell the user when the registry says no: where banger
    /// looked for credentials and what it found.
    pub auth_hint: String,
    /// Manifests are fetched with this, capped as read (manifest_fetch).
    http: reqwest::Client,
    plain: bool,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}

/// What a pull unpacks: one image manifest and what its config says.
#[derive(Debug)]
pub struct Resolved {
    pub manifest: OciImageManifest,
    /// sha256 of the image manifest itself (not of an index above it).
    pub digest: String,
    pub platform: String,
}

#[derive(Debug, Deserialize)]
struct ImageConfig {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

pub fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Registry {
    /// Plain HTTP only for `insecure` registries and for this machine's own.
    pub fn new(
        reference: Reference,
        auth: RegistryAuth,
        credentials_file: Option<&std::path::Path>,
        insecure: &[String],
    ) -> Registry {
        let registry = reference.resolve_registry().to_owned();
        let named = |r: &str| insecure.iter().any(|i| i == r);
        let plain = named(&registry) || named(reference.registry()) || is_loopback(&registry);
        let protocol = if plain {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            // Indexes are resolved here, so a missing platform can be named.
            platform_resolver: None,
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            user_agent: concat!("banger/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        });
        let file = credentials_file
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "~/.docker/config.json (HOME is not set)".into());
        let auth_hint = match &auth {
            RegistryAuth::Anonymous => format!(
                "banger pulled anonymously: {file} has no credentials for {}",
                reference.registry()
            ),
            _ => format!(
                "the registry refused the credentials for {} in {file}",
                reference.registry()
            ),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(30))
            .timeout(std::time::Duration::from_secs(120))
            .user_agent(concat!("banger/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with rustls");
        Registry {
            client,
            auth,
            reference,
            auth_hint,
            http,
            plain,
        }
    }

    pub fn failed(
        &self,
        what: String,
    ) -> impl FnOnce(oci_client::errors::OciDistributionError) -> OciError {
        use oci_client::errors::OciDistributionError as E;
        let registry = self.reference.registry().to_owned();
        let hint = self.auth_hint.clone();
        move |source| match source {
            E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => OciError::Unauthorized {
                registry,
                what,
                hint,
                source: Box::new(source),
            },
            source => OciError::Registry {
                registry,
                what,
                source: Box::new(source),
            },
        }
    }

    /// A manifest's bytes, checked against `digest` when one is known.
    async fn manifest(&self, r: &Reference, digest: Option<&str>) -> Result<Vec<u8>, OciError> {
        let fetch = super::manifest_fetch::Fetch {
            client: &self.client,
            http: &self.http,
            auth: &self.auth,
            plain: self.plain,
            cap: super::manifest_fetch::MANIFEST_CAP,
        };
        let bytes = fetch
            .manifest(r, ACCEPTED)
            .await
            .map_err(self.failed(format!("fetching the manifest of {r}")))?;
        if let Some(want) = digest {
            let actual = sha256_of(&bytes);
            if actual != want {
                return Err(OciError::Digest {
                    what: "manifest",
                    digest: want.to_owned(),
                    actual,
                });
            }
        }
        Ok(bytes)
    }

    /// The image manifest for `platform`: directly, or through an index
    /// (manifest list), whose entries are named when none fits.
    pub async fn resolve(&self, platform: &Platform) -> Result<Resolved, OciError> {
        let top = self
            .manifest(&self.reference, self.reference.digest())
            .await?;
        let shown = self.reference.whole();
        let (bytes, digest, from_index) = match super::manifest::top(&top, &shown)? {
            Top::Index(index) => {
                let chosen = super::manifest::choose(&index, platform, &shown)?;
                let child = Reference::with_digest(
                    self.reference.registry().to_owned(),
                    self.reference.repository().to_owned(),
                    chosen.clone(),
                );
                let bytes = self.manifest(&child, Some(&chosen)).await?;
                (bytes, chosen, true)
            }
            Top::Manifest => {
                let digest = sha256_of(&top);
                (top, digest, false)
            }
        };
        let manifest = super::manifest::image_manifest(&bytes, &shown)?;
        let config = self.config(&manifest.config).await?;
        let actual = match &config.variant {
            Some(v) => format!("{}/{}/{v}", config.os, config.architecture),
            None => format!("{}/{}", config.os, config.architecture),
        };
        if !from_index
            && !platform.matches(&config.os, &config.architecture, config.variant.as_deref())
        {
            return Err(OciError::NoPlatform {
                reference: shown,
                wanted: platform.to_string(),
                available: actual,
            });
        }
        Ok(Resolved {
            manifest,
            digest,
            platform: actual,
        })
    }

    async fn config(&self, desc: &OciDescriptor) -> Result<ImageConfig, OciError> {
        if desc.size > CONFIG_CAP as i64 {
            return Err(OciError::Manifest {
                what: format!("the image config {}", desc.digest),
                detail: format!("{} bytes is too large for an image config", desc.size),
            });
        }
        // Capped as read, not only as declared: a registry may send more.
        let mut capped = crate::capped::CappedWriter::new(CONFIG_CAP);
        self.client
            .pull_blob(&self.reference, desc, &mut capped)
            .await
            .map_err(self.failed(format!("fetching the image config {}", desc.digest)))?;
        let bytes = capped.bytes;
        let actual = sha256_of(&bytes);
        if actual != desc.digest {
            return Err(OciError::Digest {
                what: "image config",
                digest: desc.digest.clone(),
                actual,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| OciError::Manifest {
            what: format!("the image config {}", desc.digest),
            detail: e.to_string(),
        })
    }
}

/// The most an image config may take (real ones are a few KiB).
const CONFIG_CAP: usize = 1 << 20;
