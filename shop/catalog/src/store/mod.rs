//! Where products live: a small trait with an in-memory implementation (the
//! default, seeded) and a PostgreSQL one (when `DATABASE_URL` is set).

use std::future::Future;
use std::pin::Pin;

use shop_common::api::Product;

pub mod memory;
pub mod postgres;

pub use memory::MemoryStore;
pub use postgres::PgStore;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A validated product query: `text` is already trimmed and lowercased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub text: Option<String>,
    pub category: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

impl Search {
    /// Whether `product` matches the text and category filters (not paging).
    pub fn matches(&self, product: &Product) -> bool {
        if let Some(category) = &self.category
            && !product.categories.iter().any(|c| c == category)
        {
            return false;
        }
        let Some(text) = &self.text else { return true };
        product.name.to_lowercase().contains(text.as_str())
            || product.description.to_lowercase().contains(text.as_str())
            || product
                .categories
                .iter()
                .any(|c| c.to_lowercase().contains(text.as_str()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// Read access to the catalog. Results are ordered by product id so paging
/// is stable across calls and across implementations.
pub trait ProductStore: Send + Sync + 'static {
    fn search<'a>(&'a self, search: &'a Search) -> StoreFuture<'a, Vec<Product>>;
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Product>>;
    /// Every category in use, sorted and without repeats.
    fn categories(&self) -> StoreFuture<'_, Vec<String>>;
    /// Readiness: whether the storage answers.
    fn ping(&self) -> StoreFuture<'_, ()>;
}
