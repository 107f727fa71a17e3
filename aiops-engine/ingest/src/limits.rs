//! How much one request may carry. Every decoder checks these before (or
//! while) allocating for what the sender claims, never after.

/// Per-request limits. The defaults are generous for a real Prometheus or
/// Promtail/Alloy sender (Prometheus sends at most 2,000 samples per request
/// by default) and small enough that one hostile request cannot take the
/// engine's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The body as received (compressed), in bytes.
    pub max_body_bytes: usize,
    /// The body after snappy or gzip decompression, in bytes.
    pub max_decoded_bytes: usize,
    /// Time series in one remote-write request.
    pub max_series_per_request: usize,
    /// Float samples in one remote-write request.
    pub max_samples_per_request: usize,
    /// Labels of one series or stream, and structured-metadata pairs of one log entry.
    pub max_labels_per_series: usize,
    /// Bytes of one label name.
    pub max_label_name_len: usize,
    /// Bytes of one label value.
    pub max_label_value_len: usize,
    /// Bytes of one log line.
    pub max_line_bytes: usize,
    /// Streams in one Loki push.
    pub max_streams_per_push: usize,
    /// Log entries in one Loki push, over all its streams.
    pub max_entries_per_push: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 10 * 1024 * 1024,
            max_decoded_bytes: 64 * 1024 * 1024,
            max_series_per_request: 100_000,
            max_samples_per_request: 1_000_000,
            max_labels_per_series: 64,
            max_label_name_len: 256,
            max_label_value_len: 4096,
            max_line_bytes: 256 * 1024,
            max_streams_per_push: 10_000,
            max_entries_per_push: 1_000_000,
        }
    }
}
