//! Preparing a workspace through the daemon, shared by `vm workspace
//! prepare` and `vm run`: the path checked, the stream's progress shown,
//! the result described in one line.

use crate::progress::ProgressView;
use banger_api::client::Client;
use banger_api::progress::Progress;
use banger_api::routes;
use banger_api::workspace::{PrepareWorkspace, Workspace};
use std::path::Path;

/// The absolute form of a user's path, with a clear error if it is missing.
pub fn absolute(path: &Path) -> anyhow::Result<String> {
    let abs =
        std::fs::canonicalize(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(abs.display().to_string())
}

pub async fn prepare(
    client: &Client,
    vm: &str,
    req: &PrepareWorkspace,
) -> anyhow::Result<Workspace> {
    let mut view = ProgressView::new();
    let ws: Workspace = client
        .stream(&routes::vm_action(vm, "workspace"), req, |p: Progress| {
            view.update(p)
        })
        .await?;
    drop(view);
    Ok(ws)
}

pub fn describe(ws: &Workspace) -> String {
    format!(
        "{}:{} <- {} ({}{}, HEAD {}{}, {} files, {:.1} MiB)",
        ws.vm,
        ws.guest_path,
        ws.host_path,
        ws.mode.as_str(),
        if ws.readonly { ", read-only" } else { "" },
        &ws.head[..12.min(ws.head.len())],
        ws.branch
            .as_deref()
            .map_or(String::new(), |b| format!(" on {b}")),
        ws.files,
        ws.bytes as f64 / (1 << 20) as f64
    )
}
