//! The place-order saga: read the cart, price it from the catalog, charge
//! the card, store the order, clear the cart. Each step has its own time
//! limit. Every write to a peer carries a key derived from the checkout id,
//! so running the saga again for the same checkout charges and orders at
//! most once; when the order cannot be stored the charge is refunded.

use std::future::Future;
use std::time::Duration;

use axum::http::StatusCode;
use futures::{StreamExt, TryStreamExt};
use shop_common::api::{
    Cart, Charge, ChargeRequest, ChargeStatus, CheckoutRequest, CheckoutResult, CreateOrder,
    MAX_CART_LINES, MAX_ITEM_QUANTITY, Order, OrderLine, OrderList, Product, valid_id,
};
use shop_common::{ApiError, Money, PeerClient, PeerError};

use crate::config::CheckoutConfig;

/// Products priced at once.
const CATALOG_CONCURRENCY: usize = 8;
/// A checkout whose charge was refunded charges anew under the next key; this
/// bounds how often one checkout can go round that loop.
const MAX_CHARGE_GENERATIONS: u32 = 5;
const REFUND_ATTEMPTS: u32 = 3;
/// Longest product name accepted from the catalog (the orders service's limit).
const MAX_NAME_CHARS: usize = 200;

/// The four services checkout calls.
#[derive(Clone)]
pub struct Peers {
    pub cart: PeerClient,
    pub catalog: PeerClient,
    pub payments: PeerClient,
    pub orders: PeerClient,
}

impl Peers {
    pub fn new(ctx: &shop_common::ServiceContext, config: &CheckoutConfig) -> Self {
        Self {
            cart: ctx.peer("cart", &config.cart_url),
            catalog: ctx.peer("catalog", &config.catalog_url),
            payments: ctx.peer("payments", &config.payments_url),
            orders: ctx.peer("orders", &config.orders_url),
        }
    }
}

/// How the saga ended well.
pub enum Completed {
    /// This run placed the order (or finished placing it).
    Placed(CheckoutResult),
    /// The order was already there: an earlier run placed it and cleared the cart.
    Found(CheckoutResult),
}

/// One step's failure: the peer's answer, or the step's time limit.
enum StepError {
    Peer(PeerError),
    Timeout(&'static str, Duration),
}

impl StepError {
    fn status(&self) -> Option<StatusCode> {
        match self {
            StepError::Peer(e) => e.status(),
            StepError::Timeout(..) => None,
        }
    }

    fn into_api_error(self) -> ApiError {
        match self {
            StepError::Peer(e) => e.into_api_error(),
            StepError::Timeout(step, limit) => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                format!("{step} did not answer within {} ms", limit.as_millis()),
            ),
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Peer(e) => write!(f, "{e}"),
            StepError::Timeout(step, limit) => {
                write!(f, "{step} step timed out after {} ms", limit.as_millis())
            }
        }
    }
}

pub struct Saga<'a> {
    pub peers: &'a Peers,
    pub step_timeout: Duration,
    pub checkout_id: &'a str,
    pub request: &'a CheckoutRequest,
}

