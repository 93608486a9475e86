//! What every request handler can reach.

use crate::store::Store;
use banger_config::{Config, Paths};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub enum WebState {
    Disabled,
    Listening(SocketAddr),
    /// Configured but could not listen; the reason is shown by `daemon status`.
    Failed(String),
}

#[derive(Debug)]
pub struct AppState {
    pub paths: Paths,
    pub config: Config,
    pub store: Arc<Store>,
    pub web: WebState,
    pub agent_path: Option<PathBuf>,
    pub started_at: u64,
    pub started: Instant,
    pub previous_run_unclean: bool,
    /// Serialises changes to images and kernels, so two requests cannot
    /// race on one name or on a kernel an image is being pointed at.
    pub artifacts: tokio::sync::Mutex<()>,
    /// One lock per VM name: operations on one VM never overlap, while
    /// different VMs boot side by side.
    pub vm_locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// banger's SSH public key, installed in every VM's authorized_keys.
    pub ssh_public: String,
    /// Send `true` to stop the daemon gracefully.
    pub shutdown: watch::Sender<bool>,
}

impl AppState {
    pub async fn vm_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.vm_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(name.to_owned()).or_default().clone()
    }
}
