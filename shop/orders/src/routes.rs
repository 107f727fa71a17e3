//! The orders API: create (idempotent by checkout id), fetch one, list a
//! session's orders.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use shop_common::api::{CreateOrder, Order, OrderList, valid_id};
use shop_common::{ApiError, Json, Path, Query};

use crate::store::{Insert, OrderStore, StoreError};
use crate::validate;

/// Default and largest page of `GET /orders`.
pub const DEFAULT_LIST_LIMIT: u32 = 20;
pub const MAX_LIST_LIMIT: u32 = 100;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn OrderStore>,
}

impl AppState {
    pub fn new(store: Arc<dyn OrderStore>) -> Self {
        Self { store }
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/orders", post(create_order).get(list_orders))
        .route("/orders/{id}", get(get_order))
        .with_state(state)
}

async fn create_order(
    State(state): State<AppState>,
    Json(req): Json<CreateOrder>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    validate::create_order(&req)?;
    // A fresh order id collides with a stored one about never; if it does,
    // the insert reports a duplicate that is not our checkout: try again.
    for _ in 0..3 {
        let order = new_order(&req);
        match state.store.insert(&order).await.map_err(storage_error)? {
            Insert::Inserted => {
                tracing::info!(
                    order_id = %order.id,
                    checkout_id = %order.checkout_id,
                    lines = order.lines.len(),
                    total_minor = order.total.amount_minor,
                    "order created"
                );
                return Ok((StatusCode::CREATED, Json(order)));
            }
            Insert::Duplicate => {
                let Some(existing) = state
                    .store
                    .by_checkout(&req.checkout_id)
                    .await
                    .map_err(storage_error)?
                else {
                    continue;
                };
                if !same_content(&existing, &req) {
                    tracing::warn!(checkout_id = %req.checkout_id, order_id = %existing.id, "order request conflicts with the stored order");
                    return Err(ApiError::conflict(
                        "idempotency_conflict",
                        "an order with this checkout_id already exists with different content",
                    ));
                }
                tracing::info!(checkout_id = %req.checkout_id, order_id = %existing.id, "order already exists");
                return Ok((StatusCode::OK, Json(existing)));
            }
        }
    }
    Err(ApiError::internal("could not allocate an order id"))
}

fn new_order(req: &CreateOrder) -> Order {
    Order {
        id: new_order_id(),
        checkout_id: req.checkout_id.clone(),
        session: req.session.clone(),
        lines: req.lines.clone(),
        total: req.total,
        charge_id: req.charge_id.clone(),
        email: req.email.clone(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }
}

/// "ord_" and 128 random bits in hex.
fn new_order_id() -> String {
    format!("ord_{:032x}", rand::random::<u128>())
}

fn same_content(order: &Order, req: &CreateOrder) -> bool {
    order.session == req.session
        && order.lines == req.lines
        && order.total == req.total
        && order.charge_id == req.charge_id
        && order.email == req.email
}

async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let unknown = || ApiError::not_found("unknown_order", format!("no order {id:?}"));
    if !valid_id(&id) {
        return Err(unknown());
    }
    match state.store.by_id(&id).await.map_err(storage_error)? {
        Some(order) => Ok(Json(order)),
        None => Err(unknown()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    session: Option<String>,
    limit: Option<u32>,
    /// Narrows the list to the order of one checkout (checkout looks it up
    /// when it cannot tell whether its create went through).
    checkout_id: Option<String>,
}

async fn list_orders(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<OrderList>, ApiError> {
    let Some(session) = query.session else {
        return Err(ApiError::bad_request(
            "missing_session",
            "the session query parameter is required",
        ));
    };
    if !valid_id(&session) {
        return Err(ApiError::bad_request(
            "invalid_session",
            "session must be 1 to 64 of [A-Za-z0-9_-]",
        ));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1 to {MAX_LIST_LIMIT}"),
        ));
    }
    if let Some(checkout_id) = query.checkout_id {
        if !valid_id(&checkout_id) {
            return Err(ApiError::bad_request(
                "invalid_checkout_id",
                "checkout_id must be 1 to 64 of [A-Za-z0-9_-]",
            ));
        }
        let order = state
            .store
            .by_checkout(&checkout_id)
            .await
            .map_err(storage_error)?;
        let data = order.into_iter().filter(|o| o.session == session).collect();
        return Ok(Json(OrderList { data }));
    }
    let data = state
        .store
        .by_session(&session, limit)
        .await
        .map_err(storage_error)?;
    Ok(Json(OrderList { data }))
}

/// The details go to the log; the caller learns only that storage failed.
fn storage_error(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "orders storage failed");
    match e {
        StoreError::Unavailable(_) => {
            ApiError::unavailable("storage_unavailable", "the orders database is unavailable")
        }
        StoreError::Failed(_) => ApiError::internal("the orders database failed"),
    }
}
