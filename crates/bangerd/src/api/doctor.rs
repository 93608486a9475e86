//! `POST /v1/doctor`: host checks, streamed one by one.

use super::{StrictJson, streamed};
use crate::doctor;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use banger_api::doctor::DoctorRequest;
use std::sync::Arc;

pub async fn run(
    State(state): State<Arc<AppState>>,
    StrictJson(DoctorRequest {}): StrictJson<DoctorRequest>,
) -> Response {
    streamed(move |progress| async move {
        let host = doctor::Host::real(&state.config);
        Ok(doctor::run(
            &host,
            &state.config,
            &state.paths,
            state.agent_path.as_deref(),
            |check| progress.send(check),
        )
        .await)
    })
}
