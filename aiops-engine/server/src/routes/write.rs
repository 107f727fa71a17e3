//! `POST /api/v1/write`: Prometheus remote-write 1.0 and 2.0.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{IngestRejection, header_str, on_ingest_worker};
use crate::state::AppState;
use crate::telemetry::{RejectLabels, SourceLabels};

pub const ENDPOINT: &str = "remote_write";

pub async fn remote_write(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IngestRejection> {
    let content_type = header_str(&headers, "content-type").map(str::to_string);
    let content_encoding = header_str(&headers, "content-encoding").map(str::to_string);
    let limits = state.config.limits.clone();
    // Decode and append in one go: the store takes the series while their
    // strings still borrow from the decompressed body, so only new series
    // copy label strings.
    let store = state.series.clone();
    let clock = state.clock.clone();
    let (version, ignored, written, outcome) = on_ingest_worker(&state, move || {
        aiops_ingest::decode_remote_write_with(
            content_type.as_deref(),
            content_encoding.as_deref(),
            &body,
            &limits,
            |view| {
                let outcome = store.append_refs(view.series, clock.now_ms());
                (view.version, view.ignored, view.written, outcome)
            },
        )
    })
    .await?
    .inspect_err(|e| state.metrics.reject(ENDPOINT, e.reason()))?;
    if outcome.samples_appended > 0 {
        state.remediation.saw_telemetry(state.clock.now_ms());
    }

    for (kind, n) in [
        ("histogram", ignored.histograms),
        ("exemplar", ignored.exemplars),
        ("metadata", ignored.metadata),
    ] {
        if n > 0 {
            state
                .metrics
                .ignored
                .get_or_create(&crate::telemetry::KindLabels { kind })
                .inc_by(n);
        }
    }
    let source = match version {
        aiops_ingest::RemoteWriteVersion::V1 => "remote_write_v1",
        aiops_ingest::RemoteWriteVersion::V2 => "remote_write_v2",
    };
    state
        .metrics
        .samples_ingested
        .get_or_create(&SourceLabels { source })
        .inc_by(outcome.samples_appended);
    count_store_rejects(&state, ENDPOINT, &outcome.rejected);

    let mut response = StatusCode::NO_CONTENT.into_response();
    if version == aiops_ingest::RemoteWriteVersion::V2 {
        // What was really stored: the store may have refused some samples.
        let mut written = written;
        written.samples = outcome.samples_appended + outcome.rejected.duplicate;
        for (name, value) in written.headers() {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name),
                HeaderValue::try_from(value.to_string()),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    Ok(response)
}

/// Counts what the store refused, by reason, under the endpoint it came through.
pub fn count_store_rejects(
    state: &AppState,
    endpoint: &'static str,
    rejected: &aiops_core::RejectCounts,
) {
    for (reason, n) in [
        ("out_of_order", rejected.out_of_order),
        ("duplicate", rejected.duplicate),
        ("conflicting_timestamp", rejected.conflicting_timestamp),
        ("too_old", rejected.too_old),
        ("too_far_in_future", rejected.too_far_in_future),
        ("series_limit", rejected.series_limit),
    ] {
        if n > 0 {
            state
                .metrics
                .samples_rejected
                .get_or_create(&RejectLabels { endpoint, reason })
                .inc_by(n);
        }
    }
}
