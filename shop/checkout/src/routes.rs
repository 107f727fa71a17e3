//! `POST /checkout`: checks the request and its Idempotency-Key, then runs
//! the saga once per key.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use sha2::{Digest, Sha256};
use shop_common::api::{CheckoutRequest, valid_id};
use shop_common::trace::TraceContext;
use shop_common::{ApiError, Json, ServiceContext};

use crate::config::CheckoutConfig;
use crate::idempotency::{Begin, IdempotencyCache};
use crate::saga::{Completed, Peers, Saga};

/// RFC 5321's limit on a forward path; the orders service uses the same.
/// Bounds on the card fields; payments checks them properly.
const MAX_CARD_FIELD_BYTES: usize = 40;

#[derive(Clone)]
pub struct AppState {
    pub peers: Peers,
    pub step_timeout: Duration,
    pub idempotency: Arc<IdempotencyCache>,
}

impl AppState {
    pub fn new(ctx: &ServiceContext, config: &CheckoutConfig) -> Self {
        Self {
            peers: Peers::new(ctx, config),
            step_timeout: config.step_timeout,
            idempotency: IdempotencyCache::new(config.idempotency_capacity, config.idempotency_ttl),
        }
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/checkout", post(checkout))
        .with_state(state)
}

async fn checkout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<CheckoutRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let key = shop_common::idempotency::key_from_headers(&headers)?;
    // A rejection may quote what it choked on, which could be a card number.
    let Json(request) = body.map_err(|mut e| {
        e.message = redact_digits(&e.message);
        e
    })?;
    validate(&request)?;
    let checkout_id = checkout_id(&request.session, &key);
    let ticket = match state
        .idempotency
        .begin(&key, state.idempotency.fingerprint(&request))
    {
        Begin::Started(ticket) => ticket,
        Begin::Replay(result) => {
            tracing::info!(checkout_id, order_id = %result.order.id, "checkout replayed");
            return Ok((StatusCode::OK, Json(result)).into_response());
        }
        Begin::InProgress => {
            return Err(ApiError::conflict(
                "checkout_in_progress",
                "a checkout with this Idempotency-Key is in progress",
            ));
        }
        Begin::Conflict => {
            return Err(ApiError::conflict(
                "idempotency_conflict",
                "this Idempotency-Key was used for a different checkout request",
            ));
        }
        Begin::Full => {
            tracing::warn!("too many checkouts in progress");
            return Err(ApiError::unavailable(
                "busy",
                "too many checkouts in progress, retry shortly",
            ));
        }
    };
    tracing::info!(checkout_id, "checkout started");
    // The saga runs in its own task: a client that hangs up must not stop it
    // between the charge and the order.
    let trace = TraceContext::current();
    let task = tokio::spawn(async move {
        let saga = Saga {
            peers: &state.peers,
            step_timeout: state.step_timeout,
            checkout_id: &checkout_id,
            request: &request,
        };
        let outcome = match trace {
            Some(trace) => trace.scope(saga.run()).await,
            None => saga.run().await,
        };
        // Only success is remembered; a failed ticket is dropped, so a retry runs again.
        if let Ok(Completed::Placed(result) | Completed::Found(result)) = &outcome {
            ticket.complete(result);
        }
        outcome
    });
    match task.await {
        Ok(Ok(Completed::Placed(result))) => {
            Ok((StatusCode::CREATED, Json(result)).into_response())
        }
        Ok(Ok(Completed::Found(result))) => Ok((StatusCode::OK, Json(result)).into_response()),
        Ok(Err(e)) => Err(e),
        Err(e) => {
            tracing::error!(error = %e, "checkout task failed");
            Err(ApiError::internal(
                "the checkout failed unexpectedly; retry with the same Idempotency-Key",
            ))
        }
    }
}

/// What can be checked before any peer is called. The email is checked as
/// the orders service will, so a charge is never made for an order it refuses.
fn validate(request: &CheckoutRequest) -> Result<(), ApiError> {
    if !valid_id(&request.session) {
        return Err(ApiError::unprocessable(
            "invalid_session",
            "session must be 1 to 64 of [A-Za-z0-9_-]",
        ));
    }
    if !shop_common::api::plausible_email(&request.email) {
        return Err(ApiError::unprocessable(
            "invalid_email",
            format!(
                "email must be an address with one '@', at most {} bytes",
                shop_common::api::MAX_EMAIL_BYTES
            ),
        ));
    }
    let card = &request.card;
    if card.number.len() > MAX_CARD_FIELD_BYTES || card.cvc.len() > MAX_CARD_FIELD_BYTES {
        return Err(ApiError::unprocessable(
            "invalid_card",
            "card.number or card.cvc is too long",
        ));
    }
    Ok(())
}

/// The checkout id of a session's Idempotency-Key: the same on every retry
/// and on every replica, so the payment and order keys derived from it are
/// too. Hashed so any key fits the orders service's id rules, and with the
/// session so two clients picking the same key never share a checkout.
pub fn checkout_id(session: &str, key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(session.as_bytes())
        .chain_update(b"\n")
        .chain_update(key.as_bytes())
        .finalize();
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("chk_{hex}")
}

/// Replaces runs of four or more digits: error messages must not echo card numbers.
fn redact_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
            continue;
        }
        flush_run(&mut out, &mut run);
        out.push(c);
    }
    flush_run(&mut out, &mut run);
    out
}

fn flush_run(out: &mut String, run: &mut String) {
    if run.len() >= 4 {
        out.push_str("[redacted]");
    } else {
        out.push_str(run);
    }
    run.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkout_ids_are_deterministic_valid_and_scoped_by_session() {
        let a = checkout_id("sess", "key-1");
        assert_eq!(a, checkout_id("sess", "key-1"));
        assert_ne!(a, checkout_id("sess", "key-2"));
        assert_ne!(a, checkout_id("other", "key-1"));
        assert!(valid_id(&a) && a.len() == 44, "{a}");
        assert!(valid_id(&checkout_id("s", &"k".repeat(128))));
    }

    #[test]
    fn digits_are_redacted() {
        assert_eq!(
            redact_digits("invalid type: integer `4242424242424242` at line 1 column 30"),
            "invalid type: integer `[redacted]` at line 1 column 30"
        );
    }
}
