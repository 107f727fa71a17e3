//! Charges and idempotency keys in memory, bounded: at most `capacity` of
//! each, oldest evicted first. Every charge has a key stored with it, so a
//! key outlives its charge only if keys are evicted later, never earlier.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use shop_common::ApiError;
use shop_common::api::{Charge, ChargeStatus};

/// What a key is bound to: a digest of the request and its answer.
#[derive(Debug, Clone)]
struct KeyRecord {
    fingerprint: u64,
    outcome: Result<String, ApiError>,
}

#[derive(Debug, Default)]
struct Inner {
    charges: HashMap<String, Charge>,
    charge_order: VecDeque<String>,
    keys: HashMap<String, KeyRecord>,
    key_order: VecDeque<String>,
}

/// The answer to a keyed charge request.
#[derive(Debug)]
pub enum Attempt {
    /// First time for this key: the new charge, or the decline.
    New(Result<Charge, ApiError>),
    /// The key was seen with the same request: the first answer again.
    Replayed(Result<Charge, ApiError>),
    /// The key was seen with a different request.
    Conflict,
}

pub struct ChargeStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl ChargeStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Writes below are single insertions, so a poisoned lock still guards
        // consistent data.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `charge` once per key: the check and the charge happen under one
    /// lock, so concurrent requests with one key cannot both charge.
    pub fn charge_once(
        &self,
        key: &str,
        fingerprint: u64,
        charge: impl FnOnce() -> Result<Charge, ApiError>,
    ) -> Attempt {
        let mut inner = self.lock();
        if let Some(record) = inner.keys.get(key).cloned() {
            if record.fingerprint != fingerprint {
                return Attempt::Conflict;
            }
            match record.outcome {
                Err(decline) => return Attempt::Replayed(Err(decline)),
                Ok(id) => {
                    if let Some(charge) = inner.charges.get(&id) {
                        return Attempt::Replayed(Ok(charge.clone()));
                    }
                    // The charge was evicted (only possible if keys outlive
                    // charges); treat the key as new rather than fail.
                }
            }
        }
        let outcome = charge();
        let record = KeyRecord {
            fingerprint,
            outcome: outcome.as_ref().map(|c| c.id.clone()).map_err(Clone::clone),
        };
        if let Ok(charge) = &outcome {
            inner.insert_charge(charge.clone(), self.capacity);
        }
        inner.insert_key(key, record, self.capacity);
        Attempt::New(outcome)
    }

    pub fn get(&self, id: &str) -> Option<Charge> {
        self.lock().charges.get(id).cloned()
    }

    /// Marks the charge refunded; `None` when unknown. The flag says whether
    /// it changed now (false on a repeat).
    pub fn refund(&self, id: &str) -> Option<(Charge, bool)> {
        let mut inner = self.lock();
        let charge = inner.charges.get_mut(id)?;
        let changed = charge.status != ChargeStatus::Refunded;
        charge.status = ChargeStatus::Refunded;
        Some((charge.clone(), changed))
    }

    /// How many charges are held.
    pub fn len(&self) -> usize {
        self.lock().charges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Everything held, as text, for tests that look for card data.
    #[cfg(test)]
    pub fn dump(&self) -> String {
        format!("{:?}", *self.lock())
    }
}

impl Inner {
    fn insert_charge(&mut self, charge: Charge, capacity: usize) {
        self.charge_order.push_back(charge.id.clone());
        self.charges.insert(charge.id.clone(), charge);
        while self.charges.len() > capacity {
            let Some(oldest) = self.charge_order.pop_front() else {
                break;
            };
            self.charges.remove(&oldest);
        }
    }

    fn insert_key(&mut self, key: &str, record: KeyRecord, capacity: usize) {
        if self.keys.insert(key.to_string(), record).is_none() {
            self.key_order.push_back(key.to_string());
        }
        while self.keys.len() > capacity {
            let Some(oldest) = self.key_order.pop_front() else {
                break;
            };
            self.keys.remove(&oldest);
        }
    }
}
