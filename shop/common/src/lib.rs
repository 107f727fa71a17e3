//! The kit every shop service is built with: configuration, errors, JSON
//! logs (and Loki push), Prometheus metrics, health, W3C trace propagation,
//! the peer HTTP client, the chaos layer and graceful shutdown.

pub mod api;
pub mod chaos;
pub mod client;
pub mod config;
pub mod error;
pub mod idempotency;
pub mod logging;
pub mod loki;
pub mod ports;
pub mod service;
pub mod telemetry;
pub mod testing;
pub mod trace;

pub use client::{PeerClient, PeerError, RetryPolicy};
pub use config::{ConfigError, EnvSource, MapEnv, ProcessEnv, Vars};
pub use error::{ApiError, Json, Path, Query};
pub use service::{
    AlwaysReady, CommonConfig, Readiness, ReadinessFuture, Service, ServiceContext, full_router,
};

/// Money in minor units (cents) with an ISO 4217 currency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: Currency,
}

/// The shop trades in one currency; the type keeps the door open for more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Currency {
    #[serde(rename = "USD")]
    Usd,
    #[serde(rename = "EUR")]
    Eur,
}

impl Currency {
    pub fn code(&self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
        }
    }
}

impl Money {
    pub fn format(&self) -> String {
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        format!(
            "{sign}{}.{:02} {}",
            abs / 100,
            abs % 100,
            self.currency.code()
        )
    }
}
