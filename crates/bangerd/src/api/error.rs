//! How failures leave the daemon: a status code and the whole cause chain
//! as JSON (`banger_api::error::ErrorBody`).

use axum::Json;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use banger_api::error::ErrorBody;
use banger_api::{ApiError, ErrorKind};

#[derive(Debug)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub error: ApiError,
}

impl ApiFailure {
    /// The error's whole chain, with the status its kind stands for; a
    /// server error (the daemon's own failure, not the caller's) is also
    /// logged, once, here.
    pub fn from_error(kind: ErrorKind, err: &(dyn std::error::Error + 'static)) -> Self {
        let status = status_of(kind);
        let error = ApiError::from_chain(kind, err);
        if status.is_server_error() {
            tracing::error!(error = %error.chain.join(": "), "request failed");
        }
        ApiFailure { status, error }
    }

    pub fn message(status: StatusCode, message: impl Into<String>) -> Self {
        ApiFailure {
            status,
            error: ApiError::new(kind_of(status), message),
        }
    }

    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        Self::from_error(ErrorKind::Internal, err)
    }
}

/// The one place an error kind becomes an HTTP status.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// For failures the HTTP layer itself finds (bad JSON, no such route).
fn kind_of(status: StatusCode) -> ErrorKind {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => ErrorKind::BadRequest,
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        StatusCode::CONFLICT => ErrorKind::Conflict,
        StatusCode::METHOD_NOT_ALLOWED => ErrorKind::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::TooLarge,
        _ => ErrorKind::Internal,
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: self.error })).into_response()
    }
}

pub async fn no_such_route(uri: Uri) -> ApiFailure {
    ApiFailure::message(
        StatusCode::NOT_FOUND,
        format!("bangerd has no API route {}", uri.path()),
    )
}
