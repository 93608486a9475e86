//! Registry credentials from docker's `config.json` (`auths`: base64
//! `user:password`, or `username` and `password`), the file `docker login`,
//! `skopeo login` and `podman login --authfile` write. Credential helpers
//! (`credsStore`, `credHelpers`) are not run; without an entry the pull is
//! anonymous (the registry's bearer-token flow still applies).

use super::OciError;
use base64::Engine;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The host[:port] an `auths` key names: keys may carry a scheme and a path
/// (`https://index.docker.io/v1/`), and Docker Hub goes by several names.
fn registry_of(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest);
    canonical(host)
}

fn canonical(registry: &str) -> String {
    match registry {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        other => other.to_owned(),
    }
}

/// Credentials for `registry` (as in the reference, e.g. `docker.io` or
/// `localhost:5000`), or anonymous when the file or its entry is absent.
pub fn for_registry(file: Option<&Path>, registry: &str) -> Result<RegistryAuth, OciError> {
    let Some(file) = file else {
        return Ok(RegistryAuth::Anonymous);
    };
    let bad = |detail: String| OciError::Credentials {
        path: file.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, detail),
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryAuth::Anonymous),
        Err(source) => {
            return Err(OciError::Credentials {
                path: file.to_owned(),
                source,
            });
        }
    };
    let config: DockerConfig =
        serde_json::from_str(&text).map_err(|e| bad(format!("not a docker config.json: {e}")))?;
    let want = canonical(registry);
    let Some(entry) = config
        .auths
        .iter()
        .find(|(key, _)| registry_of(key) == want)
        .map(|(_, e)| e)
    else {
        return Ok(RegistryAuth::Anonymous);
    };
    if let (Some(user), Some(password)) = (&entry.username, &entry.password) {
        return Ok(RegistryAuth::Basic(user.clone(), password.clone()));
    }
    let Some(encoded) = entry.auth.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| bad(format!("`auths.{registry}.auth` is not base64: {e}")))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| bad(format!("`auths.{registry}.auth` is not UTF-8 text")))?;
    let (user, password) = decoded.split_once(':').ok_or_else(|| {
        bad(format!(
            "`auths.{registry}.auth` is not base64 of user:password"
        ))
    })?;
    Ok(RegistryAuth::Basic(user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(text: &str, registry: &str) -> Result<RegistryAuth, OciError> {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("config.json");
        std::fs::write(&f, text).unwrap();
        for_registry(Some(&f), registry)
    }

    #[test]
    fn entries_by_registry_with_docker_hub_aliases() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        let text = format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{b64}"}},
                "127.0.0.1:5055": {{"username": "bob", "password": "pw"}}
            }}, "credsStore": "desktop"}}"#
        );
        assert_eq!(
            with(&text, "docker.io").unwrap(),
            RegistryAuth::Basic("alice".into(), "s3cr:et".into())
        );
        assert_eq!(
            with(&text, "127.0.0.1:5055").unwrap(),
            RegistryAuth::Basic("bob".into(), "pw".into())
        );
        assert_eq!(with(&text, "ghcr.io").unwrap(), RegistryAuth::Anonymous);
    }

    #[test]
    fn absent_file_is_anonymous_and_a_broken_one_an_error() {
        assert_eq!(
            for_registry(Some(Path::new("/nonexistent/config.json")), "x").unwrap(),
            RegistryAuth::Anonymous
        );
        assert_eq!(for_registry(None, "x").unwrap(), RegistryAuth::Anonymous);
        let e = with("{not json", "x").unwrap_err();
        assert!(
            format!("{:?}", e).contains("not a docker config.json"),
            "{e:?}"
        );
        let e = with(r#"{"auths": {"x": {"auth": "!!"}}}"#, "x").unwrap_err();
        assert!(format!("{:?}", e).contains("not base64"), "{e:?}");
    }
}
