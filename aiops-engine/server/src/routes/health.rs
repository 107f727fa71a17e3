//! `/healthz` (alive) and `/readyz` (ready to take data).

use axum::extract::State;
use axum::http::StatusCode;

use crate::state::AppState;

pub async fn healthz() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok\n")
}

/// Ready while an ingest slot can be had; saturated intake is not ready.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.ingest_slots.available_permits() == 0 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: intake saturated\n",
        );
    }
    (StatusCode::OK, "ready\n")
}
