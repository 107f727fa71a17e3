//! The payments service's own settings.

use shop_common::config::{ConfigError, EnvSource, Vars};

pub const DEFAULT_MAX_CHARGES: u64 = 100_000;

#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    /// Charges (and idempotency keys) kept in memory before the oldest go.
    pub max_charges: usize,
}

impl PaymentsConfig {
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let max_charges =
            Vars(env).bounded_u64("PAYMENTS_MAX_CHARGES", DEFAULT_MAX_CHARGES, 1, 10_000_000)?
                as usize;
        Ok(Self { max_charges })
    }
}
