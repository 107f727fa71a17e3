//! Why a request was refused: one error type for every format, each variant
//! carrying an HTTP status and a bounded reason label for metrics.

use std::fmt;

/// Where in a request a problem was found, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The n-th time series of a remote-write request (0-based).
    Series(usize),
    /// The n-th stream of a Loki push (0-based).
    Stream(usize),
    /// An entry of a Loki stream (both 0-based).
    Entry { stream: usize, entry: usize },
    /// The n-th alert of an Alertmanager webhook (0-based).
    Alert(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Series(index) => write!(f, "series {index}"),
            Position::Stream(index) => write!(f, "stream {index}"),
            Position::Entry { stream, entry } => write!(f, "stream {stream} entry {entry}"),
            Position::Alert(index) => write!(f, "alert {index}"),
        }
    }
}

/// A rejected request. Messages are meant for the sender (Prometheus and
/// Loki clients log the response body as is), so they say what was wrong and
/// where; names and values quoted in them are cut to [`EXCERPT_CHARS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("unsupported content type {content_type:?}, expected {expected}")]
    UnsupportedContentType {
        content_type: String,
        expected: &'static str,
    },
    #[error("unsupported content encoding {encoding:?}, expected {expected}")]
    UnsupportedContentEncoding {
        encoding: String,
        expected: &'static str,
    },
    #[error("request body is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("snappy header claims {claimed} decoded bytes, over the limit of {limit} bytes")]
    SnappyTooLarge { claimed: u64, limit: usize },
    #[error("gzip body decompresses to more than the limit of {limit} bytes")]
    GzipTooLarge { limit: usize },
    #[error("invalid snappy block: {0}")]
    Snappy(String),
    #[error("invalid gzip body: {0}")]
    Gzip(String),
    #[error("invalid protobuf: {0}")]
    Protobuf(String),
    #[error("invalid json: {0}")]
    Json(String),
    #[error("request has more than {limit} series")]
    TooManySeries { limit: usize },
    #[error("request has more than {limit} samples")]
    TooManySamples { limit: usize },
    #[error("push has more than {limit} streams")]
    TooManyStreams { limit: usize },
    #[error("push has more than {limit} entries")]
    TooManyEntries { limit: usize },
    #[error("{at}: more than {limit} labels")]
    TooManyLabels { at: Position, limit: usize },
    #[error("{at}: label name {name:?} is {len} bytes, over the limit of {limit}")]
    LabelNameTooLong {
        at: Position,
        name: String,
        len: usize,
        limit: usize,
    },
    #[error("{at}: value of label {name:?} is {len} bytes, over the limit of {limit}")]
    LabelValueTooLong {
        at: Position,
        name: String,
        len: usize,
        limit: usize,
    },
    #[error("{at}: invalid label name {name:?}, expected [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidLabelName { at: Position, name: String },
    #[error("{at}: invalid metric name {name:?}, expected [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidMetricName { at: Position, name: String },
    #[error("{at}: duplicate label {name:?}")]
    DuplicateLabel { at: Position, name: String },
    #[error("{at}: no metric name (__name__ label)")]
    MissingMetricName { at: Position },
    #[error("{at}: no labels")]
    EmptyLabels { at: Position },
    #[error(
        "{at}: symbol reference {reference} is out of range, the request has {symbols} symbols"
    )]
    BadSymbolRef {
        at: Position,
        reference: u32,
        symbols: usize,
    },
    #[error("{at}: odd number of label references ({count}), expected name/value pairs")]
    OddLabelRefs { at: Position, count: usize },
    #[error("symbols table must start with the empty string, starts with {first:?}")]
    FirstSymbolNotEmpty { first: String },
    #[error("{at}: line is {len} bytes, over the limit of {limit}")]
    LineTooLong {
        at: Position,
        len: usize,
        limit: usize,
    },
    #[error("{at}: invalid timestamp {value:?}: {why}")]
    InvalidTimestamp {
        at: Position,
        value: String,
        why: &'static str,
    },
    #[error("{at}: invalid stream selector {selector:?}: {why}")]
    InvalidSelector {
        at: Position,
        selector: String,
        why: String,
    },
    #[error("invalid tenant {tenant:?}: {why}")]
    InvalidTenant { tenant: String, why: &'static str },
    #[error("webhook payload version {version:?} is not supported, expected \"4\"")]
    UnsupportedVersion { version: String },
    #[error("{at}: {why}")]
    InvalidAlert { at: Position, why: String },
}

