//! Where carts live: a small async trait with an in-memory store (the
//! default) and a Redis store.
//!
//! A store only knows lines of a cart. Every change goes through
//! [`CartStore::update`] with a closure that edits the lines or refuses with
//! an [`ApiError`]; the store runs it on the latest lines and writes the
//! result atomically, so concurrent changes to one session are never lost and
//! a refused change leaves the stored cart untouched.

mod memory;
mod redis_store;

use std::future::Future;
use std::pin::Pin;

use shop_common::ApiError;
use shop_common::api::CartItem;

pub use memory::MemoryStore;
pub use redis_store::RedisStore;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// A change to the lines of one cart. It may run more than once (Redis
/// retries when another writer got there first), so it must only edit the
/// lines it is given.
pub type Change<'a> = &'a (dyn Fn(&mut Vec<CartItem>) -> Result<(), ApiError> + Send + Sync);

pub trait CartStore: Send + Sync + 'static {
    /// The lines of a session's cart, empty when it has none.
    fn get<'a>(&'a self, session: &'a str) -> StoreFuture<'a, Vec<CartItem>>;

    /// Applies `change` to the latest lines and stores the result; returns the
    /// lines as stored. An empty result removes the cart.
    fn update<'a>(&'a self, session: &'a str, change: Change<'a>)
    -> StoreFuture<'a, Vec<CartItem>>;

    /// Removes a session's cart; removing a missing cart is fine.
    fn remove<'a>(&'a self, session: &'a str) -> StoreFuture<'a, ()>;

    /// Whether the storage answers, for `/readyz`.
    fn ping(&self) -> StoreFuture<'_, ()>;
}

/// The error callers see when the storage itself fails; the details go to the log.
pub(crate) fn unavailable() -> ApiError {
    ApiError::unavailable(
        "storage_unavailable",
        "cart storage is unavailable, try again",
    )
}
