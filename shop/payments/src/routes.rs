//! The payments HTTP API.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::Rng;
use rand::distr::Alphanumeric;
use shop_common::api::{Charge, ChargeRequest, ChargeStatus, valid_id};
use shop_common::{ApiError, Json, Path};

use crate::card::{self, redact_numbers};
use crate::rules;
use crate::store::{Attempt, ChargeStore};

/// Most characters in a charge's reference.
pub const MAX_REFERENCE_CHARS: usize = 200;
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000;

#[derive(Clone)]
pub struct AppState {
    store: Arc<ChargeStore>,
}

impl AppState {
    pub fn new(store: Arc<ChargeStore>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &ChargeStore {
        &self.store
    }
}

/// The API routes (the kit adds health, metrics and chaos).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/charges", post(create_charge))
        .route("/charges/test-cards", get(test_cards))
        .route("/charges/{id}", get(get_charge))
        .route("/charges/{id}/refund", post(refund_charge))
        .with_state(state)
}

async fn test_cards() -> Json<serde_json::Value> {
    Json(rules::describe())
}

fn check_amount(request: &ChargeRequest) -> Result<(), ApiError> {
    let amount = request.amount.amount_minor;
    if !(1..=MAX_AMOUNT_MINOR).contains(&amount) {
        return Err(ApiError::unprocessable(
            "invalid_amount",
            format!("amount.amount_minor must be 1 to {MAX_AMOUNT_MINOR}, got {amount}"),
        ));
    }
    Ok(())
}

fn check_reference(reference: &str) -> Result<(), ApiError> {
    if reference.chars().count() > MAX_REFERENCE_CHARS || reference.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid_reference",
            format!(
                "reference must be at most {MAX_REFERENCE_CHARS} characters without control characters"
            ),
        ));
    }
    Ok(())
}

/// What makes two requests "the same" for one idempotency key.
fn fingerprint(request: &ChargeRequest, last4: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    request.amount.amount_minor.hash(&mut hasher);
    request.amount.currency.code().hash(&mut hasher);
    last4.hash(&mut hasher);
    request.reference.hash(&mut hasher);
    hasher.finish()
}

fn new_charge_id() -> String {
    let suffix: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("ch_{suffix}")
}

fn with_replay_header(mut response: Response, replayed: bool) -> Response {
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

async fn create_charge(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ChargeRequest>, ApiError>,
) -> Response {
    match charge(&state, &headers, body) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn charge(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Json<ChargeRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let key = shop_common::idempotency::key_from_headers(headers)?;
    // A rejection may quote the value it choked on, which could be a card number.
    let Json(request) = body.map_err(|mut e| {
        e.message = redact_numbers(&e.message);
        e
    })?;
    check_amount(&request)?;
    check_reference(&request.reference)?;
    let card = card::check_now(&request.card)?;
    let fingerprint = fingerprint(&request, &card.last4);
    let attempt = state.store.charge_once(&key, fingerprint, || {
        rules::decide(&card.digits, request.amount.amount_minor)?;
        Ok(Charge {
            id: new_charge_id(),
            amount: request.amount,
            status: ChargeStatus::Succeeded,
            card_last4: card.last4.clone(),
            card_brand: card.brand.to_string(),
            reference: request.reference.clone(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
    });
    let (outcome, replayed) = match attempt {
        Attempt::Conflict => {
            tracing::warn!("idempotency key reused for a different charge");
            return Err(ApiError::conflict(
                "idempotency_conflict",
                "this Idempotency-Key was used for a different charge request",
            ));
        }
        Attempt::Replayed(outcome) => (outcome, true),
        Attempt::New(outcome) => (outcome, false),
    };
    let amount = request.amount.amount_minor;
    let response = match outcome {
        Ok(charge) => {
            if !replayed {
                tracing::info!(charge_id = %charge.id, amount_minor = amount, brand = card.brand, "charge created");
            }
            (StatusCode::CREATED, Json(charge)).into_response()
        }
        Err(decline) => {
            if !replayed {
                tracing::info!(
                    reason = decline.code,
                    amount_minor = amount,
                    brand = card.brand,
                    "payment declined"
                );
            }
            decline.into_response()
        }
    };
    Ok(with_replay_header(response, replayed))
}

fn unknown_charge(id: &str) -> ApiError {
    let shown: String = id.chars().take(64).collect();
    ApiError::not_found(
        "unknown_charge",
        format!("no charge with id {:?}", redact_numbers(&shown)),
    )
}

async fn get_charge(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Charge>, ApiError> {
    if !valid_id(&id) {
        return Err(unknown_charge(&id));
    }
    state
        .store
        .get(&id)
        .map(Json)
        .ok_or_else(|| unknown_charge(&id))
}

/// Refunds in full; refunding again answers the refunded charge.
async fn refund_charge(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Charge>, ApiError> {
    if !valid_id(&id) {
        return Err(unknown_charge(&id));
    }
    let (charge, changed) = state.store.refund(&id).ok_or_else(|| unknown_charge(&id))?;
    if changed {
        tracing::info!(charge_id = %charge.id, amount_minor = charge.amount.amount_minor, "charge refunded");
    }
    Ok(Json(charge))
}
