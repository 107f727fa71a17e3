//! `/healthz` (alive) and `/readyz` (ready to take data).

use axum::extract::State;
use axum::http::StatusCode;

use crate::state::AppState;

pub async fn healthz() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok\n")
}

/// Ready while an ingest slot can be had; saturated intake is not ready.
/// A failing incidents database leaves the engine ready (intake and
/// detection go on, and taking it out of service would lose the data that
/// is still arriving) but the answer says so, with the writes it holds.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    if state.ingest_slots.available_permits() == 0 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: intake saturated\n".into(),
        );
    }
    let writes = state.incident_writes.status();
    let Some(outage) = writes.outage else {
        return (StatusCode::OK, "ready\n".into());
    };
    let down_s = (state.clock.now_ms() - outage.since_ms).max(0) / 1000;
    (
        StatusCode::OK,
        format!(
            "ready, degraded: incidents database failing for {down_s} s ({}); {} incident writes queued, {} given up; intake and detection go on\n",
            outage.error, writes.queued, writes.dropped
        ),
    )
}
