//! Daemon start-up and shutdown: lock, state, listeners, signals.

mod lock;
mod socket;

pub use lock::{DaemonLock, LockError};
pub use socket::SocketError;

use crate::clock::unix_now;
use crate::state::{AppState, WebState};
use crate::{agent, api, store, web};
use banger_api::vm::VmState;
use banger_config::{Config, Paths, PathsError, ssh_key};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("preparing daemon directories")]
    Dirs(#[from] PathsError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error("opening daemon state")]
    Store(#[from] store::StoreError),
    #[error("preparing banger's SSH key")]
    SshKey(#[from] ssh_key::SshKeyError),
    #[error("serving the API")]
    Serve(#[source] std::io::Error),
    #[error("preparing the web UI's token")]
    WebToken(#[source] std::io::Error),
}

/// Runs the daemon until SIGTERM/SIGINT or an API shutdown request.
pub async fn run(paths: Paths, config: Config) -> Result<(), ServerError> {
    paths.ensure_daemon_dirs()?;
    let _lock = DaemonLock::acquire(&paths.lock_file())?;
    let listener = socket::bind_private(&paths.socket())?;

    let store = Arc::new(store::Store::open(&paths.database())?);
    let run = store.begin_run(std::process::id(), banger_api::VERSION, unix_now())?;
    if run.previous_unclean {
        tracing::warn!("the previous daemon run did not stop cleanly");
    }
    recover(&paths, &store);
    let key = ssh_key::ensure(&config.ssh_key(&paths))?;
    if key.created {
        tracing::info!(path = %key.private_path.display(), fingerprint = %key.fingerprint, "created SSH key");
    }

    let web = match config.web_listen_addr {
        None => (WebState::Disabled, None),
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                let bound = l.local_addr().map_err(ServerError::Serve)?;
                (WebState::Listening(bound), Some(l))
            }
            // The API still works without the UI; say why it is missing.
            Err(e) => {
                tracing::error!(%addr, error = %e, "web UI disabled: cannot listen");
                (
                    WebState::Failed(format!("cannot listen on {addr}: {e}")),
                    None,
                )
            }
        },
    };

    // Chosen once: the host's VMMs and KVM do not change under a running
    // daemon, and every boot then skips the probe.
    let vmm = crate::vmm::choose(&config, &crate::host::Host::real(&config));
    match &vmm {
        Ok(c) => tracing::info!(vmm = c.vmm.backend().as_str(), reason = %c.reason, "VMM chosen"),
        Err(e) => tracing::warn!(error = %e, "no VMM: VMs cannot boot"),
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let events = crate::events::Events::default();
    store.publish_to(events.clone());
    let web_token = web::token::ensure(&paths.web_token()).map_err(ServerError::WebToken)?;
    let state = Arc::new(AppState {
        events,
        web_token,
        vmm,
        agent_path: agent::locate(),
        web: web.0,
        started_at: unix_now(),
        started: Instant::now(),
        previous_run_unclean: run.previous_unclean,
        paths: paths.clone(),
        net: host_net(&config),
        config,
        store: store.clone(),
        artifacts: tokio::sync::Mutex::new(()),
        vm_locks: Default::default(),
        preempt: Default::default(),
        ssh_public: key.public_openssh.clone(),
        metrics: Default::default(),
        busy: Default::default(),
        builds: Default::default(),
        shutdown: shutdown_tx,
        warm: Default::default(),
    });
    tracing::info!(pid = std::process::id(), socket = %paths.socket().display(), version = banger_api::VERSION, "bangerd started");
    // Before any request: a build a killed daemon left must not meet a new
    // build of the same image.
    if let Err(e) = crate::build::recover(&state.vm_env()).await {
        tracing::warn!(error = %e, "removing what interrupted image builds left");
    }
    {
        let state = state.clone();
        let _ = tokio::task::spawn_blocking(move || adopt_network(&state)).await;
    }

    let api_server = axum::serve(listener, api::router(state.clone()))
        .with_graceful_shutdown(stopped(shutdown_rx.clone()));
    let web_server = async {
        match web.1 {
            Some(l) => {
                tracing::info!(url = %format!("http://{}", l.local_addr().map_err(ServerError::Serve)?), "web UI listening");
                axum::serve(l, web::router(state.clone()))
                    .with_graceful_shutdown(stopped(shutdown_rx.clone()))
                    .await
                    .map_err(ServerError::Serve)
            }
            None => Ok(()),
        }
    };
    let monitor = tokio::spawn(crate::monitor::run(state.clone()));
    let warm = tokio::spawn(crate::warm::run(state.clone()));
    let signals = watch_signals(state.shutdown.clone());
    let (api_result, web_result) = tokio::select! {
        r = async { tokio::join!(api_server, web_server) } => r,
        _ = signals => unreachable!("signal watcher only returns by triggering shutdown"),
    };

    monitor.abort();
    warm.abort();
    let _ = warm.await;
    // The pool shrinks with its daemon: warm VMs are no one's.
    let drained = crate::vm::pool::drain(&state.vm_env()).await;
    if drained > 0 {
        tracing::info!(count = drained, "deleted the warm VMs");
    }
    release_network(&state);
    let _ = std::fs::remove_file(paths.socket());
    store.end_run(run.id, unix_now())?;
    tracing::info!("bangerd stopped");
    api_result.map_err(ServerError::Serve)?;
    web_result
}

/// How many VMs run (their VMMs checked).
fn running_vms(state: &AppState) -> Result<usize, crate::vm::VmError> {
    let vms = crate::vm::list(&state.paths, &state.store)?;
    Ok(vms.iter().filter(|v| v.state == VmState::Running).count())
}

/// As root, banger's network commands run as they are; otherwise every
/// change goes through the privileged helper (`sudo -n`), the one program
/// the advised sudoers rule allows.
fn host_net(config: &Config) -> crate::net::HostNet {
    let net = crate::net::HostNet::new(config, Box::new(crate::net::SystemRunner::new()));
    if rustix::process::geteuid().is_root() {
        return net;
    }
    let helper = crate::net::helper::locate().unwrap_or_else(|| {
        tracing::error!("banger-net-helper is not installed beside bangerd: VMs cannot get a network (reinstall banger)");
        crate::net::helper::HELPER_BIN.into()
    });
    net.with_helper(helper)
}

/// A daemon that starts with VMs still running (from before a restart)
/// loads the network rules of its configuration for them at once: a
/// changed `allow_guest_to_guest` applies to running VMs, not only to the
/// next boot.
fn adopt_network(state: &AppState) {
    let running = running_vms(state).unwrap_or(0);
    if running == 0 {
        return;
    }
    match state.net.ensure() {
        Ok(()) => tracing::info!(
            running,
            guest_to_guest = state.net.guest_to_guest,
            "guest network rules loaded for running VMs"
        ),
        Err(e) => tracing::warn!(error = %e, "loading the guest network rules"),
    }
}

/// A daemon that stops with no VM running takes its bridge, TAPs and NAT
/// rules with it; with VMs running, their network stays for them.
fn release_network(state: &AppState) {
    // Unknown counts as running: a network in use is never removed.
    let running = running_vms(state).unwrap_or(1);
    if running > 0 {
        tracing::info!(running, "VMs still run; their network stays");
        return;
    }
    match state.net.teardown() {
        Ok(()) => tracing::info!(bridge = %state.net.bridge, "guest network removed"),
        Err(e) => tracing::warn!(error = %e, "removing the guest network"),
    }
}

/// Removes what interrupted operations left: staging directories, VMs
/// whose create was cut short, and VM, image and kernel directories that
/// no record owns. Never fatal: a
/// leftover that cannot be removed is logged, and the daemon starts.
fn recover(paths: &Paths, store: &store::Store) {
    match crate::staging::clean(paths) {
        Ok(0) => {}
        Ok(count) => tracing::warn!(count, "removed unfinished work from the staging area"),
        Err(e) => tracing::warn!(error = %e, "cleaning the staging area"),
    }
    if let Err(e) = crate::vm::clean_unfinished(paths, store) {
        tracing::warn!(error = %e, "removing what interrupted VM creates left");
    }
    if let Err(e) = crate::image::clean_orphans(paths, store) {
        tracing::warn!(error = %e, "removing image directories no image owns");
    }
    if let Err(e) = crate::kernel::clean_orphans(paths, store) {
        tracing::warn!(error = %e, "removing kernel directories no kernel owns");
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Turns SIGTERM/SIGINT into a graceful shutdown; never returns.
async fn watch_signals(shutdown: watch::Sender<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!(
            "cannot install signal handlers; stop the daemon with `banger daemon stop`"
        );
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    let _ = shutdown.send(true);
    std::future::pending().await
}
