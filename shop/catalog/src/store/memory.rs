//! The default store: a fixed, validated product list held in memory.

use std::collections::BTreeMap;

use shop_common::api::Product;

use super::{ProductStore, Search, StoreFuture};
use crate::seed;

pub struct MemoryStore {
    /// Keyed by id, so iteration is already in id order.
    products: BTreeMap<String, Product>,
}

impl MemoryStore {
    /// A store holding the embedded seed.
    pub fn seeded() -> anyhow::Result<Self> {
        Self::new(seed::products()?)
    }

    /// A store holding `products`, which must pass the seed's validation.
    pub fn new(products: Vec<Product>) -> anyhow::Result<Self> {
        seed::validate_all(&products)?;
        Ok(Self {
            products: products.into_iter().map(|p| (p.id.clone(), p)).collect(),
        })
    }
}

impl ProductStore for MemoryStore {
    fn search<'a>(&'a self, search: &'a Search) -> StoreFuture<'a, Vec<Product>> {
        let found = self
            .products
            .values()
            .filter(|p| search.matches(p))
            .skip(search.offset as usize)
            .take(search.limit as usize)
            .cloned()
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Product>> {
        let found = self.products.get(id).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn categories(&self) -> StoreFuture<'_, Vec<String>> {
        let mut all: Vec<String> = self
            .products
            .values()
            .flat_map(|p| p.categories.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        Box::pin(async move { Ok(all) })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}
