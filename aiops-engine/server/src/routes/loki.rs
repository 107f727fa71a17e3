//! `POST /loki/api/v1/push`: Loki's push API, protobuf + snappy or JSON
//! (optionally gzip), tenant from `X-Scope-OrgID`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::{IngestRejection, header_str, on_ingest_worker};
use crate::state::AppState;
use crate::telemetry::{RejectLabels, SourceLabels};

pub const ENDPOINT: &str = "loki_push";

pub async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, IngestRejection> {
    let content_type = header_str(&headers, "content-type").map(str::to_string);
    let content_encoding = header_str(&headers, "content-encoding").map(str::to_string);
    let tenant = header_str(&headers, "x-scope-orgid").map(str::to_string);
    let limits = state.config.limits.clone();
    let is_json = content_type
        .as_deref()
        .is_some_and(|t| t.trim_start().starts_with("application/json"));
    let logs = state.logs.clone();
    let clock = state.clock.clone();
    let outcome = on_ingest_worker(&state, move || {
        aiops_ingest::decode_loki_push(
            content_type.as_deref(),
            content_encoding.as_deref(),
            tenant.as_deref(),
            &body,
            &limits,
        )
        .map(|batch| logs.append(batch, clock.now_ms()))
    })
    .await?
    .inspect_err(|e| state.metrics.reject(ENDPOINT, e.reason()))?;
    let source = SourceLabels {
        source: if is_json {
            "loki_json"
        } else {
            "loki_protobuf"
        },
    };
    state
        .metrics
        .log_lines_ingested
        .get_or_create(&source)
        .inc_by(outcome.entries_appended);
    state
        .metrics
        .log_bytes_ingested
        .get_or_create(&source)
        .inc_by(outcome.bytes_appended);
    let r = outcome.rejected;
    for (reason, n) in [
        ("too_old", r.too_old),
        ("too_far_in_future", r.too_far_in_future),
        ("duplicate", r.duplicate),
        ("stream_limit", r.stream_limit),
        ("too_large", r.too_large),
    ] {
        if n > 0 {
            state
                .metrics
                .samples_rejected
                .get_or_create(&RejectLabels {
                    endpoint: ENDPOINT,
                    reason,
                })
                .inc_by(n);
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
