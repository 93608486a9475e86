//! A JSON body extractor whose rejections use the API's error format, so a
//! client sending an unknown field learns which one, in the usual shape.

use super::ApiFailure;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Request bodies are small descriptions of work, never payloads.
const MAX_BODY: usize = 1 << 20;

#[derive(Debug)]
pub struct StrictJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for StrictJson<T> {
    type Rejection = ApiFailure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let path = req.uri().path().to_owned();
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiFailure::message(
                StatusCode::BAD_REQUEST,
                format!("reading request body: {e}"),
            )
        })?;
        if bytes.len() > MAX_BODY {
            return Err(ApiFailure::message(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body for {path} is over {MAX_BODY} bytes"),
            ));
        }
        serde_json::from_slice(&bytes).map(StrictJson).map_err(|e| {
            ApiFailure::message(
                StatusCode::BAD_REQUEST,
                format!("invalid request body for {path}: {e}"),
            )
        })
    }
}
