//! The engine's pure core. Time is always an argument (milliseconds or
//! nanoseconds since the epoch), never read from the wall clock here.
//!
//! - [`model`]: what the intake hands over.
//! - [`labels`]: interned label sets, series ids, service identity.
//! - [`series_store`]: the sharded, compressed metrics window; [`query`]
//!   reads it as Prometheus' `/series` and `/query_range` do and
//!   [`prom_json`] has their JSON bodies.
//! - [`log_store`]: bounded per-stream log rings.
//! - [`alerts`]: Alertmanager notifications, once per episode.
//! - [`selector`]: Prometheus/Loki series selectors.
//! - [`subscription`]: zero-copy fan-out of appended data.
//! - [`limits`]: every bound and its default.

pub mod alerts;
pub mod chunk;
pub mod labels;
pub mod limits;
pub mod log_store;
pub mod model;
pub mod prom_json;
pub mod query;
pub mod selector;
pub mod series_store;
pub mod subscription;

pub use alerts::{AlertEpisode, AlertStatus, AlertStore, RecordOutcome};
pub use labels::{DEFAULT_SERVICE_KEYS, Interner, Labels, SeriesId, StreamId, service_of};
pub use limits::{AlertStoreConfig, LogStoreConfig, StoreConfig};
pub use log_store::{AppendedLogBatch, LogAppendOutcome, LogQueryEntry, LogStore, LogStoreStats};
pub use query::{QueryError, RangeSeries};
pub use selector::{MatchOp, Matcher, Selector, SelectorError};
pub use series_store::{
    AppendOutcome, AppendedBatch, CompactOutcome, RejectCounts, SeriesStore, StoreStats,
};
pub use subscription::Subscription;
