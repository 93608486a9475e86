//! Manifests and indexes fetched by banger itself, capped as they are
//! read: oci-client reads a manifest's whole body into memory whatever its
//! size, so a hostile registry could send gigabytes. The credentials are
//! still oci-client's: its token for the repository (anonymous ones
//! included), or basic credentials where the registry asks for those.

use oci_client::errors::OciDistributionError as E;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

/// The most a manifest or index may hold (distribution's own limit).
pub const MANIFEST_CAP: usize = 4 << 20;

/// What a fetch needs of the registry session.
pub struct Fetch<'a> {
    pub client: &'a Client,
    pub http: &'a reqwest::Client,
    pub auth: &'a RegistryAuth,
    /// Plain HTTP (an `insecure` registry, or this machine's own).
    pub plain: bool,
    pub cap: usize,
}

impl Fetch<'_> {
    /// The manifest `r` names (by digest, else by tag), `accept`ing these
    /// media types.
    pub async fn manifest(&self, r: &Reference, accept: &[&str]) -> Result<Vec<u8>, E> {
        let token = self
            .client
            .auth(r, self.auth, RegistryOperation::Pull)
            .await?;
        let scheme = if self.plain { "http" } else { "https" };
        let which = r.digest().or(r.tag()).unwrap_or("latest");
        let url = format!(
            "{scheme}://{}/v2/{}/manifests/{which}",
            r.resolve_registry(),
            r.repository()
        );
        let mut req = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, accept.join(", "));
        req = match (token, self.auth) {
            (Some(t), _) => req.bearer_auth(t),
            (None, RegistryAuth::Basic(user, password)) => req.basic_auth(user, Some(password)),
            (None, _) => req,
        };
        let transport = |e: reqwest::Error| E::IoError(std::io::Error::other(e));
        let mut resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            crate::capped::append(&mut body, &chunk, self.cap).map_err(|full| {
                E::SpecViolationError(format!("{url} sent {full} (a manifest is at most that)"))
            })?;
        }
        match status.as_u16() {
            200 => Ok(body),
            401 => Err(E::UnauthorizedError { url }),
            404 => Err(E::ImageManifestNotFoundError(format!(
                "{url}: {}",
                banger_api::text::printable(&String::from_utf8_lossy(&body))
            ))),
            code => Err(E::ServerError {
                code,
                url,
                message: banger_api::text::printable(&String::from_utf8_lossy(&body)).into_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    /// A registry on 127.0.0.1 that answers every request with `status`
    /// and `body_len` bytes of `{`, or with an endless body.
    fn serve(status: u16, body_len: Option<usize>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let head = match body_len {
                    Some(n) => format!("HTTP/1.1 {status} X\r\nContent-Length: {n}\r\n\r\n"),
                    None => format!("HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n"),
                };
                let _ = conn.write_all(head.as_bytes());
                let chunk = vec![b'{'; 64 * 1024];
                match body_len {
                    Some(n) => {
                        let _ = conn.write_all(&vec![b'{'; n]);
                    }
                    None => {
                        let framed =
                            [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
                        while conn.write_all(&framed).is_ok() {}
                    }
                }
            }
        });
        addr
    }

    async fn fetch(addr: &str, cap: usize) -> Result<Vec<u8>, E> {
        let client = Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::Http,
            ..Default::default()
        });
        let http = reqwest::Client::new();
        let f = Fetch {
            client: &client,
            http: &http,
            auth: &RegistryAuth::Anonymous,
            plain: true,
            cap,
        };
        let r: Reference = format!("{addr}/x/y:t").parse().unwrap();
        f.manifest(&r, &["application/vnd.oci.image.manifest.v1+json"])
            .await
    }

    #[tokio::test]
    async fn a_manifest_is_capped_as_read_not_as_declared() {
        // Within the cap: whole.
        let addr = serve(200, Some(1000));
        assert_eq!(fetch(&addr, 4096).await.unwrap().len(), 1000);
        // A declared length past the cap, and a body with no end.
        for body in [Some(64 << 20), None] {
            let addr = serve(200, body);
            let e = fetch(&addr, 1 << 20).await.unwrap_err();
            assert!(
                e.to_string().contains("sent more than 1048576 bytes"),
                "{e}"
            );
        }
        let addr = serve(404, Some(10));
        let e = fetch(&addr, 4096).await.unwrap_err();
        assert!(matches!(e, E::ImageManifestNotFoundError(_)), "{e}");
    }
}
