//! Finished answers per query, for the catalog snapshot they were computed
//! from. Bounded: past the cap the oldest entry goes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use shop_common::api::Recommendation;

pub const MAX_ENTRIES: usize = 1000;

pub struct ResultCache {
    cap: usize,
    /// The snapshot generation the entries belong to; a newer one empties the cache.
    generation: u64,
    entries: HashMap<String, Arc<Vec<Recommendation>>>,
    /// Keys in insertion order, oldest first.
    order: VecDeque<String>,
}

impl ResultCache {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            generation: 0,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn get(&self, key: &str, generation: u64) -> Option<Arc<Vec<Recommendation>>> {
        if generation != self.generation {
            return None;
        }
        self.entries.get(key).cloned()
    }

    pub fn insert(&mut self, key: String, generation: u64, value: Arc<Vec<Recommendation>>) {
        if generation < self.generation {
            // Computed from a snapshot that has since been replaced.
            return;
        }
        if generation > self.generation {
            self.entries.clear();
            self.order.clear();
            self.generation = generation;
        }
        if self.entries.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
        }
        while self.entries.len() > self.cap {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Arc<Vec<Recommendation>> {
        Arc::new(Vec::new())
    }

    #[test]
    fn evicts_oldest_past_the_cap() {
        let mut cache = ResultCache::new(3);
        for key in ["a", "b", "c", "d"] {
            cache.insert(key.into(), 1, v());
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get("a", 1).is_none());
        assert!(cache.get("d", 1).is_some());
        cache.insert("b".into(), 1, v());
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn a_new_generation_empties_and_old_ones_are_ignored() {
        let mut cache = ResultCache::new(10);
        cache.insert("a".into(), 1, v());
        assert!(cache.get("a", 2).is_none());
        cache.insert("b".into(), 2, v());
        assert_eq!(cache.len(), 1);
        cache.insert("c".into(), 1, v());
        assert!(cache.get("c", 1).is_none());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn stays_bounded_at_the_default_cap() {
        let mut cache = ResultCache::new(MAX_ENTRIES);
        for i in 0..(MAX_ENTRIES * 3) {
            cache.insert(format!("k{i}"), 7, v());
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert!(cache.get(&format!("k{}", MAX_ENTRIES * 3 - 1), 7).is_some());
    }
}
