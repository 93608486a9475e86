//! The daemon's service that keeps the warm pool (vm/pool.rs) filled: one
//! warm VM booted at a time (a boot takes the host's CPU; two at once only
//! slow each other and the user's VMs), woken by a claim or every few
//! seconds; warm VMs that died, of images no longer kept warm or beyond
//! `warm_pool_size` are deleted. It grows the pool only while the host has
//! a warm VM's memory and a margin to spare. A boot that fails is retried
//! after a minute, and the failure is what `daemon status` shows.

use crate::state::AppState;
use crate::store::Warm;
use crate::vm::pool;
use std::sync::Arc;
use std::time::Duration;

/// How often the pool is looked at without a claim waking it.
const EVERY: Duration = Duration::from_secs(5);
/// How long after a failed boot the pool tries again.
const AFTER_FAILURE: Duration = Duration::from_secs(60);

/// The service's wake-up, and why the pool is short: the last failed boot
/// (until a boot succeeds) or images named that do not exist (looked at
/// every round).
#[derive(Debug, Default)]
pub struct WarmStatus {
    pub wake: tokio::sync::Notify,
    failed_boot: std::sync::Mutex<Option<String>>,
    missing: std::sync::Mutex<Option<String>>,
}

impl WarmStatus {
    pub fn last_error(&self) -> Option<String> {
        let get = |m: &std::sync::Mutex<Option<String>>| {
            m.lock().unwrap_or_else(|p| p.into_inner()).clone()
        };
        get(&self.failed_boot).or_else(|| get(&self.missing))
    }

    fn set(m: &std::sync::Mutex<Option<String>>, e: Option<String>) {
        *m.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }
}

/// Runs until the daemon stops. Starts by deleting the warm VMs a previous
/// daemon left (the pool never outlives its daemon; see `drain`).
pub async fn run(state: Arc<AppState>) {
    let left = pool::drain(&state.vm_env()).await;
    if left > 0 {
        tracing::info!(count = left, "deleted warm VMs a previous daemon left");
    }
    loop {
        let wait = round(&state).await;
        tokio::select! {
            _ = state.warm.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One look at the pool: remove what it should not hold, then boot one
/// warm VM where an image is short. How long to wait before the next.
async fn round(state: &AppState) -> Duration {
    let env = state.vm_env();
    if env.config.warm_pool_size == 0 {
        return Duration::from_secs(3600);
    }
    match pool::surplus(&env) {
        Ok(extra) => {
            for vm in extra {
                let lock = state.vm_lock(&vm.name).await;
                let _guard = lock.lock().await;
                if pool::take_and_remove(&env, &vm, true).await {
                    tracing::info!(vm = %vm.name, "removed a warm VM the pool no longer holds");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "looking at the warm pool"),
    }
    let members = pool::members(&env).unwrap_or_default();
    let images = pool::images(&env);
    let missing: Vec<&String> = images
        .iter()
        .filter(|i| !matches!(env.store.image(i), Ok(Some(_))))
        .collect();
    WarmStatus::set(
        &state.warm.missing,
        (!missing.is_empty()).then(|| {
            let names: Vec<String> = missing.iter().map(|i| format!("`{i}`")).collect();
            format!("no image named {} to keep warm", names.join(", "))
        }),
    );
    for image in &images {
        let Ok(Some(img)) = env.store.image(image) else {
            continue;
        };
        let held = members.iter().filter(|v| v.image_id == img.id).count();
        if held as u32 >= env.config.warm_pool_size {
            continue;
        }
        let Ok((_, memory, _)) = crate::vm::default_size(&env) else {
            return EVERY;
        };
        if !pool::room_for(memory) {
            tracing::debug!(image, "no memory to spare for another warm VM");
            return EVERY;
        }
        return match pool::fill_one(&env, image).await {
            Ok(_) => {
                WarmStatus::set(&state.warm.failed_boot, None);
                Duration::ZERO
            }
            Err(e) => {
                let chain = banger_api::ApiError::from_chain(e.kind(), &e).chain;
                let msg = format!("booting a warm VM of `{image}`: {}", chain.join(": "));
                tracing::warn!("{msg}");
                WarmStatus::set(&state.warm.failed_boot, Some(msg));
                AFTER_FAILURE
            }
        };
    }
    EVERY
}

/// Counts for `daemon status`: per image kept warm, ready and booting VMs.
pub fn summary(state: &AppState) -> banger_api::daemon::WarmPool {
    let env = state.vm_env();
    let members = pool::members(&env).unwrap_or_default();
    let images = pool::images(&env)
        .into_iter()
        .map(|image| {
            let id = env.store.image(&image).ok().flatten().map(|i| i.id);
            let of = |w: Warm| {
                members
                    .iter()
                    .filter(|v| Some(&v.image_id) == id.as_ref() && v.warm == Some(w))
                    .count() as u32
            };
            banger_api::daemon::WarmPoolImage {
                ready: of(Warm::Ready),
                booting: of(Warm::Booting),
                image,
            }
        })
        .collect();
    banger_api::daemon::WarmPool {
        size: env.config.warm_pool_size,
        images,
        memory_mib: members.iter().map(|v| u64::from(v.memory_mib)).sum(),
        last_error: state.warm.last_error(),
    }
}