impl Saga<'_> {
    pub async fn run(&self) -> Result<Completed, ApiError> {
        let session = self.request.session.as_str();
        let cart = self.read_cart().await?;
        if cart.items.is_empty() {
            // A retry after a run that finished (cart already cleared) must
            // get that order back rather than "empty cart".
            if let Some(order) = self.find_order().await {
                tracing::info!(checkout_id = self.checkout_id, order_id = %order.id, "checkout already completed");
                return Ok(Completed::Found(self.result(order)));
            }
            return Err(ApiError::unprocessable("empty_cart", "the cart is empty"));
        }
        let (lines, total) = self.price(&cart).await?;
        let (charge, charge_key) = self.charge(total).await?;
        let order = self.place_order(lines, total, &charge, &charge_key).await?;
        self.clear_cart(session).await;
        tracing::info!(
            checkout_id = self.checkout_id,
            order_id = %order.id,
            charge_id = %charge.id,
            total_minor = total.amount_minor,
            "checkout completed"
        );
        Ok(Completed::Placed(self.result(order)))
    }

    fn result(&self, order: Order) -> CheckoutResult {
        CheckoutResult {
            checkout_id: self.checkout_id.to_string(),
            order,
        }
    }

    async fn step<T>(
        &self,
        step: &'static str,
        call: impl Future<Output = Result<T, PeerError>>,
    ) -> Result<T, StepError> {
        match tokio::time::timeout(self.step_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(StepError::Peer(e)),
            Err(_) => Err(StepError::Timeout(step, self.step_timeout)),
        }
    }

    async fn read_cart(&self) -> Result<Cart, ApiError> {
        let session = &self.request.session;
        let path = format!("/carts/{session}");
        match self
            .step("cart", self.peers.cart.get_json::<Cart>(&path))
            .await
        {
            Ok(cart) => Ok(cart),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(Cart {
                session: session.clone(),
                items: Vec::new(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the cart");
                Err(e.into_api_error())
            }
        }
    }

    /// The order lines at the catalog's current prices, and their total.
    async fn price(&self, cart: &Cart) -> Result<(Vec<OrderLine>, Money), ApiError> {
        if cart.items.len() > MAX_CART_LINES {
            return Err(ApiError::unprocessable(
                "invalid_cart",
                format!("a cart has at most {MAX_CART_LINES} lines"),
            ));
        }
        for item in &cart.items {
            if !valid_id(&item.product_id) {
                return Err(unknown_product(&item.product_id));
            }
            if !(1..=MAX_ITEM_QUANTITY).contains(&item.quantity) {
                return Err(ApiError::unprocessable(
                    "invalid_quantity",
                    format!(
                        "quantity of {:?} must be 1 to {MAX_ITEM_QUANTITY}",
                        item.product_id
                    ),
                ));
            }
        }
        // Owned futures: a stream closure borrowing here trips the compiler's
        // Send check on the spawned saga.
        let calls: Vec<_> = cart
            .items
            .iter()
            .map(|item| {
                let catalog = self.peers.catalog.clone();
                let product_id = item.product_id.clone();
                async move {
                    let path = format!("/products/{product_id}");
                    catalog
                        .get_json::<Product>(&path)
                        .await
                        .map_err(|e| (product_id, e))
                }
            })
            .collect();
        let fetch = futures::stream::iter(calls)
            .buffered(CATALOG_CONCURRENCY)
            .try_collect::<Vec<Product>>();
        let products = match tokio::time::timeout(self.step_timeout, fetch).await {
            Ok(Ok(products)) => products,
            Ok(Err((product_id, e))) if e.status() == Some(StatusCode::NOT_FOUND) => {
                tracing::info!(product_id, "cart holds a product the catalog does not know");
                return Err(unknown_product(&product_id));
            }
            Ok(Err((_, e))) => {
                tracing::warn!(error = %e, "cannot price the cart");
                return Err(StepError::Peer(e).into_api_error());
            }
            Err(_) => {
                tracing::warn!("catalog step timed out");
                return Err(StepError::Timeout("catalog", self.step_timeout).into_api_error());
            }
        };

        let mut lines = Vec::with_capacity(products.len());
        let mut total: Option<Money> = None;
        for (item, product) in cart.items.iter().zip(products) {
            // The catalog's answer decides what is charged: check it is usable
            // before any money moves.
            let name_chars = product.name.chars().count();
            let sane = product.id == item.product_id
                && product.price.amount_minor >= 0
                && (1..=MAX_NAME_CHARS).contains(&name_chars)
                && !product.name.chars().any(char::is_control);
            if !sane {
                tracing::error!(product_id = %item.product_id, "catalog sent an unusable product");
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream_invalid",
                    format!("the catalog's entry for {:?} is unusable", item.product_id),
                ));
            }
            let amount = product.price.amount_minor.checked_mul(item.quantity);
            let sum = match (total, amount) {
                (None, Some(amount)) => Some(Money {
                    amount_minor: amount,
                    currency: product.price.currency,
                }),
                (Some(t), _) if t.currency != product.price.currency => {
                    return Err(ApiError::unprocessable(
                        "currency_mismatch",
                        "the cart mixes currencies",
                    ));
                }
                (Some(t), Some(amount)) => t.amount_minor.checked_add(amount).map(|a| Money {
                    amount_minor: a,
                    currency: t.currency,
                }),
                (_, None) => None,
            };
            let Some(sum) = sum else {
                return Err(ApiError::unprocessable(
                    "amount_too_large",
                    "the order's amount is too large",
                ));
            };
            total = Some(sum);
            lines.push(OrderLine {
                product_id: product.id,
                name: product.name,
                quantity: item.quantity,
                unit_price: product.price,
            });
        }
        let total =
            total.ok_or_else(|| ApiError::unprocessable("empty_cart", "the cart is empty"))?;
        Ok((lines, total))
    }

    /// Charges `total`, reusing the live charge of an earlier run if there is
    /// one. Returns the charge and the idempotency key it was made with.
    async fn charge(&self, total: Money) -> Result<(Charge, String), ApiError> {
        let request = ChargeRequest {
            amount: total,
            card: self.request.card.clone(),
            reference: self.checkout_id.to_string(),
        };
        for generation in 0..MAX_CHARGE_GENERATIONS {
            let key = charge_key(self.checkout_id, generation);
            let charge = match self
                .step(
                    "payments",
                    self.peers
                        .payments
                        .post_json::<_, Charge>("/charges", &request, Some(&key)),
                )
                .await
            {
                Ok(charge) => charge,
                Err(e) => {
                    match e.status() {
                        Some(StatusCode::PAYMENT_REQUIRED) => {
                            let reason = match &e {
                                StepError::Peer(PeerError::Status { code, .. }) => code.as_str(),
                                _ => "",
                            };
                            tracing::info!(
                                checkout_id = self.checkout_id,
                                reason,
                                "payment declined"
                            );
                        }
                        Some(status) if status.is_client_error() => {
                            tracing::info!(
                                checkout_id = self.checkout_id,
                                status = status.as_u16(),
                                "payment refused"
                            );
                        }
                        _ => {
                            tracing::warn!(checkout_id = self.checkout_id, error = %e, "payment failed")
                        }
                    }
                    return Err(e.into_api_error());
                }
            };
            match charge.status {
                ChargeStatus::Succeeded => {}
                // An earlier run refunded this one after failing to store the
                // order; charge again under the next key.
                ChargeStatus::Refunded => continue,
            }
            if charge.amount != total || !valid_id(&charge.id) {
                // Same key, different charge: never attach it to this order.
                tracing::error!(checkout_id = self.checkout_id, charge_id = %charge.id, "payments answered with a charge that does not match");
                return Err(ApiError::conflict(
                    "idempotency_conflict",
                    "this checkout was already charged a different amount; use a new Idempotency-Key",
                ));
            }
            return Ok((charge, key));
        }
        Err(ApiError::conflict(
            "too_many_attempts",
            "this checkout was refunded too many times; use a new Idempotency-Key",
        ))
    }

    async fn place_order(
        &self,
        lines: Vec<OrderLine>,
        total: Money,
        charge: &Charge,
        charge_key: &str,
    ) -> Result<Order, ApiError> {
        let create = CreateOrder {
            checkout_id: self.checkout_id.to_string(),
            session: self.request.session.clone(),
            lines,
            total,
            charge_id: charge.id.clone(),
            email: self.request.email.clone(),
        };
        let stored = self
            .step(
                "orders",
                self.peers
                    .orders
                    .post_json::<_, Order>("/orders", &create, Some(self.checkout_id)),
            )
            .await;
        let error = match stored {
            Ok(order) => return Ok(order),
            Err(e) => e,
        };
        tracing::error!(checkout_id = self.checkout_id, charge_id = %charge.id, error = %error, "order failed");
        // A refusal (4xx) stored nothing. After a timeout or a 5xx the order
        // may exist all the same: look before refunding its charge.
        let refused = error.status().is_some_and(|s| s.is_client_error());
        if !refused && let Some(order) = self.find_order().await {
            tracing::info!(checkout_id = self.checkout_id, order_id = %order.id, "order was stored after all");
            return Ok(order);
        }
        let refunded = self.refund(charge, charge_key).await;
        let message = if refunded {
            format!(
                "the order could not be stored ({}); the charge was refunded",
                error_summary(&error)
            )
        } else {
            format!(
                "the order could not be stored ({}) and the refund did not go through; retry with the same \
                 Idempotency-Key to complete the order without a second charge",
                error_summary(&error)
            )
        };
        Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "order_failed",
            message,
        ))
    }

    /// The order this checkout placed, if the orders service has it.
    async fn find_order(&self) -> Option<Order> {
        let path = format!(
            "/orders?session={}&checkout_id={}",
            self.request.session, self.checkout_id
        );
        match self
            .step("orders", self.peers.orders.get_json::<OrderList>(&path))
            .await
        {
            Ok(list) => list
                .data
                .into_iter()
                .find(|o| o.checkout_id == self.checkout_id),
            Err(e) => {
                tracing::warn!(checkout_id = self.checkout_id, error = %e, "cannot look up orders");
                None
            }
        }
    }

    /// Refunds the charge, retrying; true when payments confirmed it.
    async fn refund(&self, charge: &Charge, charge_key: &str) -> bool {
        let path = format!("/charges/{}/refund", charge.id);
        let refund_key = format!("{charge_key}-refund");
        let body = serde_json::json!({});
        for attempt in 1..=REFUND_ATTEMPTS {
            match self
                .step(
                    "payments",
                    self.peers
                        .payments
                        .post_json::<_, Charge>(&path, &body, Some(&refund_key)),
                )
                .await
            {
                Ok(refunded) if refunded.status == ChargeStatus::Refunded => {
                    tracing::info!(checkout_id = self.checkout_id, charge_id = %charge.id, "charge refunded");
                    return true;
                }
                Ok(_) => {
                    tracing::error!(charge_id = %charge.id, "payments did not mark the charge refunded")
                }
                Err(e) if e.status().is_some_and(|s| s.is_client_error()) => {
                    tracing::error!(charge_id = %charge.id, error = %e, "refund refused");
                    return false;
                }
                Err(e) => {
                    tracing::warn!(charge_id = %charge.id, attempt, error = %e, "refund attempt failed")
                }
            }
            if attempt < REFUND_ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
        }
        tracing::error!(checkout_id = self.checkout_id, charge_id = %charge.id, "refund failed, the charge stands");
        false
    }

    /// The order exists whatever happens here; a cart left full is only untidy.
    async fn clear_cart(&self, session: &str) {
        let path = format!("/carts/{session}");
        if let Err(e) = self.step("cart", self.peers.cart.delete(&path)).await {
            tracing::warn!(checkout_id = self.checkout_id, error = %e, "cart not cleared after checkout");
        }
    }
}

/// The payment idempotency key of a checkout's `generation`th charge.
fn charge_key(checkout_id: &str, generation: u32) -> String {
    if generation == 0 {
        checkout_id.to_string()
    } else {
        format!("{checkout_id}-r{generation}")
    }
}

fn unknown_product(product_id: &str) -> ApiError {
    ApiError::unprocessable(
        "unknown_product",
        format!("product {product_id:?} is not in the catalog"),
    )
}

fn error_summary(e: &StepError) -> String {
    match e {
        StepError::Peer(PeerError::Status { status, code, .. }) => {
            format!("orders answered {} {code}", status.as_u16())
        }
        StepError::Peer(PeerError::Timeout { .. }) | StepError::Timeout(..) => {
            "orders timed out".to_string()
        }
        StepError::Peer(PeerError::Unreachable { .. }) => "orders unreachable".to_string(),
        StepError::Peer(PeerError::Decode { .. }) => "orders sent an unreadable reply".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charge_keys_are_stable_and_distinct() {
        assert_eq!(charge_key("chk_a", 0), "chk_a");
        assert_eq!(charge_key("chk_a", 1), "chk_a-r1");
        assert_ne!(charge_key("chk_a", 1), charge_key("chk_a", 2));
    }
}
