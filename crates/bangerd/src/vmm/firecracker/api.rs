//! Firecracker's HTTP API on its Unix socket (one connection per request;
//! the API is local and calls are few). A refusal carries Firecracker's own
//! `fault_message`, which reaches the user verbatim.

use super::super::launch::VmmError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Api {
    socket: PathBuf,
}

impl Api {
    pub fn new(socket: &Path) -> Api {
        Api {
            socket: socket.to_owned(),
        }
    }

    /// `PUT path` with a JSON body; Firecracker answers 204 on success.
    pub async fn put(&self, path: &str, body: &serde_json::Value) -> Result<(), VmmError> {
        let request = format!("PUT {path}");
        let io = |source| VmmError::ApiIo {
            request: request.clone(),
            source,
        };
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(io)?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| io(std::io::Error::other(e)))?;
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method("PUT")
            .uri(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request parts are valid");
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| io(std::io::Error::other(e)))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| io(std::io::Error::other(e)))?
            .to_bytes();
        if status.is_success() {
            return Ok(());
        }
        Err(VmmError::Api {
            request,
            status: status.as_u16(),
            fault: fault_message(&bytes),
        })
    }
}

fn fault_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["fault_message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_firecrackers_own_words() {
        assert_eq!(
            fault_message(br#"{"fault_message":"Invalid kernel path: /nope"}"#),
            "Invalid kernel path: /nope"
        );
        assert_eq!(fault_message(b"not json"), "not json");
    }

    #[tokio::test]
    async fn a_refusal_reaches_the_caller_verbatim() {
        use axum::{Json, http::StatusCode, routing::put};
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("fc.sock");
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let app = axum::Router::new()
            .route("/machine-config", put(|| async { StatusCode::NO_CONTENT }))
            .route(
                "/boot-source",
                put(|| async {
                    (
                        StatusCode::BAD_REQUEST,
                        Json(serde_json::json!({"fault_message": "Invalid kernel path: /nope"})),
                    )
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let api = Api::new(&sock);
        api.put("/machine-config", &serde_json::json!({"vcpu_count": 1}))
            .await
            .unwrap();
        let e = api
            .put("/boot-source", &serde_json::json!({}))
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Firecracker refused PUT /boot-source (HTTP 400): Invalid kernel path: /nope"
        );
    }
}
