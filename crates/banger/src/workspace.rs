//! Preparing a workspace through the daemon, shared by `vm workspace
//! prepare` and `vm run`: the path checked, the stream's progress shown,
//! the result described in one line.

use crate::progress::ProgressView;
use banger_api::client::Client;
use banger_api::progress::Progress;
use banger_api::routes;
use banger_api::workspace::{PrepareWorkspace, Workspace, WorkspaceCheck, WorkspaceMode};
use clap::ValueEnum;
use std::path::Path;

/// `--mode`, in both spellings (the API's `full_copy` and `full-copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// git metadata at depth 1, the working tree and index as they are (default)
    #[value(alias = "shallow_overlay")]
    ShallowOverlay,
    /// git metadata at depth 1, files checked out from HEAD
    #[value(alias = "metadata_only")]
    MetadataOnly,
    /// the whole directory: full history, submodules, ignored files
    #[value(alias = "full_copy")]
    FullCopy,
}

impl From<Mode> for WorkspaceMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::ShallowOverlay => WorkspaceMode::ShallowOverlay,
            Mode::MetadataOnly => WorkspaceMode::MetadataOnly,
            Mode::FullCopy => WorkspaceMode::FullCopy,
        }
    }
}

/// The daemon's verdict on `req` without a VM: a refusal costs nothing.
pub async fn check(client: &Client, req: &PrepareWorkspace) -> anyhow::Result<WorkspaceCheck> {
    Ok(client.post(routes::WORKSPACE_CHECK, req).await?)
}

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
    let head = match &ws.head {
        Some(h) => format!("HEAD {}", &h[..12.min(h.len())]),
        None => "no commit yet".into(),
    };
    let subs = match (ws.submodules, ws.populated_submodules) {
        (0, _) => String::new(),
        (n, p) => format!(", {n} submodule(s), {p} populated"),
    };
    format!(
        "{}:{} <- {} ({}{}, {head}{}{subs}, {} files, {:.1} MiB)",
        ws.vm,
        ws.guest_path,
        ws.host_path,
        ws.mode.as_str(),
        if ws.readonly { ", read-only" } else { "" },
        ws.branch
            .as_deref()
            .map_or(String::new(), |b| format!(" on {b}")),
        ws.files,
        ws.bytes as f64 / (1 << 20) as f64
    )
}
