//! The payments service: a fake card processor that never keeps card data.
//!
//! Routes:
//! - `POST /charges` with a `ChargeRequest` body and an `Idempotency-Key`
//!   header (1 to 128 of `A-Z a-z 0-9 _ -`): 201 with the `Charge`;
//! - `GET /charges/{id}`: the charge;
//! - `POST /charges/{id}/refund`: the charge, now `refunded` (repeatable);
//! - `GET /charges/test-cards`: the decline rules below, as JSON.
//!
//! # Validation (422)
//! `invalid_card`: the number must be 12 to 19 digits (spaces allowed) and
//! pass the Luhn check; `exp_month` 1 to 12 and the expiry not before the
//! current month (UTC); the CVC 3 or 4 digits. `invalid_amount`: the amount
//! must be 1 to 10,000,000 minor units. Each message names the field.
//!
//! # Decline rules (402), checked in this order
//! - card `4000000000000002`: `card_declined`;
//! - card `4000000000009995`: `insufficient_funds`;
//! - any amount above 500,000 minor units (5,000.00): `amount_limit`;
//! - `4242424242424242` and every other valid number: the charge succeeds.
//!
//! The brand comes from the number's prefix: `visa` (4), `mastercard`
//! (51-55, 2221-2720), `amex` (34, 37), else `unknown`.
//!
//! # Idempotency
//! The same key with the same request (amount, last four digits and
//! reference) answers what the first answered, charge or decline, without
//! charging again (with `Idempotent-Replayed: true`); the same key with a
//! different request is 409 `idempotency_conflict`. Charges and keys are
//! kept in memory, at most `PAYMENTS_MAX_CHARGES` (default 100,000) of
//! each; past that the oldest go first, and a key whose record went is
//! treated as new.
//!
//! # Card data
//! Only the last four digits and the brand are kept; the full number, expiry
//! and CVC live only while the request is handled, and never reach a log or
//! a response.

mod card;
mod config;
mod routes;
mod rules;
mod store;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use shop_common::config::{ConfigError, EnvSource};
use shop_common::{AlwaysReady, Readiness, Service, ServiceContext};

pub use card::{brand, luhn_valid};
pub use config::PaymentsConfig;
pub use routes::{AppState, app};
pub use rules::{AMOUNT_LIMIT_MINOR, TEST_CARDS};
pub use store::ChargeStore;

/// The payments service.
pub struct Payments;

impl Service for Payments {
    const NAME: &'static str = "payments";
    const DEFAULT_PORT: u16 = 8085;
    type Config = PaymentsConfig;

    fn config(env: &dyn EnvSource) -> Result<PaymentsConfig, ConfigError> {
        PaymentsConfig::from_env(env)
    }

    async fn build(
        _ctx: &ServiceContext,
        config: PaymentsConfig,
    ) -> anyhow::Result<(Router, Arc<dyn Readiness>)> {
        tracing::info!(max_charges = config.max_charges, "charges kept in memory");
        let state = AppState::new(Arc::new(ChargeStore::new(config.max_charges)));
        Ok((app(state), Arc::new(AlwaysReady)))
    }
}
