//! The local web UI: a second listener (TCP, `web_listen_addr`) over the
//! same handlers, read-only. It never exposes anything that changes state,
//! and it answers only requests addressed to an IP literal or localhost so
//! a hostile web page cannot reach it through DNS rebinding.

mod page;

use crate::api::{ApiFailure, read_only_routes};
use crate::state::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use std::sync::Arc;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(page::index))
        .merge(read_only_routes())
        .layer(middleware::from_fn(local_host_only))
        .with_state(state)
}

async fn local_host_only(req: Request, next: Next) -> Result<Response, ApiFailure> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if is_local_host(host) {
        Ok(next.run(req).await)
    } else {
        Err(ApiFailure::message(
            StatusCode::FORBIDDEN,
            format!(
                "the banger web UI only answers requests for localhost or an IP address, not `{host}`"
            ),
        ))
    }
}

fn is_local_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_ip_literals_and_localhost() {
        for ok in [
            "127.0.0.1:7777",
            "localhost:7777",
            "[::1]:7777",
            "localhost",
            "10.0.0.5",
        ] {
            assert!(super::is_local_host(ok), "{ok}");
        }
        for bad in ["evil.example:7777", "", "127.0.0.1.nip.io:7777"] {
            assert!(!super::is_local_host(bad), "{bad}");
        }
    }
}
