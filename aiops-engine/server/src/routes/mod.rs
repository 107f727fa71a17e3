//! The HTTP endpoints, one module per concern, and the error reply they share.

pub mod access;
pub mod actions;
pub mod alertmanager;
pub mod console;
pub mod health;
pub mod incidents;
pub mod loki;
pub mod query;
pub mod silences;
pub mod templates;
pub mod write;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::OwnedSemaphorePermit;

use crate::auth::AuthFailure;
use crate::state::AppState;

/// A refused ingest request: the status, a plain-text reason (as Prometheus
/// and Loki answer), and the bounded reason label it is counted under.
#[derive(Debug)]
pub struct IngestRejection {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl IntoResponse for IngestRejection {
    fn into_response(self) -> Response {
        let mut response = (self.status, format!("{}\n", self.message)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<aiops_ingest::IngestError> for IngestRejection {
    fn from(e: aiops_ingest::IngestError) -> Self {
        Self {
            status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            reason: e.reason(),
            message: e.to_string(),
            retry_after_secs: None,
        }
    }
}

/// Checks the token and takes an ingest slot, or refuses (401, 429) and counts why.
pub async fn admit(
    state: &AppState,
    endpoint: &'static str,
    headers: &HeaderMap,
) -> Result<OwnedSemaphorePermit, IngestRejection> {
    if let Err(failure) = state.auth.check(headers) {
        state.metrics.reject(endpoint, "unauthorized");
        let message = match failure {
            AuthFailure::Missing => "missing bearer token",
            AuthFailure::Wrong => "invalid bearer token",
        };
        return Err(IngestRejection {
            status: StatusCode::UNAUTHORIZED,
            reason: "unauthorized",
            message: message.into(),
            retry_after_secs: None,
        });
    }
    let wait = state.config.queue_wait;
    match tokio::time::timeout(wait, state.ingest_slots.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => {
            state.metrics.reject(endpoint, "overloaded");
            Err(IngestRejection {
                status: StatusCode::TOO_MANY_REQUESTS,
                reason: "overloaded",
                message: "the engine is busy ingesting; retry later".into(),
                retry_after_secs: Some(1),
            })
        }
    }
}

pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Decoding is CPU work; run it off the async workers when the body is large.
pub async fn decode_off_thread<T: Send + 'static>(
    body_len: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    const INLINE_LIMIT: usize = 64 * 1024;
    if body_len <= INLINE_LIMIT {
        return work();
    }
    match tokio::task::spawn_blocking(work).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
