//! The checkout service's own settings: its peers, the time each saga step
//! may take, and how many checkouts it remembers for idempotency.

use std::time::Duration;

use shop_common::ports::peer_url;
use shop_common::{ConfigError, EnvSource, Vars};

#[derive(Debug, Clone)]
pub struct CheckoutConfig {
    pub cart_url: String,
    pub catalog_url: String,
    pub payments_url: String,
    pub orders_url: String,
    /// The most one saga step (with its retries) may take.
    pub step_timeout: Duration,
    /// Checkouts remembered by Idempotency-Key (completed or in progress).
    pub idempotency_capacity: usize,
    /// How long a completed checkout is replayed from memory.
    pub idempotency_ttl: Duration,
}

impl CheckoutConfig {
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let vars = Vars(env);
        Ok(Self {
            cart_url: peer_url(env, "cart")?,
            catalog_url: peer_url(env, "catalog")?,
            payments_url: peer_url(env, "payments")?,
            orders_url: peer_url(env, "orders")?,
            step_timeout: vars.millis(
                "CHECKOUT_STEP_TIMEOUT_MS",
                Duration::from_millis(3000),
                10,
                60_000,
            )?,
            idempotency_capacity: vars.bounded_u64(
                "CHECKOUT_IDEMPOTENCY_CAPACITY",
                10_000,
                16,
                1_000_000,
            )? as usize,
            idempotency_ttl: Duration::from_secs(vars.bounded_u64(
                "CHECKOUT_IDEMPOTENCY_TTL_SECS",
                24 * 3600,
                1,
                7 * 24 * 3600,
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use shop_common::MapEnv;

    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let config = CheckoutConfig::from_env(&MapEnv::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.step_timeout, Duration::from_millis(3000));
        assert_eq!(config.orders_url, "http://127.0.0.1:8083");
        assert_eq!(config.payments_url, "http://127.0.0.1:8085");
        let env = MapEnv::new([
            ("CHECKOUT_STEP_TIMEOUT_MS", "250"),
            ("SHOP_CART_URL", "http://cart:8082/"),
        ]);
        let config = CheckoutConfig::from_env(&env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.step_timeout, Duration::from_millis(250));
        assert_eq!(config.cart_url, "http://cart:8082");
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (key, value) in [
            ("CHECKOUT_STEP_TIMEOUT_MS", "0"),
            ("CHECKOUT_STEP_TIMEOUT_MS", "soon"),
            ("SHOP_PAYMENTS_URL", "ftp://pay"),
            ("CHECKOUT_IDEMPOTENCY_CAPACITY", "1"),
        ] {
            let err = CheckoutConfig::from_env(&MapEnv::new([(key, value)]))
                .err()
                .unwrap_or_else(|| panic!("{key}={value} should fail"));
            assert_eq!(err.key, key);
        }
    }
}
