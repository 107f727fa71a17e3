//! The catalog service: the shop's products, searchable by text and
//! category, served from memory or from PostgreSQL.

use std::sync::Arc;

use axum::Router;
use shop_common::{ConfigError, EnvSource, Readiness, ReadinessFuture, Service, ServiceContext};

pub mod config;
pub mod routes;
pub mod seed;
pub mod store;

pub use config::CatalogConfig;
pub use routes::CategoryList;
use store::{MemoryStore, PgStore, ProductStore};

pub struct Catalog;

/// What the handlers share: the product store.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn ProductStore>,
}

impl AppState {
    pub fn new(store: Arc<dyn ProductStore>) -> Self {
        Self { store }
    }

    /// An in-memory catalog holding the embedded seed.
    pub fn seeded() -> anyhow::Result<Self> {
        Ok(Self::new(Arc::new(MemoryStore::seeded()?)))
    }

    pub fn store(&self) -> &Arc<dyn ProductStore> {
        &self.store
    }

    /// Readiness that asks the store (a `SELECT 1` for PostgreSQL).
    pub fn readiness(&self) -> Arc<dyn Readiness> {
        Arc::new(StoreReadiness(self.store.clone()))
    }
}

/// The API routes only; the shared endpoints come from `full_router`.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

struct StoreReadiness(Arc<dyn ProductStore>);

impl Readiness for StoreReadiness {
    fn check(&self) -> ReadinessFuture<'_> {
        Box::pin(async move { self.0.ping().await.map_err(|e| e.to_string()) })
    }
}

impl Service for Catalog {
    const NAME: &'static str = "catalog";
    const DEFAULT_PORT: u16 = 8081;
    type Config = CatalogConfig;

    fn config(env: &dyn EnvSource) -> Result<Self::Config, ConfigError> {
        CatalogConfig::from_env(env)
    }

    async fn build(
        _ctx: &ServiceContext,
        config: Self::Config,
    ) -> anyhow::Result<(Router, Arc<dyn Readiness>)> {
        let state = match &config.database {
            Some(settings) => AppState::new(Arc::new(PgStore::connect(settings).await?)),
            None => {
                let state = AppState::seeded()?;
                tracing::info!("catalog serving the embedded seed from memory");
                state
            }
        };
        let readiness = state.readiness();
        Ok((app(state), readiness))
    }
}
