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

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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

/// An ingest endpoint, for [`admit`]: the state and the endpoint's label.
#[derive(Clone)]
pub struct Intake {
    pub state: AppState,
    pub endpoint: &'static str,
}

/// Checks the token and takes an ingest slot before the body is read, and
/// holds it while the handler reads, decodes and stores; or refuses (401,
/// 429) and counts why. Refusing before the body is read keeps a refusal
/// cheap when the engine is overloaded, and bounds the bodies in memory.
pub async fn admit(State(intake): State<Intake>, request: Request, next: Next) -> Response {
    let Intake { state, endpoint } = intake;
    if let Err(failure) = state.auth.check(request.headers()) {
        state.metrics.reject(endpoint, "unauthorized");
        let message = match failure {
            AuthFailure::Missing => "missing bearer token",
            AuthFailure::Wrong => "invalid bearer token",
        };
        return IngestRejection {
            status: StatusCode::UNAUTHORIZED,
            reason: "unauthorized",
            message: message.into(),
            retry_after_secs: None,
        }
        .into_response();
    }
    let wait = state.config.queue_wait;
    let _slot = match tokio::time::timeout(wait, state.ingest_slots.clone().acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        _ => {
            state.metrics.reject(endpoint, "overloaded");
            return IngestRejection {
                status: StatusCode::TOO_MANY_REQUESTS,
                reason: "overloaded",
                message: "the engine is busy ingesting; retry later".into(),
                retry_after_secs: Some(1),
            }
            .into_response();
        }
    };
    next.run(request).await
}

pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Runs decoding (and storing) on the ingest workers, below the priority
/// of the console and the query API.
pub async fn on_ingest_worker<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IngestRejection> {
    state
        .ingest_workers
        .run(work)
        .await
        .map_err(|stopped| IngestRejection {
            status: StatusCode::SERVICE_UNAVAILABLE,
            reason: "stopping",
            message: stopped.to_string(),
            retry_after_secs: Some(1),
        })
}
