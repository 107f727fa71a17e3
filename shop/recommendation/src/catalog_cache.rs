//! The catalog as this service knows it: all products, fetched page by page
//! from the catalog service and kept for a TTL. One refresh runs at a time;
//! while it runs, callers holding a stale copy use that instead of queueing.
//! When the catalog cannot be reached, a stale copy is served (with a
//! warning) and refreshes pause briefly so each request does not pay for a
//! failing call.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use shop_common::api::{Product, ProductList};
use shop_common::{ApiError, PeerClient};

/// The catalog's largest page.
const PAGE_SIZE: usize = 100;
/// At most this many pages (10,000 products) are read per refresh.
const MAX_PAGES: usize = 100;
/// After a failed refresh, stale data is served this long before trying again.
const FAILURE_COOLDOWN: Duration = Duration::from_secs(1);

/// One complete read of the catalog.
pub struct Snapshot {
    pub products: Vec<Product>,
    index: HashMap<String, usize>,
    /// Increases with every successful refresh; keys the result cache.
    pub generation: u64,
    fetched_at: Instant,
}

impl Snapshot {
    fn new(mut products: Vec<Product>, generation: u64) -> Self {
        // Paging over a catalog that changes underneath can repeat a product.
        let mut index = HashMap::with_capacity(products.len());
        products.retain(|p| {
            let fresh = !index.contains_key(&p.id);
            if fresh {
                index.insert(p.id.clone(), index.len());
            }
            fresh
        });
        Self {
            products,
            index,
            generation,
            fetched_at: Instant::now(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Product> {
        self.index.get(id).and_then(|i| self.products.get(*i))
    }
}

#[derive(Default)]
struct RefreshState {
    generation: u64,
    last_failure: Option<(Instant, String)>,
}

pub struct CatalogCache {
    client: PeerClient,
    ttl: Duration,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Held for the length of one refresh, so misses do not stampede the catalog.
    refresh: tokio::sync::Mutex<RefreshState>,
}

impl CatalogCache {
    pub fn new(client: PeerClient, ttl: Duration) -> Self {
        Self {
            client,
            ttl,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
        }
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn fresh(&self, snapshot: &Snapshot) -> bool {
        snapshot.fetched_at.elapsed() < self.ttl
    }

    /// The catalog: cached if fresh, else refreshed, else stale if there is
    /// any; an error only when there has never been a successful read.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, ApiError> {
        let current = self.current();
        if let Some(snapshot) = &current
            && self.fresh(snapshot)
        {
            return Ok(snapshot.clone());
        }
        let waiting_since = Instant::now();
        let mut state = match current {
            // Someone is refreshing already: the stale copy will do for now.
            Some(stale) => match self.refresh.try_lock() {
                Ok(state) => state,
                Err(_) => return Ok(stale),
            },
            None => self.refresh.lock().await,
        };
        // The refresh we waited for may have done the work.
        let current = self.current();
        if let Some(snapshot) = &current
            && self.fresh(snapshot)
        {
            return Ok(snapshot.clone());
        }
        if let Some((failed_at, reason)) = &state.last_failure {
            let recent = failed_at.elapsed() < FAILURE_COOLDOWN;
            match &current {
                Some(stale) if recent => return Ok(stale.clone()),
                // It failed while we waited: fail alike instead of trying again in series.
                None if *failed_at >= waiting_since => return Err(unavailable(reason)),
                _ => {}
            }
        }
        match self.fetch_all().await {
            Ok(products) => {
                state.generation += 1;
                state.last_failure = None;
                let snapshot = Arc::new(Snapshot::new(products, state.generation));
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(snapshot.clone());
                tracing::info!(
                    products = snapshot.products.len(),
                    generation = snapshot.generation,
                    "catalog refreshed"
                );
                Ok(snapshot)
            }
            Err(reason) => {
                state.last_failure = Some((Instant::now(), reason.clone()));
                match current {
                    Some(stale) => {
                        tracing::warn!(
                            error = %reason,
                            age_ms = stale.fetched_at.elapsed().as_millis() as u64,
                            "catalog refresh failed; serving the stale catalog"
                        );
                        Ok(stale)
                    }
                    None => {
                        tracing::error!(error = %reason, "catalog unavailable and nothing cached");
                        Err(unavailable(&reason))
                    }
                }
            }
        }
    }

    /// Every product, page by page, up to the bound.
    async fn fetch_all(&self) -> Result<Vec<Product>, String> {
        let mut products = Vec::new();
        for page in 0..MAX_PAGES {
            let path = format!("/products?limit={PAGE_SIZE}&offset={}", page * PAGE_SIZE);
            let list: ProductList = self
                .client
                .get_json(&path)
                .await
                .map_err(|e| e.to_string())?;
            let full = list.data.len() >= PAGE_SIZE;
            products.extend(list.data);
            if !full {
                return Ok(products);
            }
        }
        tracing::warn!(
            products = products.len(),
            "catalog is larger than the recommendation cache holds; using the first pages"
        );
        Ok(products)
    }
}

fn unavailable(reason: &str) -> ApiError {
    ApiError::unavailable(
        "catalog_unavailable",
        format!("recommendations need the catalog, which is unavailable: {reason}"),
    )
}
