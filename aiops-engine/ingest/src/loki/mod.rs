//! Loki's push API (`/loki/api/v1/push`): protobuf + snappy, or JSON,
//! optionally gzipped. Both produce the same [`LogBatch`].

mod json;
mod protobuf;
mod selector;

pub use json::encode as encode_loki_push_json;
pub use protobuf::encode as encode_loki_push;
pub use selector::{format_selector, parse_selector};

use aiops_core::model::{LabelPairs, LogBatch, LogEntry};

use crate::error::{IngestError, Position, excerpt};
use crate::labels::{self, LabelSetKind};
use crate::limits::Limits;
use crate::media_type::{MediaType, content_encoding};
use crate::{gzip, snappy};

/// The tenant of a push without `X-Scope-OrgID`, as Loki without auth uses.
pub const DEFAULT_TENANT: &str = "fake";

/// Loki's own limit on tenant ID length.
const MAX_TENANT_LEN: usize = 150;

/// The body format of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `application/x-protobuf`, or no Content-Type (Loki's default): a snappy block.
    Protobuf,
    /// `application/json`: plain, or gzipped with `Content-Encoding: gzip`.
    Json { gzipped: bool },
}

fn negotiate(
    content_type: Option<&str>,
    content_encoding_header: Option<&str>,
) -> Result<Format, IngestError> {
    let json = match MediaType::parse(content_type) {
        None => false,
        Some(media_type) if media_type.essence == "application/x-protobuf" => false,
        Some(media_type) if media_type.essence == "application/json" => true,
        Some(_) => {
            return Err(IngestError::UnsupportedContentType {
                content_type: excerpt(content_type.unwrap_or_default()),
                expected: "application/x-protobuf or application/json",
            });
        }
    };
    let encoding = content_encoding(content_encoding_header);
    match (json, encoding.as_deref()) {
        // Protobuf bodies are always a snappy block; clients may say so or not.
        (false, None | Some("snappy")) => Ok(Format::Protobuf),
        (true, None) => Ok(Format::Json { gzipped: false }),
        (true, Some("gzip")) => Ok(Format::Json { gzipped: true }),
        (json, Some(other)) => Err(IngestError::UnsupportedContentEncoding {
            encoding: excerpt(other),
            expected: if json {
                "gzip or none"
            } else {
                "snappy or none"
            },
        }),
    }
}

/// Decodes and validates one Loki push.
///
/// Checks, cheapest first: headers (415) and tenant (400); body and decoded
/// sizes (413); stream and entry counts before the entries are built (413);
/// then per stream its labels (400: selector syntax, Prometheus label
/// names, no duplicates, at least one label) and per entry its timestamp,
/// line length and structured metadata (400).
///
/// A line over `max_line_bytes` rejects the whole push. Loki instead drops
/// that line and answers 400 for the rest after writing them; here nothing
/// is half-written, and the sender, which does not retry a 400, loses the
/// same batch either way.
///
/// Timestamps are nanoseconds since the epoch and must not be negative;
/// a protobuf entry without a timestamp is refused (Go senders always write one).
pub fn decode_loki_push(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    tenant: Option<&str>,
    body: &[u8],
    limits: &Limits,
) -> Result<LogBatch, IngestError> {
    let format = negotiate(content_type, content_encoding)?;
    let tenant = check_tenant(tenant)?;
    let streams = match format {
        Format::Protobuf => protobuf::decode(&snappy::decompress(body, limits)?, limits)?,
        Format::Json { gzipped: true } => json::decode(&gzip::decompress(body, limits)?, limits)?,
        Format::Json { gzipped: false } => {
            check_plain_size(body, limits)?;
            json::decode(body, limits)?
        }
    };
    Ok(LogBatch { tenant, streams })
}

fn check_plain_size(body: &[u8], limits: &Limits) -> Result<(), IngestError> {
    let limit = limits.max_body_bytes.min(limits.max_decoded_bytes);
    if body.len() > limit {
        return Err(IngestError::TooLarge {
            size: body.len(),
            limit,
        });
    }
    Ok(())
}

