//! Image references and platforms as the user writes them.

use super::OciError;
use oci_client::Reference;

/// `debian:bookworm` -> `docker.io/library/debian:bookworm` (Docker Hub
/// defaults), `localhost:5000/x/y@sha256:...` as written.
pub fn parse(text: &str) -> Result<Reference, OciError> {
    text.parse::<Reference>()
        .map_err(|source| OciError::Reference {
            reference: text.to_owned(),
            source,
        })
}

/// The image name a pull gets when `--name` is not given: the repository's
/// last component and the tag (`debian-bookworm`), or the first 12 hex
/// digits of the digest, in the characters image names allow.
pub fn default_name(r: &Reference) -> String {
    let repo = r.repository().rsplit('/').next().unwrap_or("image");
    let version = match (r.tag(), r.digest()) {
        (Some(tag), _) => tag.to_owned(),
        (None, Some(d)) => d.split(':').nth(1).unwrap_or(d).chars().take(12).collect(),
        (None, None) => "latest".to_owned(),
    };
    let name: String = format!("{repo}-{version}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_start_matches(['.', '-']);
    name.chars().take(64).collect()
}

/// Registries on this machine (`localhost`, 127.0.0.0/8, `[::1]`), which
/// may be reached over plain HTTP without being listed as insecure.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.split(':').next().unwrap_or(registry),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `os/architecture[/variant]`, as in image indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(text: &str) -> Result<Platform, OciError> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok =
            |s: &&str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(OciError::Platform(text.to_owned())),
        }
    }

    /// What banger's guests run.
    pub fn default_guest() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }

    /// Whether an image for `os/architecture/variant` serves this platform:
    /// a platform without a variant takes any variant.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == architecture
            && (self.variant.is_none() || self.variant.as_deref() == variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_defaults_and_explicit_registries() {
        let r = parse("debian:bookworm").unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/debian");
        assert_eq!(default_name(&r), "debian-bookworm");
        let r = parse("ghcr.io/o/r:v1.2").unwrap();
        assert_eq!((r.registry(), r.repository()), ("ghcr.io", "o/r"));
        assert_eq!(default_name(&r), "r-v1.2");
        let digest = format!("sha256:{}", "ab".repeat(32));
        let r = parse(&format!("localhost:5000/x/y@{digest}")).unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.digest(), Some(digest.as_str()));
        assert_eq!(default_name(&r), "y-abababababab");
        assert_eq!(default_name(&parse("alpine").unwrap()), "alpine-latest");
        assert!(parse("UPPER/Case").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn loopback_registries() {
        for yes in [
            "localhost:5000",
            "127.0.0.1:5055",
            "127.3.2.1",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[2001:db8::1]:5000",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    #[test]
    fn platforms() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!(p.matches("linux", "arm64", Some("v8")));
        assert!(!p.matches("linux", "arm64", None));
        let p = Platform::parse("linux/amd64").unwrap();
        assert!(p.matches("linux", "amd64", Some("v3")));
        assert_eq!(p, Platform::default_guest());
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "linux amd64",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }
}
