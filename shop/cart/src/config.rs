//! The cart's own settings, read from the environment.

use std::time::Duration;

use shop_common::config::{ConfigError, EnvSource, Vars};
use shop_common::ports::peer_url;

/// Carts kept in memory by default.
pub const DEFAULT_MAX_SESSIONS: u64 = 100_000;
/// An untouched cart lives this long in Redis.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct CartConfig {
    pub catalog_url: String,
    /// Set when carts live in Redis.
    pub redis: Option<RedisConfig>,
    /// Capacity of the in-memory store.
    pub max_sessions: usize,
}

#[derive(Clone)]
pub struct RedisConfig {
    pub url: String,
    pub ttl: Duration,
    pub prefix: String,
}

// The URL may carry a password: keep it out of debug output.
impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("ttl", &self.ttl)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl CartConfig {
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let vars = Vars(env);
        let catalog_url = peer_url(env, "catalog")?;
        let max_sessions =
            vars.bounded_u64("CART_MAX_SESSIONS", DEFAULT_MAX_SESSIONS, 1, 10_000_000)? as usize;
        let ttl = Duration::from_secs(vars.bounded_u64(
            "CART_TTL_SECS",
            DEFAULT_TTL.as_secs(),
            60,
            90 * 24 * 3600,
        )?);
        let prefix = vars
            .string("CART_REDIS_PREFIX")
            .unwrap_or_else(|| "cart:".to_string());
        if prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "CART_REDIS_PREFIX",
                "must be 1 to 64 printable characters without spaces",
            ));
        }
        let redis = match vars.string("REDIS_URL") {
            None => None,
            Some(url) => Some(RedisConfig {
                url: redis_url(url.trim())?,
                ttl,
                prefix,
            }),
        };
        Ok(Self {
            catalog_url,
            redis,
            max_sessions,
        })
    }
}

/// A `redis://` URL the client can parse. The reason never repeats the URL,
/// which may hold a password.
fn redis_url(raw: &str) -> Result<String, ConfigError> {
    if !raw.starts_with("redis://") {
        return Err(ConfigError::new("REDIS_URL", "must be a redis:// url"));
    }
    redis::Client::open(raw)
        .map_err(|_| ConfigError::new("REDIS_URL", "not a valid redis:// url"))?;
    Ok(raw.to_string())
}
