//! HTTP/1.1 upgrades: after the daemon answers `101 Switching Protocols`,
//! the API connection carries `stdio_mux_v1`, translated to and from the
//! guest agent's frames (`agent::stdio`), for `exec` and session logs.

use super::ApiFailure;
use axum::extract::FromRequestParts;
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use banger_api::mux::PROTOCOL;
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
            == Some(PROTOCOL);
        match parts.extensions.remove::<OnUpgrade>() {
            Some(on) if asked => Ok(Upgrade(on)),
            _ => Err(ApiFailure::message(
                StatusCode::UPGRADE_REQUIRED,
                format!(
                    "{} needs `Connection: upgrade` and `Upgrade: {PROTOCOL}`",
                    parts.uri.path()
                ),
            )),
        }
    }
}

/// `101 Switching Protocols` to `stdio_mux_v1`.
pub fn switching() -> Response {
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [(header::CONNECTION, "upgrade"), (header::UPGRADE, PROTOCOL)],
    )
        .into_response()
}

/// Bridges the upgraded client connection and the agent connection until
/// either side ends, or `stop` does (its reason is the client's last
/// frame); `what` names it in the log. `held` lives as long as the relay
/// (a `Busy` hold keeps the VM from idling meanwhile).
pub fn relay(
    on_upgrade: OnUpgrade,
    agent: tokio::net::UnixStream,
    what: String,
    held: impl Send + 'static,
    stop: impl std::future::Future<Output = String> + Send + 'static,
) {
    tokio::spawn(async move {
        let _held = held;
        let relayed = async {
            let client = on_upgrade.await.map_err(std::io::Error::other)?;
            let client = hyper_util::rt::TokioIo::new(client);
            crate::agent::stdio::bridge_until(client, agent, stop).await
        };
        if let Err(e) = relayed.await {
            tracing::debug!(error = %e, "relay for {what} ended");
        }
    });
}
