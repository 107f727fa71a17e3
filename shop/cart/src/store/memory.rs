//! Carts in process memory, bounded: past the capacity the least recently
//! updated cart is dropped, as an abandoned cart would expire.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use shop_common::api::CartItem;

use super::{CartStore, Change, StoreFuture};

pub struct MemoryStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    carts: HashMap<String, Entry>,
    /// Update stamp -> session, oldest first, to find whom to evict.
    by_age: BTreeMap<u64, String>,
    next_stamp: u64,
}

struct Entry {
    items: Vec<CartItem>,
    stamp: u64,
}

impl MemoryStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// How many carts are held.
    pub fn len(&self) -> usize {
        self.lock().carts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while locked cannot leave a half-written cart: changes are
        // made on a copy and stored in one assignment.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn remove(&mut self, session: &str) {
        if let Some(old) = self.carts.remove(session) {
            self.by_age.remove(&old.stamp);
        }
    }

    fn store(&mut self, session: &str, items: Vec<CartItem>, capacity: usize) {
        self.remove(session);
        if items.is_empty() {
            return;
        }
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.by_age.insert(stamp, session.to_string());
        self.carts
            .insert(session.to_string(), Entry { items, stamp });
        while self.carts.len() > capacity {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.carts.remove(&oldest);
            tracing::debug!(capacity, "cart evicted from memory");
        }
    }
}

impl CartStore for MemoryStore {
    fn get<'a>(&'a self, session: &'a str) -> StoreFuture<'a, Vec<CartItem>> {
        let items = self
            .lock()
            .carts
            .get(session)
            .map(|e| e.items.clone())
            .unwrap_or_default();
        Box::pin(async move { Ok(items) })
    }

    fn update<'a>(
        &'a self,
        session: &'a str,
        change: Change<'a>,
    ) -> StoreFuture<'a, Vec<CartItem>> {
        // The change runs under the lock, so two updates of a session never interleave.
        let result = {
            let mut inner = self.lock();
            let mut items = inner
                .carts
                .get(session)
                .map(|e| e.items.clone())
                .unwrap_or_default();
            change(&mut items).map(|()| {
                inner.store(session, items.clone(), self.capacity);
                items
            })
        };
        Box::pin(async move { result })
    }

    fn remove<'a>(&'a self, session: &'a str) -> StoreFuture<'a, ()> {
        self.lock().remove(session);
        Box::pin(async { Ok(()) })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}
