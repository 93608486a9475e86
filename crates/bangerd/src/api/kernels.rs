//! `/v1/kernels`.

use super::blocking;
use super::{ApiFailure, StrictJson, streamed};
use crate::kernel::{self, KernelError, catalog};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use banger_api::kernel::{
    AvailableKernel, Catalog, ImportKernel, Kernel, KernelDeleted, PullKernel,
};
use banger_api::progress::Progress;
use std::sync::Arc;

fn fail(e: KernelError) -> ApiFailure {
    ApiFailure::from_error(e.kind(), &e)
}

fn location(state: &AppState) -> Result<catalog::Location, ApiFailure> {
    catalog::Location::parse(state.config.kernel_catalog.as_deref()).map_err(|e| fail(e.into()))
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Vec<Kernel>>, ApiFailure> {
    blocking(move || {
        kernel::list(&state.paths, &state.store)
            .map(Json)
            .map_err(fail)
    })
    .await
}

pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Kernel>, ApiFailure> {
    blocking(move || {
        kernel::get(&state.paths, &state.store, &name)
            .map(Json)
            .map_err(fail)
    })
    .await
}

pub async fn available(State(state): State<Arc<AppState>>) -> Result<Json<Catalog>, ApiFailure> {
    blocking(move || {
        let location = location(&state)?;
        let doc = catalog::load(&location).map_err(|e| fail(e.into()))?;
        let pulled: Vec<String> = kernel::list(&state.paths, &state.store)
            .map_err(fail)?
            .into_iter()
            .map(|k| k.name)
            .collect();
        let kernels = doc
            .kernels
            .into_iter()
            .map(|k| AvailableKernel {
                pulled: pulled.contains(&k.name),
                download_bytes: k.artifacts.as_ref().map(|a| {
                    a.kernel.size
                        + a.initrd.as_ref().map_or(0, |x| x.size)
                        + a.modules.as_ref().map_or(0, |x| x.size)
                }),
                name: k.name,
                version: k.version,
                arch: k.arch,
                description: k.description,
            })
            .collect();
        Ok(Json(Catalog {
            location: location.to_string(),
            kernels,
        }))
    })
    .await
}

pub async fn pull(
    State(state): State<Arc<AppState>>,
    StrictJson(req): StrictJson<PullKernel>,
) -> Response {
    streamed(move |progress| async move {
        let _guard = state.artifacts.lock().await;
        let st = state.clone();
        let k = blocking(move || {
            let location = location(&st)?;
            let mut throttle = super::Throttle::default();
            let archive = kernel::debian::Archive {
                mirror: st.config.debian_mirror.clone(),
                keyring: st.config.debian_keyring.clone(),
            };
            kernel::pull(
                &st.paths,
                &st.store,
                &location,
                &archive,
                &req.name,
                st.agent_path.as_deref(),
                &mut |p: Progress| {
                    let due = match (p.done, p.total) {
                        (Some(d), Some(t)) => throttle.due(&p.detail, d, t),
                        _ => true,
                    };
                    if due {
                        progress.try_send(p);
                    }
                },
            )
            .map_err(fail)
        })
        .await?;
        tracing::info!(kernel = %k.name, "pulled kernel");
        Ok::<_, ApiFailure>(k)
    })
}

pub async fn import(
    State(state): State<Arc<AppState>>,
    StrictJson(req): StrictJson<ImportKernel>,
) -> Response {
    streamed(move |progress| async move {
        let _guard = state.artifacts.lock().await;
        let st = state.clone();
        let k = blocking(move || {
            kernel::import(
                &st.paths,
                &st.store,
                req,
                st.agent_path.as_deref(),
                &mut |p| progress.try_send(p),
            )
            .map_err(fail)
        })
        .await?;
        tracing::info!(kernel = %k.name, source = %k.source, "imported kernel");
        Ok::<_, ApiFailure>(k)
    })
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<KernelDeleted>, ApiFailure> {
    let _guard = state.artifacts.lock().await;
    let st = state.clone();
    blocking(move || {
        kernel::delete(&st.paths, &st.store, &name)
            .map(|()| Json(KernelDeleted { name }))
            .map_err(fail)
    })
    .await
}
