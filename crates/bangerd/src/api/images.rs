//! `/v1/images`.

use super::{ApiFailure, StrictJson, blocking, streamed};
use crate::image::{self, ImageError};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use banger_api::image::{Image, ImageDeleted, PromoteImage, PullImage, RegisterImage};
use banger_api::progress::{Progress, Stage};
use std::sync::Arc;

fn fail(e: ImageError) -> ApiFailure {
    ApiFailure::from_error(e.kind(), &e)
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Vec<Image>>, ApiFailure> {
    blocking(move || image::list(&state.store).map(Json).map_err(fail)).await
}

pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Image>, ApiFailure> {
    blocking(move || image::get(&state.store, &name).map(Json).map_err(fail)).await
}

pub async fn register(
    State(state): State<Arc<AppState>>,
    StrictJson(req): StrictJson<RegisterImage>,
) -> Result<Json<Image>, ApiFailure> {
    let _guard = state.artifacts.lock().await;
    let name = req.name.clone();
    let st = state.clone();
    let image =
        blocking(move || image::register(&st.store, req, crate::clock::unix_now()).map_err(fail))
            .await?;
    tracing::info!(image = %name, "registered image");
    Ok(Json(image))
}

pub async fn promote(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    StrictJson(PromoteImage {}): StrictJson<PromoteImage>,
) -> Response {
    streamed(move |progress| async move {
        let _guard = state.artifacts.lock().await;
        let st = state.clone();
        let image = blocking(move || {
            let mut throttle = super::Throttle::default();
            image::promote(&st.paths, &st.store, &name, &mut |what, done, total| {
                if throttle.due(what, done, total) {
                    progress.try_send(Progress::bytes(Stage::Copy, what, done, Some(total)));
                }
            })
            .map_err(fail)
        })
        .await?;
        tracing::info!(image = %image.name, "promoted image");
        Ok::<_, ApiFailure>(image)
    })
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<ImageDeleted>, ApiFailure> {
    let _guard = state.artifacts.lock().await;
    // Warm VMs are no one's: they never keep an image from going.
    let released = crate::vm::pool::release_image(&state.vm_env(), &name).await;
    if released > 0 {
        tracing::info!(image = %name, count = released, "deleted the image's warm VMs");
    }
    let st = state.clone();
    let deleted =
        blocking(move || image::delete(&st.paths, &st.store, &name).map_err(fail)).await?;
    tracing::info!(image = %deleted.name, "deleted image");
    Ok(Json(deleted))
}

pub async fn pull(
    State(state): State<Arc<AppState>>,
    StrictJson(req): StrictJson<PullImage>,
) -> Response {
    streamed(move |progress| async move {
        // Downloads run outside the artifacts lock (a long pull must not
        // hold up other image work); the name is checked again at INSERT.
        let env = image::oci::PullEnv {
            paths: &state.paths,
            store: &state.store,
            agent: state.agent_path.as_deref(),
            insecure_registries: &state.config.insecure_registries,
        };
        let mut send = |p: Progress| progress.try_send(p);
        let image = image::oci::pull(&env, req, crate::clock::unix_now(), &mut send)
            .await
            .map_err(|e| ApiFailure::from_error(e.kind(), &e))?;
        Ok::<_, ApiFailure>(image)
    })
}