/// How much of a sender's name, value or selector an error message quotes.
pub const EXCERPT_CHARS: usize = 64;

/// The first [`EXCERPT_CHARS`] characters of `text`, marked when cut, so a
/// hostile 4 KiB label value does not end up whole in a response or a log.
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}...", &text[..cut]),
    }
}

impl IngestError {
    /// Every value [`IngestError::reason`] can return, so a metrics registry
    /// can create the `rejected_total{reason}` series up front.
    pub const REASONS: &'static [&'static str] = &[
        "unsupported_content_type",
        "unsupported_content_encoding",
        "too_large",
        "decompression_bomb",
        "snappy",
        "gzip",
        "protobuf",
        "json",
        "too_many_series",
        "too_many_samples",
        "too_many_streams",
        "too_many_entries",
        "too_many_labels",
        "label_name_too_long",
        "label_value_too_long",
        "invalid_label_name",
        "invalid_metric_name",
        "duplicate_label",
        "missing_metric_name",
        "empty_labels",
        "bad_symbol_ref",
        "line_too_long",
        "invalid_timestamp",
        "invalid_selector",
        "invalid_tenant",
        "unsupported_version",
        "invalid_alert",
    ];

    /// The HTTP status to answer with: 415 for a content type or encoding the
    /// engine does not speak (remote-write 2.0 senders may retry with another),
    /// 413 for requests over a size or count limit, 400 for invalid data.
    pub fn status(&self) -> u16 {
        match self {
            IngestError::UnsupportedContentType { .. }
            | IngestError::UnsupportedContentEncoding { .. } => 415,
            IngestError::TooLarge { .. }
            | IngestError::SnappyTooLarge { .. }
            | IngestError::GzipTooLarge { .. }
            | IngestError::TooManySeries { .. }
            | IngestError::TooManySamples { .. }
            | IngestError::TooManyStreams { .. }
            | IngestError::TooManyEntries { .. } => 413,
            _ => 400,
        }
    }

    /// A bounded, snake_case label value for a `rejected_total{reason}` counter.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::UnsupportedContentType { .. } => "unsupported_content_type",
            IngestError::UnsupportedContentEncoding { .. } => "unsupported_content_encoding",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::SnappyTooLarge { .. } | IngestError::GzipTooLarge { .. } => {
                "decompression_bomb"
            }
            IngestError::Snappy(_) => "snappy",
            IngestError::Gzip(_) => "gzip",
            IngestError::Protobuf(_) => "protobuf",
            IngestError::Json(_) => "json",
            IngestError::TooManySeries { .. } => "too_many_series",
            IngestError::TooManySamples { .. } => "too_many_samples",
            IngestError::TooManyStreams { .. } => "too_many_streams",
            IngestError::TooManyEntries { .. } => "too_many_entries",
            IngestError::TooManyLabels { .. } => "too_many_labels",
            IngestError::LabelNameTooLong { .. } => "label_name_too_long",
            IngestError::LabelValueTooLong { .. } => "label_value_too_long",
            IngestError::InvalidLabelName { .. } => "invalid_label_name",
            IngestError::InvalidMetricName { .. } => "invalid_metric_name",
            IngestError::DuplicateLabel { .. } => "duplicate_label",
            IngestError::MissingMetricName { .. } => "missing_metric_name",
            IngestError::EmptyLabels { .. } => "empty_labels",
            IngestError::BadSymbolRef { .. }
            | IngestError::OddLabelRefs { .. }
            | IngestError::FirstSymbolNotEmpty { .. } => "bad_symbol_ref",
            IngestError::LineTooLong { .. } => "line_too_long",
            IngestError::InvalidTimestamp { .. } => "invalid_timestamp",
            IngestError::InvalidSelector { .. } => "invalid_selector",
            IngestError::InvalidTenant { .. } => "invalid_tenant",
            IngestError::UnsupportedVersion { .. } => "unsupported_version",
            IngestError::InvalidAlert { .. } => "invalid_alert",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_long_text_on_a_char_boundary() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(100);
        let cut = excerpt(&long);
        assert!(cut.ends_with("..."));
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 3);
    }

    /// One of each variant.
    fn every_variant() -> Vec<IngestError> {
        let at = Position::Series(2);
        let text = || "x".to_owned();
        vec![
            IngestError::UnsupportedContentType {
                content_type: text(),
                expected: "y",
            },
            IngestError::UnsupportedContentEncoding {
                encoding: text(),
                expected: "y",
            },
            IngestError::TooLarge { size: 2, limit: 1 },
            IngestError::SnappyTooLarge {
                claimed: 2,
                limit: 1,
            },
            IngestError::GzipTooLarge { limit: 1 },
            IngestError::Snappy(text()),
            IngestError::Gzip(text()),
            IngestError::Protobuf(text()),
            IngestError::Json(text()),
            IngestError::TooManySeries { limit: 1 },
            IngestError::TooManySamples { limit: 1 },
            IngestError::TooManyStreams { limit: 1 },
            IngestError::TooManyEntries { limit: 1 },
            IngestError::TooManyLabels { at, limit: 1 },
            IngestError::LabelNameTooLong {
                at,
                name: text(),
                len: 2,
                limit: 1,
            },
            IngestError::LabelValueTooLong {
                at,
                name: text(),
                len: 2,
                limit: 1,
            },
            IngestError::InvalidLabelName { at, name: text() },
            IngestError::InvalidMetricName { at, name: text() },
            IngestError::DuplicateLabel { at, name: text() },
            IngestError::MissingMetricName { at },
            IngestError::EmptyLabels { at },
            IngestError::BadSymbolRef {
                at,
                reference: 9,
                symbols: 3,
            },
            IngestError::OddLabelRefs { at, count: 3 },
            IngestError::FirstSymbolNotEmpty { first: text() },
            IngestError::LineTooLong {
                at,
                len: 2,
                limit: 1,
            },
            IngestError::InvalidTimestamp {
                at,
                value: text(),
                why: "y",
            },
            IngestError::InvalidSelector {
                at,
                selector: text(),
                why: text(),
            },
            IngestError::InvalidTenant {
                tenant: text(),
                why: "y",
            },
            IngestError::UnsupportedVersion { version: text() },
            IngestError::InvalidAlert { at, why: text() },
        ]
    }

    #[test]
    fn reasons_are_listed_bounded_and_snake_case() {
        let errors = every_variant();
        for error in &errors {
            assert!(IngestError::REASONS.contains(&error.reason()), "{error:?}");
            assert!(matches!(error.status(), 400 | 413 | 415));
            let first = error.to_string().chars().next().unwrap();
            assert!(!first.is_uppercase(), "{error}");
        }
        for reason in IngestError::REASONS {
            assert!(
                errors.iter().any(|error| error.reason() == *reason),
                "{reason} is never used"
            );
            assert!(reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }

    #[test]
    fn statuses() {
        let status = |reason: &str| {
            every_variant()
                .into_iter()
                .find(|error| error.reason() == reason)
                .map(|error| error.status())
        };
        assert_eq!(status("unsupported_content_type"), Some(415));
        assert_eq!(status("unsupported_content_encoding"), Some(415));
        for too_large in [
            "too_large",
            "decompression_bomb",
            "too_many_series",
            "too_many_samples",
            "too_many_streams",
            "too_many_entries",
        ] {
            assert_eq!(status(too_large), Some(413), "{too_large}");
        }
        for invalid in [
            "protobuf",
            "too_many_labels",
            "line_too_long",
            "bad_symbol_ref",
        ] {
            assert_eq!(status(invalid), Some(400), "{invalid}");
        }
    }

    #[test]
    fn position_reads_naturally() {
        assert_eq!(Position::Series(3).to_string(), "series 3");
        assert_eq!(
            Position::Entry {
                stream: 1,
                entry: 2
            }
            .to_string(),
            "stream 1 entry 2"
        );
    }
}
