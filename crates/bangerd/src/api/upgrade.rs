//! HTTP/1.1 upgrades: after the daemon answers `101 Switching Protocols`,
//! the API connection carries another protocol; for `exec`, the agent's own
//! frames, copied both ways between the client and the guest.

use super::ApiFailure;
use axum::extract::FromRequestParts;
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use banger_api::vm::AGENT_FRAMES_PROTOCOL;
use hyper::upgrade::OnUpgrade;

/// The connection's future upgraded stream; refuses plain requests.
pub struct Upgrade(pub OnUpgrade);

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let asked = parts
            .headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            == Some(AGENT_FRAMES_PROTOCOL);
        match parts.extensions.remove::<OnUpgrade>() {
            Some(on) if asked => Ok(Upgrade(on)),
            _ => Err(ApiFailure::message(
                StatusCode::UPGRADE_REQUIRED,
                format!(
                    "{} needs `Connection: upgrade` and `Upgrade: {AGENT_FRAMES_PROTOCOL}`",
                    parts.uri.path()
                ),
            )),
        }
    }
}

/// `101 Switching Protocols` to the agent's frames.
pub fn switching() -> Response {
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, "upgrade"),
            (header::UPGRADE, AGENT_FRAMES_PROTOCOL),
        ],
    )
        .into_response()
}

/// Copies bytes both ways between the upgraded client connection and the
/// agent connection until either side ends; `what` names it in the log.
pub fn relay(on_upgrade: OnUpgrade, mut agent: tokio::net::UnixStream, what: String) {
    tokio::spawn(async move {
        let relayed = async {
            let client = on_upgrade.await.map_err(std::io::Error::other)?;
            let mut client = hyper_util::rt::TokioIo::new(client);
            tokio::io::copy_bidirectional(&mut client, &mut agent).await
        };
        if let Err(e) = relayed.await {
            tracing::debug!(error = %e, "relay for {what} ended");
        }
    });
}
