//! The checkout service: places an order from a session's cart in one
//! idempotent saga over cart, catalog, payments and orders.
//!
//! Route: `POST /checkout` with an `Idempotency-Key` header and a
//! `CheckoutRequest` body, answering a `CheckoutResult`.

pub mod config;
mod idempotency;
mod routes;
mod saga;

use std::sync::Arc;

use axum::Router;
use shop_common::service::{AlwaysReady, Readiness, Service, ServiceContext};
use shop_common::{ConfigError, EnvSource};

pub use config::CheckoutConfig;
pub use routes::{AppState, app, checkout_id};
pub use saga::Peers;

pub struct Checkout;

impl Service for Checkout {
    const NAME: &'static str = "checkout";
    const DEFAULT_PORT: u16 = 8084;
    type Config = CheckoutConfig;

    fn config(env: &dyn EnvSource) -> Result<Self::Config, ConfigError> {
        CheckoutConfig::from_env(env)
    }

    async fn build(
        ctx: &ServiceContext,
        config: Self::Config,
    ) -> anyhow::Result<(Router, Arc<dyn Readiness>)> {
        // Checkout keeps no state of its own worth waiting for; its peers'
        // health shows in their own readiness and in its error rates.
        Ok((app(AppState::new(ctx, &config)), Arc::new(AlwaysReady)))
    }
}
