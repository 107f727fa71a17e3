//! The orders service: stores the orders checkout places, in SQLite by
//! default or PostgreSQL when `DATABASE_URL` is set, and serves them back.
//!
//! Routes: `POST /orders` (idempotent by `checkout_id`), `GET /orders/{id}`,
//! `GET /orders?session=..&limit=..` (newest first; `&checkout_id=..` narrows
//! it to one checkout's order).

pub mod config;
mod routes;
pub mod store;
mod validate;

use std::sync::Arc;

use axum::Router;
use shop_common::service::{Readiness, ReadinessFuture, Service, ServiceContext};
use shop_common::{ConfigError, EnvSource};

pub use config::{OrdersConfig, StorageConfig};
pub use routes::{AppState, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, app};
pub use store::OrderStore;

pub struct Orders;

impl Service for Orders {
    const NAME: &'static str = "orders";
    const DEFAULT_PORT: u16 = 8083;
    type Config = OrdersConfig;

    fn config(env: &dyn EnvSource) -> Result<Self::Config, ConfigError> {
        OrdersConfig::from_env(env)
    }

    async fn build(
        _ctx: &ServiceContext,
        config: Self::Config,
    ) -> anyhow::Result<(Router, Arc<dyn Readiness>)> {
        let store = store::open(&config.storage).await?;
        let readiness: Arc<dyn Readiness> = Arc::new(StoreReadiness(store.clone()));
        Ok((app(AppState::new(store)), readiness))
    }
}

/// Ready when the database answers `SELECT 1`.
pub struct StoreReadiness(pub Arc<dyn OrderStore>);

impl Readiness for StoreReadiness {
    fn check(&self) -> ReadinessFuture<'_> {
        Box::pin(async move { self.0.ping().await.map_err(|e| e.to_string()) })
    }
}
