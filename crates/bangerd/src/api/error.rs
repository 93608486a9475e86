//! How failures leave the daemon: a status code and the whole cause chain
//! as JSON (`banger_api::error::ErrorBody`).

use axum::Json;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use banger_api::ApiError;
use banger_api::error::ErrorBody;

#[derive(Debug)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub error: ApiError,
}

impl ApiFailure {
    /// The error's whole chain; a server error (the daemon's own failure,
    /// not the caller's) is also logged, once, here.
    pub fn from_error(status: StatusCode, err: &(dyn std::error::Error + 'static)) -> Self {
        let error = ApiError::from_chain(kind_of(status), err);
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
        Self::from_error(StatusCode::INTERNAL_SERVER_ERROR, err)
    }
}

fn kind_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        _ => "internal",
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
