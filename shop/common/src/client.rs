//! The HTTP client for calls between shop services: a timeout per attempt,
//! bounded retries with exponential backoff for idempotent calls, W3C trace
//! propagation, `http_client_request_duration_seconds` per peer, and the
//! chaos layer's peer faults.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::chaos::{Chaos, PeerMode};
use crate::error::{ApiError, ErrorBody};
use crate::telemetry::{ClientLabels, Telemetry, method_label};
use crate::trace::{TRACEPARENT, TraceContext};

/// Replies are read into memory; larger ones are refused.
pub const MAX_RESPONSE_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("{peer} answered {status}: {message}")]
    Status {
        peer: String,
        status: StatusCode,
        code: String,
        message: String,
    },
    #[error("{peer} did not answer within {timeout:?}")]
    Timeout { peer: String, timeout: Duration },
    #[error("cannot reach {peer}: {reason}")]
    Unreachable { peer: String, reason: String },
    #[error("{peer} sent an unreadable reply: {reason}")]
    Decode { peer: String, reason: String },
}

impl PeerError {
    fn error_type(&self) -> &'static str {
        match self {
            PeerError::Status { .. } => "status",
            PeerError::Timeout { .. } => "timeout",
            PeerError::Unreachable { .. } => "connect",
            PeerError::Decode { .. } => "decode",
        }
    }

    fn retryable(&self) -> bool {
        match self {
            PeerError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            PeerError::Timeout { .. } | PeerError::Unreachable { .. } => true,
            PeerError::Decode { .. } => false,
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            PeerError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The peer's 4xx passed through as ours (the caller sent something the
    /// peer refused); everything else is the peer's fault: 502 or 504.
    pub fn into_api_error(self) -> ApiError {
        match self {
            PeerError::Status {
                status,
                code,
                message,
                ..
            } if status.is_client_error() => ApiError {
                status,
                code: leak_code(&code),
                message,
            },
            e @ PeerError::Timeout { .. } => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                e.to_string(),
            ),
            e => ApiError::new(StatusCode::BAD_GATEWAY, "upstream_failed", e.to_string()),
        }
    }
}

/// Error codes are a small fixed vocabulary; map the common ones back to statics.
fn leak_code(code: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "not_found",
        "invalid_field",
        "malformed_json",
        "invalid_body",
        "invalid_query",
        "invalid_path",
        "unknown_product",
        "out_of_stock",
        "invalid_quantity",
        "card_declined",
        "invalid_card",
        "insufficient_funds",
        "amount_limit",
        "empty_cart",
        "conflict",
        "idempotency_conflict",
        "body_too_large",
        "unsupported_media_type",
        "unauthorized",
        "price_changed",
    ];
    KNOWN
        .iter()
        .find(|k| **k == code)
        .copied()
        .unwrap_or("upstream_rejected")
}

impl From<PeerError> for ApiError {
    fn from(e: PeerError) -> Self {
        e.into_api_error()
    }
}

/// A client for one named peer service.
#[derive(Clone)]
pub struct PeerClient {
    peer: Arc<str>,
    base: Arc<str>,
    http: reqwest::Client,
    telemetry: Arc<Telemetry>,
    chaos: Arc<Chaos>,
    timeout: Duration,
    retry: RetryPolicy,
}

impl PeerClient {
    pub fn new(
        peer: &str,
        base_url: &str,
        http: reqwest::Client,
        telemetry: Arc<Telemetry>,
        chaos: Arc<Chaos>,
        timeout: Duration,
    ) -> Self {
        Self {
            peer: peer.into(),
            base: base_url.trim_end_matches('/').into(),
            http,
            telemetry,
            chaos,
            timeout,
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// GET, retried.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, PeerError> {
        self.call(Method::GET, path, None::<&()>, None, true).await
    }

    /// DELETE, retried (deleting twice leaves the same state).
    pub async fn delete(&self, path: &str) -> Result<(), PeerError> {
        self.call::<serde_json::Value, ()>(Method::DELETE, path, None, None, true)
            .await
            .map(|_| ())
    }

    /// PUT, retried (a PUT sets state, so repeating it is harmless).
    pub async fn put_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, PeerError> {
        self.call(Method::PUT, path, Some(body), None, true).await
    }

    /// POST; retried only with an idempotency key, which lets the peer
    /// recognise the repeat.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        idempotency_key: Option<&str>,
    ) -> Result<T, PeerError> {
        self.call(
            Method::POST,
            path,
            Some(body),
            idempotency_key,
            idempotency_key.is_some(),
        )
        .await
    }

