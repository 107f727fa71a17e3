//! What the intake hands to the store: decoded, validated, not yet interned.
//! Every intake (remote-write 1.0/2.0, scrape, Loki push protobuf/JSON,
//! Alertmanager webhook) produces these types, and nothing else reaches the store.

use serde::{Deserialize, Serialize};

/// A label set as received: `(name, value)` pairs. The intake sorts them by
/// name and rejects duplicates and empty names before they reach the store.
pub type LabelPairs = Vec<(String, String)>;

/// The metric name label, as Prometheus spells it.
pub const METRIC_NAME: &str = "__name__";

/// Prometheus' staleness marker: a specific NaN bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

pub fn is_stale_marker(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleValue {
    pub ts_ms: i64,
    pub value: f64,
}

/// One series and its samples from one request.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    pub labels: LabelPairs,
    pub samples: Vec<SampleValue>,
}

/// One series of a request whose strings borrow from the request's buffer:
/// the remote-write hot path hands these to the store, which copies label
/// strings only when it creates a series. Labels sorted by name, as in
/// [`SeriesSamples`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesRef<'a> {
    pub labels: &'a [(&'a str, &'a str)],
    pub samples: &'a [SampleValue],
}

/// What a remote-write request or a scrape carried besides float samples;
/// counted, so nothing is dropped silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IgnoredParts {
    pub histograms: u64,
    pub exemplars: u64,
    pub metadata: u64,
}

/// A decoded remote-write request (either protocol version) or one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleBatch {
    pub series: Vec<SeriesSamples>,
    pub ignored: IgnoredParts,
}

impl SampleBatch {
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// Lends the batch as [`SeriesRef`]s (one flat vector of borrowed
    /// pairs, no string copies), for code that takes borrowed series.
    pub fn with_refs<R>(&self, use_refs: impl FnOnce(&[SeriesRef<'_>]) -> R) -> R {
        let flat: Vec<(&str, &str)> = self
            .series
            .iter()
            .flat_map(|s| s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .collect();
        let mut refs = Vec::with_capacity(self.series.len());
        let mut at = 0;
        for series in &self.series {
            let end = at + series.labels.len();
            refs.push(SeriesRef {
                labels: &flat[at..end],
                samples: &series.samples,
            });
            at = end;
        }
        use_refs(&refs)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub ts_ns: i64,
    pub line: String,
    /// Loki structured metadata.
    pub metadata: LabelPairs,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogStream {
    pub labels: LabelPairs,
    pub entries: Vec<LogEntry>,
}

/// A decoded Loki push request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogBatch {
    /// From `X-Scope-OrgID`; "fake" when absent, as Loki without auth does.
    pub tenant: String,
    pub streams: Vec<LogStream>,
}

impl LogBatch {
    pub fn line_count(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }
    pub fn byte_count(&self) -> usize {
        self.streams
            .iter()
            .flat_map(|s| s.entries.iter())
            .map(|e| e.line.len())
            .sum()
    }
}

/// One alert from an Alertmanager webhook (payload version 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub fingerprint: String,
    /// "firing" or "resolved".
    pub status: String,
    pub labels: LabelPairs,
    pub annotations: LabelPairs,
    pub starts_at: String,
    pub ends_at: String,
    pub generator_url: String,
    /// The receiver and group key of the notification that carried it.
    pub receiver: String,
    pub group_key: String,
}
