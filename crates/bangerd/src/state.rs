//! What every request handler can reach.

use crate::store::Store;
use banger_config::{Config, Paths};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Samples of a VM's resource use kept for the web UI's sparklines.
pub const METRICS_KEPT: usize = 60;

pub type MetricsHistory = std::collections::VecDeque<(u64, crate::vmm::metrics::Metrics)>;

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
    /// Claims of `vm stop`/`vm delete` that long guest work gives way to.
    pub preempt: crate::preempt::Preempt,
    /// banger's SSH public key, installed in every VM's authorized_keys.
    pub ssh_public: String,
    /// Recent resource use of each running VM's VMM (oldest first, the
    /// last `METRICS_KEPT` samples with their unix time), by VM id.
    pub metrics: std::sync::Mutex<std::collections::HashMap<String, MetricsHistory>>,
    /// What changed, for the web UI's live pages.
    pub events: crate::events::Events,
    /// The web UI's secret first path segment.
    pub web_token: String,
    /// One image build (or build-cache fill) at a time.
    pub builds: tokio::sync::Mutex<()>,
    /// `vm exec` commands in flight, which keep their VM from idling.
    pub busy: crate::vm::idle::Busy,
    /// The guests' bridge, TAPs and NAT on the host.
    pub net: crate::net::HostNet,
    /// The VMM chosen at start (`vmm = auto` decided once), or why none.
    pub vmm: crate::vmm::VmmSlot,
    /// Send `true` to stop the daemon gracefully.
    pub shutdown: watch::Sender<bool>,
    /// The warm pool's service: its wake-up and last failure.
    pub warm: crate::warm::WarmStatus,
}

impl AppState {
    /// What VM operations need, borrowed from the daemon's state.
    pub fn vm_env(&self) -> crate::vm::VmEnv<'_> {
        crate::vm::VmEnv {
            paths: &self.paths,
            store: &self.store,
            config: &self.config,
            agent: self.agent_path.as_deref(),
            ssh_public: &self.ssh_public,
            net: &self.net,
            vmm: &self.vmm,
        }
    }

    pub async fn vm_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.vm_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(name.to_owned()).or_default().clone()
    }

    pub fn set_metrics(&self, vm_id: &str, at: u64, m: crate::vmm::metrics::Metrics) {
        let mut all = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        let history = all.entry(vm_id.to_owned()).or_default();
        if history.len() == METRICS_KEPT {
            history.pop_front();
        }
        history.push_back((at, m));
    }

    /// A VM's recent samples, oldest first.
    pub fn metrics_history(&self, vm_id: &str) -> Vec<(u64, crate::vmm::metrics::Metrics)> {
        let all = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        all.get(vm_id)
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn clear_metrics(&self, vm_id: &str) {
        let mut all = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        all.remove(vm_id);
    }

    /// Adds the latest metrics to a VM as the API shows it.
    pub fn with_metrics(&self, mut vm: banger_api::vm::Vm) -> banger_api::vm::Vm {
        let all = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, m)) = all
            .get(&vm.id)
            .filter(|_| vm.state == banger_api::vm::VmState::Running)
            .and_then(|h| h.back())
        {
            vm.cpu_percent = Some(m.cpu_percent);
            vm.rss_mib = Some(m.rss_mib);
        }
        vm
    }
}
