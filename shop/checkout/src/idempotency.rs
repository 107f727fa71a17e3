//! Checkouts by Idempotency-Key, in memory and bounded: a completed one is
//! replayed, one in progress turns a duplicate away, and a failed one is
//! forgotten so that a retry runs the saga again (the payment and order keys
//! derived from the checkout id keep that exactly-once).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use shop_common::api::{CheckoutRequest, CheckoutResult};

pub struct IdempotencyCache {
    inner: Mutex<Inner>,
    capacity: usize,
    ttl: Duration,
    /// Keyed per process: fingerprints never leave memory.
    hasher: RandomState,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Keys by age, with the generation they were inserted with; stale
    /// pairs (the entry was removed or replaced) are skipped and compacted.
    age: VecDeque<(u64, String)>,
    next_generation: u64,
}

struct Entry {
    generation: u64,
    /// A hash of the request body: the same key with another body is a conflict.
    fingerprint: u64,
    state: State,
    at: Instant,
}

enum State {
    InProgress,
    Done(Box<CheckoutResult>),
}

pub enum Begin {
    /// Run the saga; complete or drop the ticket when done.
    Started(Ticket),
    Replay(Box<CheckoutResult>),
    InProgress,
    Conflict,
    /// Every remembered checkout is still running.
    Full,
}

impl IdempotencyCache {
    pub fn new(capacity: usize, ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            ttl,
            hasher: RandomState::new(),
        })
    }

    pub fn fingerprint(&self, req: &CheckoutRequest) -> u64 {
        let card = &req.card;
        self.hasher.hash_one((
            &req.session,
            &req.email,
            &card.number,
            card.exp_month,
            card.exp_year,
            &card.cvc,
        ))
    }

    pub fn begin(self: &Arc<Self>, key: &str, fingerprint: u64) -> Begin {
        let mut inner = self.lock();
        if let Some(entry) = inner.entries.get(key) {
            let expired = matches!(entry.state, State::Done(_)) && entry.at.elapsed() > self.ttl;
            if !expired {
                if entry.fingerprint != fingerprint {
                    return Begin::Conflict;
                }
                return match &entry.state {
                    State::InProgress => Begin::InProgress,
                    State::Done(result) => Begin::Replay(result.clone()),
                };
            }
            inner.entries.remove(key);
        }
        if inner.entries.len() >= self.capacity && !inner.evict_one_done() {
            return Begin::Full;
        }
        let generation = inner.next_generation;
        inner.next_generation += 1;
        inner.entries.insert(
            key.to_string(),
            Entry {
                generation,
                fingerprint,
                state: State::InProgress,
                at: Instant::now(),
            },
        );
        inner.age.push_back((generation, key.to_string()));
        if inner.age.len() > 2 * self.capacity {
            inner.compact();
        }
        Begin::Started(Ticket {
            cache: self.clone(),
            key: key.to_string(),
            generation,
            done: false,
        })
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (every update is a single insert or remove), so keep going.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// Drops the oldest completed checkout; false when all are in progress.
    fn evict_one_done(&mut self) -> bool {
        for _ in 0..self.age.len() {
            let Some((generation, key)) = self.age.pop_front() else {
                return false;
            };
            match self.entries.get(&key) {
                Some(entry) if entry.generation == generation => {
                    if matches!(entry.state, State::Done(_)) {
                        self.entries.remove(&key);
                        return true;
                    }
                    // Still running: keep it, look further.
                    self.age.push_back((generation, key));
                }
                _ => {}
            }
        }
        false
    }

    fn compact(&mut self) {
        let entries = &self.entries;
        self.age.retain(|(generation, key)| {
            entries
                .get(key)
                .is_some_and(|e| e.generation == *generation)
        });
    }
}

/// A checkout in progress. Completing it remembers the result; dropping it
/// uncompleted (failure, panic) forgets the key so a retry starts afresh.
pub struct Ticket {
    cache: Arc<IdempotencyCache>,
    key: String,
    generation: u64,
    done: bool,
}

