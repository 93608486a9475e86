//! HTTP/1.1 + JSON client for the daemon's Unix socket.
//!
//! One connection per request: requests are rare and local, and a fresh
//! connection means a restarted daemon never sees a stale one.

use crate::error::{ErrorBody, RemoteError};
use crate::{Event, routes};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, body::Incoming};
use hyper_util::rt::TokioIo;
use serde::{Serialize, de::DeserializeOwned};
use std::io;
use std::path::{Path, PathBuf};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to bangerd at {}", socket.display())]
    Connect {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("talking to bangerd")]
    Http(#[from] hyper::Error),
    #[error("bangerd sent a response banger cannot read ({what})")]
    BadResponse {
        what: String,
        #[source]
        source: Option<serde_json::Error>,
    },
    #[error("bangerd closed the stream before it finished (did the daemon stop?)")]
    StreamEnded,
    /// The daemon's own error, whole chain included.
    #[error(transparent)]
    Daemon(RemoteError),
}

impl ClientError {
    /// True when nobody listens on the socket, i.e. the daemon is not running.
    pub fn is_not_running(&self) -> bool {
        matches!(self, ClientError::Connect { source, .. }
            if matches!(source.kind(), io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused))
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Client {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.send(Method::GET, path, None).await?;
        read_json(resp).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let resp = self.send(Method::POST, path, Some(to_json(body))).await?;
        read_json(resp).await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.send(Method::DELETE, path, None).await?;
        read_json(resp).await
    }

    /// Posts `body` and reads an NDJSON event stream, handing every progress
    /// event to `on_progress` as it arrives; returns the final result.
    pub async fn stream<B, P, R>(
        &self,
        path: &str,
        body: &B,
        mut on_progress: impl FnMut(P),
    ) -> Result<R, ClientError>
    where
        B: Serialize,
        P: DeserializeOwned,
        R: DeserializeOwned,
    {
        let resp = self.send(Method::POST, path, Some(to_json(body))).await?;
        if !resp.status().is_success() {
            return Err(error_from(resp).await);
        }
        let mut body = resp.into_body();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                buf.extend_from_slice(&data);
            }
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let event: Event<P, R> =
                    serde_json::from_slice(&line).map_err(|e| ClientError::BadResponse {
                        what: "stream event".into(),
                        source: Some(e),
                    })?;
                match event {
                    Event::Progress { progress } => on_progress(progress),
                    Event::Result { result } => return Ok(result),
                    Event::Error { error } => return Err(ClientError::Daemon(error.into_error())),
                }
            }
        }
        Err(ClientError::StreamEnded)
    }

    /// Posts `body` asking to switch the connection to `protocol`; returns
    /// the raw stream once the daemon answers 101 (its error otherwise).
    pub async fn upgrade<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        protocol: &str,
    ) -> Result<TokioIo<hyper::upgrade::Upgraded>, ClientError> {
        let stream = self.connect().await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn.with_upgrades());
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("host", "bangerd")
            .header("content-type", "application/json")
            .header("connection", "upgrade")
            .header("upgrade", protocol)
            .body(Full::new(Bytes::from(to_json(body))))
            .expect("request parts are valid");
        let resp = sender.send_request(req).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(error_from(resp).await);
        }
        Ok(TokioIo::new(hyper::upgrade::on(resp).await?))
    }

    async fn connect(&self) -> Result<UnixStream, ClientError> {
        UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::Connect {
                socket: self.socket.clone(),
                source,
            })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        debug_assert!(path.starts_with(routes::PREFIX));
        let stream = self.connect().await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // The connection task ends by itself when the response is consumed.
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "bangerd");
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request parts are valid");
        Ok(sender.send_request(req).await?)
    }
}

fn to_json<B: Serialize>(body: &B) -> Vec<u8> {
    serde_json::to_vec(body).expect("request types serialize")
}

async fn read_json<T: DeserializeOwned>(resp: hyper::Response<Incoming>) -> Result<T, ClientError> {
    if !resp.status().is_success() {
        return Err(error_from(resp).await);
    }
    let bytes = resp.into_body().collect().await?.to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| ClientError::BadResponse {
        what: "response body".into(),
        source: Some(e),
    })
}

async fn error_from(resp: hyper::Response<Incoming>) -> ClientError {
    let status = resp.status();
    let bytes = match resp.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return ClientError::Http(e),
    };
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => ClientError::Daemon(body.error.into_error()),
        Err(e) => ClientError::BadResponse {
            what: format!(
                "HTTP {status} without an error body{}",
                not_found_hint(status)
            ),
            source: Some(e),
        },
    }
}

fn not_found_hint(status: StatusCode) -> &'static str {
    if status == StatusCode::NOT_FOUND {
        "; the daemon may be older than this CLI: restart it with `banger daemon stop`"
    } else {
        ""
    }
}
