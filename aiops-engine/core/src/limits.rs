//! Every bound the core enforces, with its default in one place, so the
//! server's configuration maps onto these structs field by field.

/// How long metrics and logs are kept: the engine's analysis window.
pub const DEFAULT_RETENTION_MS: i64 = 3 * 60 * 60 * 1000;
/// Enough for a few thousand targets with a few hundred series each.
pub const DEFAULT_MAX_ACTIVE_SERIES: usize = 500_000;
/// The fastest scrape interval we size a series' buffer for.
pub const DEFAULT_MIN_SCRAPE_INTERVAL_MS: i64 = 1_000;
/// Whatever retention and interval say, one series never holds more.
pub const MAX_SAMPLES_PER_SERIES_CAP: usize = 100_000;
/// Samples further ahead than this are a broken clock, not data; the value
/// Prometheus' TSDB tolerates for out-of-bounds writes is similar.
pub const DEFAULT_FUTURE_TOLERANCE_MS: i64 = 10 * 60 * 1000;
/// A series with no sample for this long may be evicted to make room;
/// Prometheus' lookback delta, after which a query no longer sees it anyway.
pub const DEFAULT_STALE_SERIES_MS: i64 = 5 * 60 * 1000;
/// Lock shards of the series map: enough that concurrent appends rarely meet.
pub const DEFAULT_SHARDS: usize = 32;
/// Appended batches buffered per subscriber before it lags.
pub const DEFAULT_FEED_CAPACITY: usize = 1024;
/// Prometheus' lookback delta for instant evaluation.
pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;
/// Prometheus refuses range queries with more steps than this.
pub const MAX_POINTS_PER_SERIES: usize = 11_000;
/// Prometheus' `--query.max-samples` default.
pub const DEFAULT_MAX_QUERY_POINTS: usize = 50_000_000;

pub const DEFAULT_MAX_STREAMS: usize = 10_000;
pub const DEFAULT_MAX_LINES_PER_STREAM: usize = 10_000;
pub const DEFAULT_MAX_BYTES_PER_STREAM: usize = 8 * 1024 * 1024;
/// Line and metadata bytes the whole log store holds at most: without it,
/// 10,000 full streams could hold 80 GiB.
pub const DEFAULT_MAX_LOG_BYTES: usize = 256 * 1024 * 1024;

pub const DEFAULT_MAX_ALERT_EPISODES: usize = 100_000;

/// Compiled size limit of one selector regex, so a hostile pattern can't
/// make a query allocate without bound.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    pub retention_ms: i64,
    pub max_active_series: usize,
    /// Rounded up to whole chunks of 120 samples when trimming.
    pub max_samples_per_series: usize,
    pub future_tolerance_ms: i64,
    pub stale_series_ms: i64,
    /// Rounded to at least 1.
    pub shards: usize,
    pub feed_capacity: usize,
    pub max_points_per_series: usize,
    pub max_query_points: usize,
}

impl StoreConfig {
    /// A series' sample bound for a retention and the fastest interval we
    /// expect, clamped to one chunk at least and the cap at most.
    pub fn samples_per_series_for(retention_ms: i64, min_interval_ms: i64) -> usize {
        let interval = min_interval_ms.max(1);
        let samples = (retention_ms.max(0) / interval) as usize;
        samples.clamp(crate::chunk::CHUNK_SAMPLES, MAX_SAMPLES_PER_SERIES_CAP)
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention_ms: DEFAULT_RETENTION_MS,
            max_active_series: DEFAULT_MAX_ACTIVE_SERIES,
            max_samples_per_series: StoreConfig::samples_per_series_for(
                DEFAULT_RETENTION_MS,
                DEFAULT_MIN_SCRAPE_INTERVAL_MS,
            ),
            future_tolerance_ms: DEFAULT_FUTURE_TOLERANCE_MS,
            stale_series_ms: DEFAULT_STALE_SERIES_MS,
            shards: DEFAULT_SHARDS,
            feed_capacity: DEFAULT_FEED_CAPACITY,
            max_points_per_series: MAX_POINTS_PER_SERIES,
            max_query_points: DEFAULT_MAX_QUERY_POINTS,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogStoreConfig {
    pub retention_ms: i64,
    pub max_streams: usize,
    pub max_lines_per_stream: usize,
    pub max_bytes_per_stream: usize,
    /// Over this, the oldest lines of the least recently written streams go.
    pub max_bytes: usize,
    pub future_tolerance_ms: i64,
    pub feed_capacity: usize,
}

impl Default for LogStoreConfig {
    fn default() -> Self {
        LogStoreConfig {
            retention_ms: DEFAULT_RETENTION_MS,
            max_streams: DEFAULT_MAX_STREAMS,
            max_lines_per_stream: DEFAULT_MAX_LINES_PER_STREAM,
            max_bytes_per_stream: DEFAULT_MAX_BYTES_PER_STREAM,
            max_bytes: DEFAULT_MAX_LOG_BYTES,
            future_tolerance_ms: DEFAULT_FUTURE_TOLERANCE_MS,
            feed_capacity: DEFAULT_FEED_CAPACITY,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertStoreConfig {
    pub max_episodes: usize,
}

impl Default for AlertStoreConfig {
    fn default() -> Self {
        AlertStoreConfig {
            max_episodes: DEFAULT_MAX_ALERT_EPISODES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_samples_per_series_is_retention_over_one_second() {
        assert_eq!(StoreConfig::default().max_samples_per_series, 10_800);
        assert_eq!(StoreConfig::samples_per_series_for(1_000, 1_000), 120);
        assert_eq!(
            StoreConfig::samples_per_series_for(i64::MAX, 1),
            MAX_SAMPLES_PER_SERIES_CAP
        );
    }
}
