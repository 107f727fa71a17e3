//! Properties: every encoder's output decodes back to the same batch, and
//! no decoder panics on any input.

use std::collections::BTreeMap;

use aiops_core::model::{
    IgnoredParts, LabelPairs, LogBatch, LogEntry, LogStream, SampleBatch, SampleValue,
    SeriesSamples,
};
use aiops_ingest::compression::{gzip_compress, snappy_compress};
use aiops_ingest::{
    Limits, decode_alertmanager, decode_loki_push, decode_remote_write, encode_loki_push,
    encode_loki_push_json, encode_remote_write_v1, encode_remote_write_v2, format_selector,
    parse_selector,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

const V1: Option<&str> = Some("application/x-protobuf");
const V2: Option<&str> = Some("application/x-protobuf;proto=io.prometheus.write.v2.Request");
const PROTOBUF: Option<&str> = Some("application/x-protobuf");
const JSON: Option<&str> = Some("application/json");

/// Non-empty values of any Unicode, control characters included.
fn label_value() -> impl Strategy<Value = String> {
    "\\PC{1,12}|[\"\\\\\n\t\r a-z]{1,6}"
}

/// Sorted, distinct, valid label names with non-empty values.
fn label_set(max: usize) -> impl Strategy<Value = LabelPairs> {
    btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", label_value(), 0..max)
        .prop_map(|map: BTreeMap<String, String>| map.into_iter().collect())
}

fn series_labels() -> impl Strategy<Value = LabelPairs> {
    ("[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", label_set(5)).prop_map(|(metric, mut labels)| {
        labels.retain(|(name, _)| name != "__name__");
        labels.push(("__name__".to_owned(), metric));
        labels.sort();
        labels
    })
}

/// Any bit pattern, NaNs and the stale marker included.
fn sample_value() -> impl Strategy<Value = SampleValue> {
    (any::<i64>(), any::<u64>()).prop_map(|(ts_ms, bits)| SampleValue {
        ts_ms,
        value: f64::from_bits(bits),
    })
}

fn sample_batch() -> impl Strategy<Value = SampleBatch> {
    vec((series_labels(), vec(sample_value(), 1..4)), 0..6).prop_map(|series| SampleBatch {
        series: series
            .into_iter()
            .map(|(labels, samples)| SeriesSamples { labels, samples })
            .collect(),
        ignored: IgnoredParts::default(),
    })
}

fn log_batch() -> impl Strategy<Value = LogBatch> {
    let entry =
        (0..i64::MAX, "\\PC{0,40}", label_set(3)).prop_map(|(ts_ns, line, metadata)| LogEntry {
            ts_ns,
            line,
            metadata,
        });
    let stream = (label_set(4), vec(entry, 0..4))
        .prop_filter_map("streams need labels", |(labels, entries)| {
            (!labels.is_empty()).then_some(LogStream { labels, entries })
        });
    vec(stream, 0..4).prop_map(|streams| LogBatch {
        tenant: "fake".to_owned(),
        streams,
    })
}

/// Sample values compared by bits, so NaNs compare equal to themselves.
fn comparable(batch: &SampleBatch) -> Vec<(LabelPairs, Vec<(i64, u64)>)> {
    batch
        .series
        .iter()
        .map(|s| {
            let samples = s
                .samples
                .iter()
                .map(|v| (v.ts_ms, v.value.to_bits()))
                .collect();
            (s.labels.clone(), samples)
        })
        .collect()
}

proptest! {
    #[test]
    fn remote_write_v1_round_trips(batch in sample_batch()) {
        let decoded = decode_remote_write(V1, None, &encode_remote_write_v1(&batch), &Limits::default()).unwrap();
        prop_assert_eq!(comparable(&decoded.batch), comparable(&batch));
        prop_assert_eq!(decoded.written.samples, batch.sample_count() as u64);
    }

    #[test]
    fn remote_write_v2_round_trips(batch in sample_batch()) {
        let decoded = decode_remote_write(V2, None, &encode_remote_write_v2(&batch), &Limits::default()).unwrap();
        prop_assert_eq!(comparable(&decoded.batch), comparable(&batch));
    }

    #[test]
    fn loki_protobuf_round_trips(batch in log_batch()) {
        let decoded = decode_loki_push(PROTOBUF, None, None, &encode_loki_push(&batch), &Limits::default()).unwrap();
        prop_assert_eq!(decoded, batch);
    }

    #[test]
    fn loki_json_round_trips(batch in log_batch()) {
        let body = encode_loki_push_json(&batch);
        let decoded = decode_loki_push(JSON, None, None, &body, &Limits::default()).unwrap();
        prop_assert_eq!(&decoded, &batch);
        let gzipped = decode_loki_push(JSON, Some("gzip"), None, &gzip_compress(&body), &Limits::default()).unwrap();
        prop_assert_eq!(gzipped, batch);
    }

    #[test]
    fn selectors_round_trip(labels in label_set(6)) {
        prop_assert_eq!(parse_selector(&format_selector(&labels)), Ok(labels));
    }

    #[test]
    fn selector_parser_never_panics(text in "\\PC{0,40}|[{}=,\"`\\\\a-z ]{0,30}") {
        let _ = parse_selector(&text);
    }

    #[test]
    fn remote_write_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        let limits = Limits::default();
        for content_type in [V1, V2] {
            // As the body, and snappy-compressed so the bytes reach the protobuf decoder.
            let _ = decode_remote_write(content_type, None, &bytes, &limits);
            let _ = decode_remote_write(content_type, None, &snappy_compress(&bytes), &limits);
        }
    }

    #[test]
    fn loki_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        let limits = Limits::default();
        let _ = decode_loki_push(PROTOBUF, None, None, &bytes, &limits);
        let _ = decode_loki_push(PROTOBUF, None, None, &snappy_compress(&bytes), &limits);
        let _ = decode_loki_push(JSON, None, None, &bytes, &limits);
        let _ = decode_loki_push(JSON, Some("gzip"), None, &bytes, &limits);
        let _ = decode_loki_push(JSON, Some("gzip"), None, &gzip_compress(&bytes), &limits);
    }

    #[test]
    fn loki_json_never_panics_on_near_valid_input(text in r#"[\[\]{}",:0-9a-z ]{0,80}"#) {
        let body = format!(r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[{text}]}}]}}"#);
        let _ = decode_loki_push(JSON, None, None, body.as_bytes(), &Limits::default());
    }

    #[test]
    fn alertmanager_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        let _ = decode_alertmanager(&bytes, &Limits::default());
    }

    /// Mutating a valid request (flipping bytes, truncating) yields an
    /// error or a batch, never a panic, and every error has a known reason.
    #[test]
    fn mutated_requests_fail_cleanly(batch in sample_batch(), flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), cut in any::<prop::sample::Index>()) {
        let raw = encode_remote_write_v1(&batch);
        let mut mutated = snap::raw::Decoder::new().decompress_vec(&raw).unwrap();
        if mutated.is_empty() {
            return Ok(());
        }
        for (index, byte) in &flips {
            let at = index.index(mutated.len());
            mutated[at] ^= byte;
        }
        mutated.truncate(cut.index(mutated.len() + 1));
        for content_type in [V1, V2] {
            if let Err(error) = decode_remote_write(content_type, None, &snappy_compress(&mutated), &Limits::default()) {
                prop_assert!(aiops_ingest::IngestError::REASONS.contains(&error.reason()));
            }
        }
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

proptest! {
    /// Any label set written as the text format says is read back exactly,
    /// whatever its values hold (braces, commas, quotes, newlines).
    #[test]
    fn exposition_round_trips_any_labels(labels in series_labels(), value in -1e12f64..1e12) {
        use aiops_ingest::{ExpositionFormat, ExpositionLimits, parse_exposition};
        let name = labels.iter().find(|(k, _)| k == "__name__").map(|(_, v)| v.clone()).unwrap_or_default();
        let rest: Vec<(String, String)> = labels.into_iter().filter(|(k, _)| k != "__name__").collect();
        let set: Vec<String> = rest.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        let line = format!("{name}{{{}}} {value}\n", set.join(","));
        let parsed = parse_exposition(&line, ExpositionFormat::PrometheusText, &ExpositionLimits::default())
            .map_err(|e| TestCaseError::fail(format!("{e}: {line:?}")))?;
        prop_assert_eq!(parsed.len(), 1);
        prop_assert_eq!(&parsed[0].name, &name);
        prop_assert_eq!(&parsed[0].labels, &rest);
        prop_assert_eq!(parsed[0].value, value);
    }

    #[test]
    fn exposition_parser_never_panics(text in "\\PC{0,200}|[{}\"=,# a-z0-9\\\\\n.+-]{0,200}") {
        use aiops_ingest::{ExpositionFormat, ExpositionLimits, parse_exposition};
        for format in [ExpositionFormat::PrometheusText, ExpositionFormat::OpenMetrics] {
            let _ = parse_exposition(&text, format, &ExpositionLimits::default());
        }
    }
}
