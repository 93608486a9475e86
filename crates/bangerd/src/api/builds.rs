//! `/v1/builds`: `image build` and filling the build cache.

use super::{ApiFailure, StrictJson, streamed};
use crate::build::{self, fetch::Cache};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use banger_api::image::{BuildImage, BuildToolsCached, DownloadBuildTools, Image};
use banger_api::progress::Progress;
use std::sync::Arc;

fn cache(state: &AppState) -> Cache {
    Cache {
        dir: state
            .config
            .build_cache_dir
            .clone()
            .unwrap_or_else(|| state.paths.build_cache_dir()),
        registry: state.config.npm_registry.clone(),
        debian_mirror: state.config.debian_mirror.clone(),
    }
}

/// A build stops (and cleans up) when its client goes away: the progress
/// stream's reader is the client's connection.
struct ClientGone(super::stream::Progress<Progress, Image>);

impl build::Cancel for ClientGone {
    fn is_cancelled(&self) -> bool {
        self.0.is_gone()
    }
}

/// `POST /v1/builds`: NDJSON progress, then the image.
pub async fn build(
    State(state): State<Arc<AppState>>,
    StrictJson(req): StrictJson<BuildImage>,
) -> Response {
    streamed(move |progress| async move {
        let gone = ClientGone(progress.clone());
        let mut send = |p: Progress| progress.try_send(p);
        // One build at a time fills the cache and boots a build VM.
        let _one = state.builds.lock().await;
        let image = build::build(&state.vm_env(), &cache(&state), req, &gone, &mut send)
            .await
            .map_err(|e| ApiFailure::from_error(e.kind(), &e))?;
        Ok::<_, ApiFailure>(image)
    })
}

/// `POST /v1/builds/download`: what a build installs, into the build cache.
pub async fn download(
    State(state): State<Arc<AppState>>,
    StrictJson(req): StrictJson<DownloadBuildTools>,
) -> Response {
    streamed(move |progress| async move {
        let mut send = |p: Progress| progress.try_send(p);
        let _one = state.builds.lock().await;
        let cache = cache(&state);
        let pins = build::tools::pins();
        let downloaded = build::fetch::ensure(&cache, &pins, &mut send)
            .await
            .map_err(|e| ApiFailure::from_error(banger_api::ErrorKind::Internal, &e))?;
        let mut packages: Vec<String> = [&pins.node, &pins.npm]
            .iter()
            .map(|p| p.spec())
            .chain(pins.tools.iter().map(|t| t.spec()))
            .collect();
        if req.docker {
            let env = state.vm_env();
            let Some(from) = req.from_image.as_deref() else {
                return Err(ApiFailure::message(
                    axum::http::StatusCode::BAD_REQUEST,
                    "`docker` needs `from_image`: the base whose release the packages are for",
                ));
            };
            let base =
                build::base_image(&env, from).map_err(|e| ApiFailure::from_error(e.kind(), &e))?;
            let docker = build::docker_inputs(&env, &cache, &base, &mut send)
                .await
                .map_err(|e| ApiFailure::from_error(e.kind(), &e))?;
            packages.extend(
                docker
                    .debs
                    .iter()
                    .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned())),
            );
        }
        Ok::<_, ApiFailure>(BuildToolsCached {
            cache: cache.dir.display().to_string(),
            packages,
            downloaded,
        })
    })
}