    async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
        retry: bool,
    ) -> Result<T, PeerError> {
        let attempts = if retry { self.retry.attempts.max(1) } else { 1 };
        let mut backoff = self.retry.initial_backoff;
        let mut attempt = 1;
        loop {
            match self.attempt(&method, path, body, idempotency_key).await {
                Ok(value) => return Ok(value),
                Err(e) if attempt < attempts && e.retryable() => {
                    let jitter = rand::random_range(0..=backoff.as_millis() as u64 / 2);
                    tokio::time::sleep(backoff + Duration::from_millis(jitter)).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn attempt<T: DeserializeOwned, B: Serialize>(
        &self,
        method: &Method,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<T, PeerError> {
        let started = Instant::now();
        let result = self.send(method, path, body, idempotency_key).await;
        let (status, error_type) = match &result {
            Ok((status, _)) => (*status, ""),
            Err(e) => (e.status().map_or(0, |s| s.as_u16()), e.error_type()),
        };
        self.telemetry
            .client_duration
            .get_or_create(&ClientLabels {
                peer_service: self.peer.to_string(),
                http_request_method: method_label(method),
                http_response_status_code: status,
                error_type,
            })
            .observe(started.elapsed().as_secs_f64());
        result.map(|(_, v)| v)
    }

    async fn send<T: DeserializeOwned, B: Serialize>(
        &self,
        method: &Method,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<(u16, T), PeerError> {
        match self.chaos.peer_fault(&self.peer) {
            Some(PeerMode::Error) => {
                return Err(PeerError::Unreachable {
                    peer: self.peer.to_string(),
                    reason: "connection refused".into(),
                });
            }
            Some(PeerMode::Timeout) => {
                tokio::time::sleep(self.timeout).await;
                return Err(PeerError::Timeout {
                    peer: self.peer.to_string(),
                    timeout: self.timeout,
                });
            }
            None => {}
        }
        let url = format!("{}{}", self.base, path);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .timeout(self.timeout);
        let trace = TraceContext::current()
            .map(|t| t.child())
            .unwrap_or_else(TraceContext::new_root);
        request = request.header(TRACEPARENT, trace.header_value());
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let bytes = read_limited(response)
            .await
            .map_err(|e| self.transport_error(e))?;
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(PeerError::Decode {
                peer: self.peer.to_string(),
                reason: "reply too large".into(),
            });
        }
        if !status.is_success() {
            let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(b) => (b.error.code, b.error.message),
                Err(_) => (
                    "unknown".to_string(),
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
                ),
            };
            return Err(PeerError::Status {
                peer: self.peer.to_string(),
                status,
                code,
                message,
            });
        }
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        let value = serde_json::from_slice(bytes).map_err(|e| PeerError::Decode {
            peer: self.peer.to_string(),
            reason: e.to_string(),
        })?;
        Ok((status.as_u16(), value))
    }

    fn transport_error(&self, e: reqwest::Error) -> PeerError {
        if e.is_timeout() {
            PeerError::Timeout {
                peer: self.peer.to_string(),
                timeout: self.timeout,
            }
        } else {
            PeerError::Unreachable {
                peer: self.peer.to_string(),
                reason: e.to_string(),
            }
        }
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        out.extend_from_slice(&chunk);
        if out.len() > MAX_RESPONSE_BYTES {
            break;
        }
    }
    Ok(out)
}
