//! `POST /api/v1/alerts/alertmanager`: Alertmanager's webhook (payload
//! version 4), at-least-once: a redelivered episode is stored once.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;

use super::IngestRejection;
use crate::state::AppState;
use crate::telemetry::KindLabels;

pub const ENDPOINT: &str = "alertmanager";

pub async fn webhook(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<StatusCode, IngestRejection> {
    let events = aiops_ingest::decode_alertmanager(&body, &state.config.limits)
        .inspect_err(|e| state.metrics.reject(ENDPOINT, e.reason()))?;
    let now = state.clock.now_ms();
    {
        // the correlator keys alerts by fingerprint, so a redelivery is an update
        let mut analysis = state.analysis.lock();
        for event in &events {
            analysis.observe_alert(event, now);
        }
    }
    let outcome = state.alerts.record(events, now);
    state
        .metrics
        .alerts_received
        .get_or_create(&KindLabels { kind: "new" })
        .inc_by(outcome.new);
    state
        .metrics
        .alerts_received
        .get_or_create(&KindLabels { kind: "duplicate" })
        .inc_by(outcome.duplicates);
    if outcome.invalid > 0 {
        state
            .metrics
            .alerts_received
            .get_or_create(&KindLabels { kind: "invalid" })
            .inc_by(outcome.invalid);
    }
    Ok(StatusCode::OK)
}