impl Ticket {
    pub fn complete(mut self, result: &CheckoutResult) {
        let mut inner = self.cache.lock();
        if let Some(entry) = inner.entries.get_mut(&self.key)
            && entry.generation == self.generation
        {
            entry.state = State::Done(Box::new(result.clone()));
            entry.at = Instant::now();
        }
        self.done = true;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut inner = self.cache.lock();
        if inner
            .entries
            .get(&self.key)
            .is_some_and(|e| e.generation == self.generation)
        {
            inner.entries.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use shop_common::api::{Card, Order};
    use shop_common::{Currency, Money};

    use super::*;

    fn request(email: &str) -> CheckoutRequest {
        CheckoutRequest {
            session: "s".into(),
            email: email.into(),
            card: Card {
                number: "4242424242424242".into(),
                exp_month: 12,
                exp_year: 2030,
                cvc: "123".into(),
            },
        }
    }

    fn result(id: &str) -> CheckoutResult {
        CheckoutResult {
            checkout_id: format!("chk_{id}"),
            order: Order {
                id: format!("ord_{id}"),
                checkout_id: format!("chk_{id}"),
                session: "s".into(),
                lines: Vec::new(),
                total: Money {
                    amount_minor: 1,
                    currency: Currency::Usd,
                },
                charge_id: "ch".into(),
                email: "a@b".into(),
                created_at: "now".into(),
            },
        }
    }

    #[test]
    fn replays_completed_refuses_duplicates_and_forgets_failures() {
        let cache = IdempotencyCache::new(16, Duration::from_secs(60));
        let fp = cache.fingerprint(&request("a@b"));
        let other = cache.fingerprint(&request("c@d"));
        assert_ne!(fp, other);

        let Begin::Started(ticket) = cache.begin("k1", fp) else {
            panic!("first begin starts")
        };
        assert!(matches!(cache.begin("k1", fp), Begin::InProgress));
        assert!(matches!(cache.begin("k1", other), Begin::Conflict));
        ticket.complete(&result("1"));
        assert!(matches!(cache.begin("k1", fp), Begin::Replay(r) if r.order.id == "ord_1"));
        assert!(matches!(cache.begin("k1", other), Begin::Conflict));

        let Begin::Started(failed) = cache.begin("k2", fp) else {
            panic!("starts")
        };
        drop(failed);
        assert!(
            matches!(cache.begin("k2", other), Begin::Started(_)),
            "a failed attempt is forgotten"
        );
    }

    #[test]
    fn bounded_evicting_the_oldest_completed() {
        let cache = IdempotencyCache::new(3, Duration::from_secs(60));
        let fp = 7;
        let Begin::Started(running) = cache.begin("running", fp) else {
            panic!("starts")
        };
        for key in ["a", "b"] {
            let Begin::Started(t) = cache.begin(key, fp) else {
                panic!("starts")
            };
            t.complete(&result(key));
        }
        let Begin::Started(c) = cache.begin("c", fp) else {
            panic!("evicts a")
        };
        assert_eq!(cache.len(), 3);
        let Begin::Started(a) = cache.begin("a", fp) else {
            panic!("evicts b")
        };
        assert!(
            matches!(cache.begin("d", fp), Begin::Full),
            "all three are running"
        );
        assert!(matches!(cache.begin("running", fp), Begin::InProgress));
        drop((a, c, running));
        assert!(cache.is_empty());
        // Many failures do not grow the age queue without bound.
        for i in 0..100 {
            let key = format!("f{i}");
            drop(cache.begin(&key, fp));
        }
        assert!(cache.lock().age.len() <= 6);
    }

    #[test]
    fn completed_entries_expire() {
        let cache = IdempotencyCache::new(4, Duration::ZERO);
        let Begin::Started(t) = cache.begin("k", 1) else {
            panic!("starts")
        };
        t.complete(&result("k"));
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(cache.begin("k", 2), Begin::Started(_)));
    }
}