/// Loki's tenant ID rules: at most 150 bytes of `[a-zA-Z0-9!-_.*'()]`, and
/// not "." or "..". The tenant becomes a key in the store, so it is checked
/// here rather than trusted.
fn check_tenant(tenant: Option<&str>) -> Result<String, IngestError> {
    let tenant = tenant.map(str::trim).unwrap_or_default();
    if tenant.is_empty() {
        return Ok(DEFAULT_TENANT.to_owned());
    }
    let invalid = |why| IngestError::InvalidTenant {
        tenant: excerpt(tenant),
        why,
    };
    if tenant.len() > MAX_TENANT_LEN {
        return Err(invalid("longer than 150 bytes"));
    }
    if tenant == "." || tenant == ".." {
        return Err(invalid("must not be . or .."));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!-_.*'()".contains(c);
    if !tenant.chars().all(allowed) {
        return Err(invalid("only letters, digits and !-_.*'() are allowed"));
    }
    Ok(tenant.to_owned())
}

/// Checks one entry's line and metadata and builds it; shared by both formats.
fn entry(
    at: Position,
    ts_ns: i64,
    line: String,
    metadata: LabelPairs,
    limits: &Limits,
) -> Result<LogEntry, IngestError> {
    if line.len() > limits.max_line_bytes {
        return Err(IngestError::LineTooLong {
            at,
            len: line.len(),
            limit: limits.max_line_bytes,
        });
    }
    let metadata = labels::normalize(at, LabelSetKind::Metadata, metadata, limits)?;
    Ok(LogEntry {
        ts_ns,
        line,
        metadata,
    })
}

fn stream_labels(
    at: Position,
    labels: LabelPairs,
    limits: &Limits,
) -> Result<LabelPairs, IngestError> {
    labels::normalize(at, LabelSetKind::Stream, labels, limits)
}

/// Parses a JSON timestamp: decimal nanoseconds since the epoch, digits only.
fn parse_ns(at: Position, text: &str) -> Result<i64, IngestError> {
    let invalid = |why| IngestError::InvalidTimestamp {
        at,
        value: excerpt(text),
        why,
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("expected decimal nanoseconds since the epoch"));
    }
    text.parse::<i64>().map_err(|_| invalid("out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_formats() {
        assert_eq!(negotiate(None, None), Ok(Format::Protobuf));
        assert_eq!(
            negotiate(Some("application/x-protobuf"), Some("snappy")),
            Ok(Format::Protobuf)
        );
        assert_eq!(
            negotiate(Some("application/json; charset=utf-8"), None),
            Ok(Format::Json { gzipped: false })
        );
        assert_eq!(
            negotiate(Some("application/json"), Some("GZIP")),
            Ok(Format::Json { gzipped: true })
        );
        for (content_type, encoding) in [
            (Some("text/plain"), None),
            (Some("application/xml"), None),
            (Some("application/json"), Some("snappy")),
            (Some("application/json"), Some("br")),
            (Some("application/x-protobuf"), Some("gzip")),
            (None, Some("zstd")),
        ] {
            let error = negotiate(content_type, encoding).unwrap_err();
            assert_eq!(error.status(), 415, "{content_type:?} {encoding:?}");
        }
    }

    #[test]
    fn tenants() {
        assert_eq!(check_tenant(None), Ok("fake".to_owned()));
        assert_eq!(check_tenant(Some(" ")), Ok("fake".to_owned()));
        assert_eq!(
            check_tenant(Some("team-a_1.prod")),
            Ok("team-a_1.prod".to_owned())
        );
        for bad in ["..", ".", "a/b", "a b", "ténant", &"x".repeat(151)] {
            let error = check_tenant(Some(bad)).unwrap_err();
            assert_eq!(error.reason(), "invalid_tenant", "{bad}");
        }
    }

    #[test]
    fn json_timestamps() {
        let at = Position::Entry {
            stream: 0,
            entry: 0,
        };
        assert_eq!(parse_ns(at, "0"), Ok(0));
        assert_eq!(
            parse_ns(at, "1700000000123456789"),
            Ok(1_700_000_000_123_456_789)
        );
        for bad in [
            "",
            "abc",
            "-5",
            "+5",
            "1.5",
            "1e9",
            " 1",
            "99999999999999999999",
        ] {
            let error = parse_ns(at, bad).unwrap_err();
            assert_eq!(error.reason(), "invalid_timestamp", "{bad}");
        }
    }
}
