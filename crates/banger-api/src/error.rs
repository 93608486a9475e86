//! Errors as they travel over the API: the whole cause chain, outermost first.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Body of every non-2xx response (`{"error": {...}}`) and of stream error events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub error: ApiError,
}

/// What kind of failure, for programs: the daemon derives its HTTP status
/// from this, and scripts reading `--json` errors can branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request itself is wrong (a bad name, a value out of range).
    BadRequest,
    /// What the request names does not exist.
    NotFound,
    /// The request clashes with the current state (a name taken, a VM running).
    Conflict,
    /// A remote service (a registry) refused the credentials.
    Unauthorized,
    MethodNotAllowed,
    TooLarge,
    /// A remote service (a registry) failed or sent something wrong.
    Upstream,
    /// The daemon or the host failed; the chain says where.
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiError {
    pub kind: ErrorKind,
    /// Each message of the cause chain, outermost first. Never empty.
    pub chain: Vec<String>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            chain: vec![message.into()],
        }
    }

    /// Walks `err.source()` so no cause is lost on the way to the client.
    pub fn from_chain(kind: ErrorKind, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = vec![err.to_string()];
        let mut next = err.source();
        while let Some(e) = next {
            chain.push(e.to_string());
            next = e.source();
        }
        ApiError { kind, chain }
    }

    /// Rebuilds a `std::error::Error` chain so the CLI prints remote and local
    /// errors with the same code.
    pub fn into_error(self) -> RemoteError {
        let mut iter = self.chain.into_iter().rev();
        let mut err = RemoteError {
            message: iter.next().unwrap_or_else(|| "unknown daemon error".into()),
            source: None,
        };
        for message in iter {
            err = RemoteError {
                message,
                source: Some(Box::new(err)),
            };
        }
        err
    }
}

/// One link of a cause chain received from the daemon.
#[derive(Debug)]
pub struct RemoteError {
    message: String,
    source: Option<Box<RemoteError>>,
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RemoteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-rolled two-level chain, so the test needs no extra dependency.
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("reading config")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn chain_survives_a_round_trip() {
        let err = Outer(std::io::Error::other("disk on fire"));
        let api = ApiError::from_chain(ErrorKind::Internal, &err);
        assert_eq!(api.chain, vec!["reading config", "disk on fire"]);
        let json = serde_json::to_string(&api).unwrap();
        assert!(json.contains(r#""kind":"internal""#), "{json}");
        let back: ApiError = serde_json::from_str(&json).unwrap();
        let remote = back.into_error();
        assert_eq!(remote.to_string(), "reading config");
        let cause = std::error::Error::source(&remote).unwrap();
        assert_eq!(cause.to_string(), "disk on fire");
        assert!(cause.source().is_none());
    }
}
