//! `/healthz` (alive) and `/readyz` (ready to take data).

use axum::extract::State;
use axum::http::StatusCode;

use crate::state::AppState;

pub async fn healthz() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok\n")
}

/// Ready once serving. Saturated intake stays ready: the excess gets 429
/// with Retry-After, which senders retry, while a failed probe would take
/// the engine out of its Service and refuse everything, the console too.
/// A failing incidents database leaves the engine ready as well (intake
/// and detection go on, and taking it out of service would lose the data
/// that is still arriving). The answer says which.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let saturated = if state.ingest_slots.available_permits() == 0 {
        "; intake saturated: every ingest slot is busy, excess requests get 429"
    } else {
        ""
    };
    let writes = state.incident_writes.status();
    let Some(outage) = writes.outage else {
        if saturated.is_empty() {
            return (StatusCode::OK, "ready\n".into());
        }
        return (StatusCode::OK, format!("ready, degraded{saturated}\n"));
    };
    let down_s = (state.clock.now_ms() - outage.since_ms).max(0) / 1000;
    (
        StatusCode::OK,
        format!(
            "ready, degraded: incidents database failing for {down_s} s ({}); {} incident writes queued, {} given up; intake and detection go on{saturated}\n",
            outage.error, writes.queued, writes.dropped
        ),
    )
}
