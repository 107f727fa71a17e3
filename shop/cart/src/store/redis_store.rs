//! Carts in Redis: one key per session (`<prefix><session>`) holding the cart
//! as JSON, with a TTL refreshed on every write.
//!
//! Updates are read-modify-write with compare-and-set: read the value, apply
//! the change in Rust, then a small Lua script writes the new value only if
//! the key still holds what was read (and retries otherwise). The script runs
//! atomically in Redis, so a write from another replica in between is never
//! overwritten. WATCH/MULTI would need a dedicated connection per update;
//! the script works on the shared multiplexed connection. Writers in this
//! process also take a per-session lock (striped, so the lock table is
//! bounded) so they queue instead of retrying against each other.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use shop_common::ApiError;
use shop_common::api::{Cart, CartItem};
use tokio::sync::Mutex;

use super::{CartStore, Change, StoreFuture, unavailable};
use crate::config::RedisConfig;

/// Sets KEYS[1] to ARGV[2] (deletes it when ARGV[2] is empty) with a TTL of
/// ARGV[3] seconds, only if it still holds ARGV[1] (empty: absent).
/// Returns 1 when written, 0 when someone else changed the key first.
const COMPARE_AND_SET: &str = r"
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 1
";

/// Compare-and-set rounds before giving up: only reached when other
/// replicas write the same cart continuously.
const MAX_ATTEMPTS: u32 = 20;
/// Longest pause between rounds; the pause is random so that the replicas
/// that lost a round do not collide again in step.
const MAX_BACKOFF_MS: u64 = 50;
const LOCK_STRIPES: usize = 256;

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    ttl_secs: u64,
    locks: Vec<Mutex<()>>,
    hasher: RandomState,
}

impl RedisStore {
    /// Sets up the connection; it is made on first use and remade after a
    /// failure, so the service starts (not ready) while Redis is down.
    pub fn connect(config: &RedisConfig) -> anyhow::Result<Self> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|_| anyhow::anyhow!("REDIS_URL is not a valid redis:// url"))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let conn = client
            .get_connection_manager_lazy(manager_config)
            .map_err(|e| anyhow::anyhow!("cannot set up the redis connection: {e}"))?;
        Ok(Self {
            conn,
            prefix: config.prefix.clone(),
            ttl_secs: config.ttl.as_secs().max(1),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        })
    }

    fn key(&self, session: &str) -> String {
        format!("{}{session}", self.prefix)
    }

    fn lock_for(&self, session: &str) -> &Mutex<()> {
        let index = self.hasher.hash_one(session) as usize % self.locks.len();
        &self.locks[index]
    }

    async fn read(&self, session: &str) -> Result<(String, Vec<CartItem>), ApiError> {
        let raw: Option<String> = redis::cmd("GET")
            .arg(self.key(session))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(failed)?;
        let raw = raw.unwrap_or_default();
        if raw.is_empty() {
            return Ok((raw, Vec::new()));
        }
        match serde_json::from_str::<Cart>(&raw) {
            Ok(cart) => Ok((raw, cart.items)),
            Err(e) => {
                // Refuse rather than overwrite: DELETE /carts/{session} clears it.
                tracing::error!(error = %e, "stored cart is unreadable");
                Err(ApiError::internal(
                    "the stored cart is unreadable; empty the cart to start again",
                ))
            }
        }
    }
}

fn failed(e: redis::RedisError) -> ApiError {
    tracing::warn!(error = %e, "redis command failed");
    unavailable()
}

impl CartStore for RedisStore {
    fn get<'a>(&'a self, session: &'a str) -> StoreFuture<'a, Vec<CartItem>> {
        Box::pin(async move { self.read(session).await.map(|(_, items)| items) })
    }

    fn update<'a>(
        &'a self,
        session: &'a str,
        change: Change<'a>,
    ) -> StoreFuture<'a, Vec<CartItem>> {
        Box::pin(async move {
            let _queued = self.lock_for(session).lock().await;
            for attempt in 0..MAX_ATTEMPTS {
                if attempt > 0 {
                    let ceiling = (1u64 << attempt.min(6)).min(MAX_BACKOFF_MS);
                    tokio::time::sleep(Duration::from_millis(rand::random_range(1..=ceiling)))
                        .await;
                }
                let (before, mut items) = self.read(session).await?;
                change(&mut items)?;
                let after = if items.is_empty() {
                    String::new()
                } else {
                    let cart = Cart {
                        session: session.to_string(),
                        items: items.clone(),
                    };
                    serde_json::to_string(&cart)
                        .map_err(|e| ApiError::internal(format!("cannot encode the cart: {e}")))?
                };
                let written: i64 = redis::cmd("EVAL")
                    .arg(COMPARE_AND_SET)
                    .arg(1)
                    .arg(self.key(session))
                    .arg(&before)
                    .arg(&after)
                    .arg(self.ttl_secs)
                    .query_async(&mut self.conn.clone())
                    .await
                    .map_err(failed)?;
                if written == 1 {
                    return Ok(items);
                }
            }
            tracing::warn!(attempts = MAX_ATTEMPTS, "cart update kept conflicting");
            Err(ApiError::conflict(
                "conflict",
                "the cart is being changed elsewhere, try again",
            ))
        })
    }

    fn remove<'a>(&'a self, session: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let _: i64 = redis::cmd("DEL")
                .arg(self.key(session))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(failed)?;
            Ok(())
        })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let _: String = redis::cmd("PING")
                .query_async(&mut self.conn.clone())
                .await
                .map_err(|e| ApiError::unavailable("storage_unavailable", format!("redis: {e}")))?;
            Ok(())
        })
    }
}
