//! The pages: one HTML shell each (the token in a meta tag, no data), and
//! the script and style sheet, all embedded in the daemon binary. The
//! script fills the page from the JSON routes and follows `/events`.

use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use std::sync::Arc;

const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

pub async fn overview(State(state): State<Arc<AppState>>) -> Html<String> {
    shell(&state, "overview", "", "banger")
}

pub async fn vm(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Html<String> {
    let title = format!("{name} · banger");
    shell(&state, "vm", &name, &title)
}

pub async fn artifacts(State(state): State<Arc<AppState>>) -> Html<String> {
    shell(&state, "artifacts", "", "images and kernels · banger")
}

pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

fn shell(state: &AppState, page: &str, vm: &str, title: &str) -> Html<String> {
    let base = format!("/{}", state.web_token);
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<link rel=\"stylesheet\" href=\"{base}/assets/style.css\">\n\
         </head><body data-base=\"{base}\" data-page=\"{page}\" data-vm=\"{vm}\">\n\
         <header><a class=\"brand\" href=\"{base}/\">banger</a>\
         <nav><a href=\"{base}/\">Overview</a><a href=\"{base}/artifacts\">Images and kernels</a></nav>\
         <span id=\"live\" class=\"live off\" title=\"live updates\">connecting</span></header>\n\
         <main id=\"app\"><noscript>This page needs JavaScript; the same data is at \
         <a href=\"{base}/v1/vms\">v1/vms</a>, <a href=\"{base}/v1/images\">v1/images</a>, \
         <a href=\"{base}/v1/kernels\">v1/kernels</a>.</noscript></main>\n\
         <script src=\"{base}/assets/app.js\"></script>\n</body></html>\n",
        title = escape(title),
        vm = escape(vm),
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
