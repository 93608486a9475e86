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
    /// Send `true` to stop the daemon gracefully.
    pub shutdown: watch::Sender<bool>,
}
