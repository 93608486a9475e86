//! The local web UI: a second listener (TCP, `web_listen_addr`) with pages
//! that follow the daemon live, over the same handlers as the API, read-only.
//!
//! Three guards: it answers only requests addressed to an IP literal or
//! localhost (no DNS rebinding), every path starts with the daemon's secret
//! token (`token.rs`: other local users reach localhost too), and nothing
//! reachable changes state. Pages never put the token in a Referer
//! (`no-referrer`), run only the daemon's own script (CSP) and cannot be
//! framed.

mod data;
mod live;
mod pages;
mod text;
pub mod token;

use crate::api::{ApiFailure, read_only_routes};
use crate::state::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use std::sync::Arc;
use tower::ServiceExt;

pub fn router(state: Arc<AppState>) -> Router {
    let inner = Router::new()
        .route("/", get(pages::overview))
        .route("/vms/{name}", get(pages::vm))
        .route("/artifacts", get(pages::artifacts))
        .route("/assets/app.js", get(pages::script))
        .route("/assets/style.css", get(pages::style))
        .route("/ui/overview", get(data::overview))
        .route("/ui/vms/{name}", get(data::vm))
        .route("/ui/vms/{name}/ports", get(data::ports))
        .route("/events", get(live::events))
        .route("/vms/{name}/console/live", get(live::console))
        .route("/vms/{name}/sessions/{session}/live", get(live::session))
        .merge(read_only_routes())
        .with_state(state.clone());
    let token = state.web_token.clone();
    Router::new()
        .fallback(move |req: Request| gate(token.clone(), inner.clone(), req))
        .layer(middleware::from_fn(headers))
        .layer(middleware::from_fn(local_host_only))
}

/// `/TOKEN/rest` is `/rest` of the pages; anything else is refused.
async fn gate(token: String, inner: Router, mut req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let rest = path.strip_prefix('/').unwrap_or(&path);
    let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if !token::same(first, &token) {
        return ApiFailure::message(
            StatusCode::FORBIDDEN,
            "this address lacks the web UI's token; `banger daemon status` prints the whole address",
        )
        .into_response();
    }
    if !rest.contains('/') {
        return Redirect::permanent(&format!("/{token}/")).into_response();
    }
    let mut rewritten = format!("/{tail}");
    if let Some(q) = req.uri().query() {
        rewritten.push('?');
        rewritten.push_str(q);
    }
    match rewritten.parse::<Uri>() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    }
    match inner.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

async fn headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in [
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
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
