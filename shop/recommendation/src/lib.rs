//! The recommendation service: products related to one product or to a
//! cart, computed from a cached copy of the catalog.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use shop_common::api::Recommendation as Suggestion;
use shop_common::{
    AlwaysReady, ApiError, ConfigError, EnvSource, PeerClient, Readiness, Service, ServiceContext,
    Vars,
};

pub mod catalog_cache;
pub mod result_cache;
pub mod routes;
pub mod scoring;

use catalog_cache::CatalogCache;
use result_cache::ResultCache;

pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);

pub struct Recommendation;

#[derive(Debug, Clone)]
pub struct RecommendationConfig {
    pub catalog_url: String,
    /// How long a copy of the catalog is used before it is fetched again.
    pub cache_ttl: Duration,
}

impl RecommendationConfig {
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            catalog_url: shop_common::ports::peer_url(env, "catalog")?,
            cache_ttl: Vars(env).millis(
                "RECOMMENDATION_CACHE_TTL_MS",
                DEFAULT_CACHE_TTL,
                10,
                3_600_000,
            )?,
        })
    }
}

/// What the handlers share: the catalog cache and the answers cache.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    catalog: CatalogCache,
    results: Mutex<ResultCache>,
}

impl AppState {
    /// `catalog` is the client for the catalog service (`ctx.peer("catalog", url)`).
    pub fn new(catalog: PeerClient, cache_ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                catalog: CatalogCache::new(catalog, cache_ttl),
                results: Mutex::new(ResultCache::new(result_cache::MAX_ENTRIES)),
            }),
        }
    }

    pub fn catalog(&self) -> &CatalogCache {
        &self.inner.catalog
    }

    /// Loads the catalog now rather than on the first request.
    pub async fn warm(&self) -> Result<(), ApiError> {
        self.inner.catalog.snapshot().await.map(|_| ())
    }

    fn cached(&self, key: &str, generation: u64) -> Option<Arc<Vec<Suggestion>>> {
        self.inner
            .results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key, generation)
    }

    fn remember(&self, key: String, generation: u64, value: Arc<Vec<Suggestion>>) {
        self.inner
            .results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, generation, value);
    }

    /// How many answers are cached (for tests and diagnostics).
    pub fn cached_answers(&self) -> usize {
        self.inner
            .results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

/// The API routes only; the shared endpoints come from `full_router`.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

impl Service for Recommendation {
    const NAME: &'static str = "recommendation";
    const DEFAULT_PORT: u16 = 8086;
    type Config = RecommendationConfig;

    fn config(env: &dyn EnvSource) -> Result<Self::Config, ConfigError> {
        RecommendationConfig::from_env(env)
    }

    async fn build(
        ctx: &ServiceContext,
        config: Self::Config,
    ) -> anyhow::Result<(Router, Arc<dyn Readiness>)> {
        let state = AppState::new(ctx.peer("catalog", &config.catalog_url), config.cache_ttl);
        // Warm the cache in the background: start-up must not depend on the
        // catalog being up first, and a failure here is retried on demand.
        let warming = state.clone();
        tokio::spawn(async move {
            if warming.warm().await.is_err() {
                tracing::warn!(
                    "catalog not reachable at start-up; will load it on the first request"
                );
            }
        });
        // Ready without the catalog: answers fail soft (503) until it is
        // reachable, and tying readiness to a peer would cascade outages.
        Ok((app(state), Arc::new(AlwaysReady)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_common::MapEnv;

    #[test]
    fn config_defaults_and_bounds() {
        let config = RecommendationConfig::from_env(&MapEnv::default()).expect("defaults");
        assert_eq!(config.catalog_url, "http://127.0.0.1:8081");
        assert_eq!(config.cache_ttl, DEFAULT_CACHE_TTL);
        let env = MapEnv::new([
            ("SHOP_CATALOG_URL", "http://catalog:9000/"),
            ("RECOMMENDATION_CACHE_TTL_MS", "250"),
        ]);
        let config = RecommendationConfig::from_env(&env).expect("valid");
        assert_eq!(config.catalog_url, "http://catalog:9000");
        assert_eq!(config.cache_ttl, Duration::from_millis(250));
        for (key, value) in [
            ("RECOMMENDATION_CACHE_TTL_MS", "0"),
            ("RECOMMENDATION_CACHE_TTL_MS", "3600001"),
            ("RECOMMENDATION_CACHE_TTL_MS", "soon"),
            ("SHOP_CATALOG_URL", "ftp://catalog"),
        ] {
            let err =
                RecommendationConfig::from_env(&MapEnv::new([(key, value)])).expect_err("rejected");
            assert_eq!(err.key, key);
        }
    }
}
