//! The HTML page. Server-rendered, no scripts: it works in any browser and
//! shows the same data as the JSON routes.

use crate::state::AppState;
use axum::extract::State;
use axum::response::Html;
use std::sync::Arc;

pub async fn index(State(state): State<Arc<AppState>>) -> Html<String> {
    let st = state.clone();
    let vms = tokio::task::spawn_blocking(move || {
        crate::vm::list(&st.paths, &st.store).map(|vms| {
            vms.into_iter()
                .map(|v| st.with_metrics(v))
                .collect::<Vec<_>>()
        })
    })
    .await;
    let vm_rows: String = match vms {
        Ok(Ok(vms)) if vms.is_empty() => "<tr><td colspan=\"7\">no VMs</td></tr>\n".into(),
        Ok(Ok(vms)) => vms
            .iter()
            .map(|v| {
                let cpu = v.cpu_percent.map_or("-".into(), |c| format!("{c:.0}%"));
                let rss = v.rss_mib.map_or("-".into(), |r| format!("{r} MiB"));
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{cpu}</td><td>{rss}</td></tr>\n",
                    escape(&v.name),
                    v.state.as_str(),
                    escape(&v.image),
                    escape(v.ip.as_deref().unwrap_or("-")),
                    escape(&v.backend)
                )
            })
            .collect(),
        _ => "<tr><td colspan=\"7\">cannot list VMs (see the daemon log)</td></tr>\n".into(),
    };
    let uptime = state.started.elapsed().as_secs();
    let rows = [
        ("version", banger_api::VERSION.to_owned()),
        ("pid", std::process::id().to_string()),
        (
            "uptime",
            format!("{}h {}m {}s", uptime / 3600, uptime / 60 % 60, uptime % 60),
        ),
        ("socket", state.paths.socket().display().to_string()),
        ("data dir", state.paths.data_dir.display().to_string()),
        ("log file", state.paths.log_file().display().to_string()),
        ("vmm", state.config.vmm.as_str().to_owned()),
    ];
    let rows: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(k), escape(v)))
        .collect();
    Html(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>banger</title>\n\
         <style>body{{font-family:system-ui,sans-serif;margin:2em}}th{{text-align:left;padding-right:2em}}</style>\n\
         </head><body><h1>banger</h1>\n<h2>Daemon</h2>\n<table>\n{rows}</table>\n\
         <h2>VMs</h2>\n<table>\n<tr><th>name</th><th>state</th><th>image</th><th>ip</th><th>vmm</th><th>cpu</th><th>rss</th></tr>\n{vm_rows}</table>\n\
         <p>JSON: <a href=\"/v1/daemon/status\">/v1/daemon/status</a>, <a href=\"/v1/vms\">/v1/vms</a>, \
         <a href=\"/v1/images\">/v1/images</a>, <a href=\"/v1/kernels\">/v1/kernels</a></p>\n</body></html>\n"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
