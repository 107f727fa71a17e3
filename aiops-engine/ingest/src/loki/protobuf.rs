//! Loki push as protobuf: `logproto.PushRequest`, stream labels as a selector string.

use aiops_core::model::{LogBatch, LogStream};
use prost::Message;

use super::selector::{format_selector, parse_selector};
use crate::error::{IngestError, Position, excerpt};
use crate::limits::Limits;
use crate::proto::logproto::{
    EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};
use crate::{snappy, wire};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Decodes a decompressed `PushRequest` into validated streams.
pub(super) fn decode(raw: &[u8], limits: &Limits) -> Result<Vec<LogStream>, IngestError> {
    wire::check_loki_push(raw, limits)?;
    let request =
        PushRequest::decode(raw).map_err(|error| IngestError::Protobuf(error.to_string()))?;
    let mut streams = Vec::with_capacity(request.streams.len());
    for (stream_index, stream) in request.streams.into_iter().enumerate() {
        let at = Position::Stream(stream_index);
        let labels =
            parse_selector(&stream.labels).map_err(|why| IngestError::InvalidSelector {
                at,
                selector: excerpt(&stream.labels),
                why,
            })?;
        let labels = super::stream_labels(at, labels, limits)?;
        let mut entries = Vec::with_capacity(stream.entries.len());
        for (entry_index, entry) in stream.entries.into_iter().enumerate() {
            let at = Position::Entry {
                stream: stream_index,
                entry: entry_index,
            };
            let ts_ns = timestamp_ns(at, entry.timestamp.as_ref())?;
            let metadata = entry
                .structured_metadata
                .into_iter()
                .map(|pair| (pair.name, pair.value))
                .collect();
            entries.push(super::entry(at, ts_ns, entry.line, metadata, limits)?);
        }
        streams.push(LogStream { labels, entries });
    }
    Ok(streams)
}

/// A `google.protobuf.Timestamp` as nanoseconds since the epoch: present,
/// not negative, nanos in range, no overflow (which ends in year 2262).
fn timestamp_ns(at: Position, timestamp: Option<&Timestamp>) -> Result<i64, IngestError> {
    let invalid = |value: String, why| IngestError::InvalidTimestamp { at, value, why };
    let Some(timestamp) = timestamp else {
        return Err(invalid(String::new(), "missing"));
    };
    let shown = || format!("{}s {}ns", timestamp.seconds, timestamp.nanos);
    if !(0..NANOS_PER_SECOND as i32).contains(&timestamp.nanos) {
        return Err(invalid(shown(), "nanos out of range"));
    }
    if timestamp.seconds < 0 {
        return Err(invalid(shown(), "before 1970"));
    }
    timestamp
        .seconds
        .checked_mul(NANOS_PER_SECOND)
        .and_then(|ns| ns.checked_add(i64::from(timestamp.nanos)))
        .ok_or_else(|| invalid(shown(), "after 2262"))
}

/// Encodes a batch as a snappy-compressed `PushRequest`, for tests and the
/// load tool. The tenant is not part of the body (it goes in `X-Scope-OrgID`).
pub fn encode(batch: &LogBatch) -> Vec<u8> {
    let streams = batch
        .streams
        .iter()
        .map(|stream| StreamAdapter {
            labels: format_selector(&stream.labels),
            entries: stream
                .entries
                .iter()
                .map(|entry| EntryAdapter {
                    timestamp: Some(Timestamp {
                        seconds: entry.ts_ns.div_euclid(NANOS_PER_SECOND),
                        nanos: entry.ts_ns.rem_euclid(NANOS_PER_SECOND) as i32,
                    }),
                    line: entry.line.clone(),
                    structured_metadata: entry
                        .metadata
                        .iter()
                        .map(|(name, value)| LabelPairAdapter {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                })
                .collect(),
            hash: 0,
        })
        .collect();
    snappy::compress(&PushRequest { streams }.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let at = Position::Stream(0);
        let ts = |seconds, nanos| Some(Timestamp { seconds, nanos });
        assert_eq!(timestamp_ns(at, ts(0, 0).as_ref()), Ok(0));
        assert_eq!(timestamp_ns(at, ts(1, 5).as_ref()), Ok(1_000_000_005));
        for (timestamp, why) in [
            (None, "missing"),
            (ts(-1, 0), "before 1970"),
            (ts(1, -1), "nanos out of range"),
            (ts(1, 1_000_000_000), "nanos out of range"),
            (ts(i64::MAX / 1_000_000_000 + 1, 0), "after 2262"),
        ] {
            match timestamp_ns(at, timestamp.as_ref()) {
                Err(IngestError::InvalidTimestamp { why: got, .. }) => assert_eq!(got, why),
                other => panic!("{timestamp:?}: {other:?}"),
            }
        }
    }
}
