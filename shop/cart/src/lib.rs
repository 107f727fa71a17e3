//! The cart service: one cart per session, checked against the catalog when
//! items go in.
//!
//! Routes (all under the shared kit's middleware):
//! - `GET /carts/{session}`: the cart, with no items when there is none;
//! - `POST /carts/{session}/items` (`AddItem`): adds to the line's quantity;
//! - `PUT /carts/{session}/items/{product_id}` (`SetQuantity`): sets it, 0 removes;
//! - `DELETE /carts/{session}/items/{product_id}`: removes the line (repeatable);
//! - `DELETE /carts/{session}`: empties the cart, 204.
//!
//! Environment: `SHOP_CATALOG_URL` (the catalog's base URL), `REDIS_URL`
//! (a `redis://` URL; carts stay in memory when unset), `CART_TTL_SECS`
//! (how long an untouched cart lives in Redis, default 7 days),
//! `CART_REDIS_PREFIX` (key prefix, default `cart:`), `CART_MAX_SESSIONS`
//! (carts kept in memory before the least recently updated goes, default 100000).

mod catalog;
mod config;
mod routes;
pub mod store;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use shop_common::config::{ConfigError, EnvSource};
use shop_common::{Readiness, ReadinessFuture, Service, ServiceContext};

pub use config::CartConfig;
pub use routes::{AppState, app};
pub use store::{CartStore, MemoryStore, RedisStore};

/// The cart service.
pub struct Cart;

impl Service for Cart {
    const NAME: &'static str = "cart";
    const DEFAULT_PORT: u16 = 8082;
    type Config = CartConfig;

    fn config(env: &dyn EnvSource) -> Result<CartConfig, ConfigError> {
        CartConfig::from_env(env)
    }

    async fn build(
        ctx: &ServiceContext,
        config: CartConfig,
    ) -> anyhow::Result<(Router, Arc<dyn Readiness>)> {
        let store: Arc<dyn CartStore> = match &config.redis {
            Some(redis) => {
                tracing::info!(prefix = %redis.prefix, ttl_secs = redis.ttl.as_secs(), "carts kept in redis");
                Arc::new(RedisStore::connect(redis)?)
            }
            None => {
                tracing::info!(max_sessions = config.max_sessions, "carts kept in memory");
                Arc::new(MemoryStore::new(config.max_sessions))
            }
        };
        let state = AppState::new(store.clone(), ctx.peer("catalog", &config.catalog_url));
        Ok((app(state), Arc::new(StoreReadiness(store))))
    }
}

/// Ready when the cart storage answers (always, in memory).
struct StoreReadiness(Arc<dyn CartStore>);

impl Readiness for StoreReadiness {
    fn check(&self) -> ReadinessFuture<'_> {
        Box::pin(async move { self.0.ping().await.map_err(|e| e.message) })
    }
}
