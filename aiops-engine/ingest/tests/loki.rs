//! Loki push, protobuf and JSON: round trips and refusals.

use aiops_core::model::{LabelPairs, LogBatch, LogEntry, LogStream};
use aiops_ingest::compression::{gzip_compress, snappy_compress};
use aiops_ingest::proto::logproto;
use aiops_ingest::{
    IngestError, Limits, decode_loki_push, encode_loki_push, encode_loki_push_json,
};
use prost::Message;

const PROTOBUF: Option<&str> = Some("application/x-protobuf");
const JSON: Option<&str> = Some("application/json");

fn labels(items: &[(&str, &str)]) -> LabelPairs {
    items
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn log_batch() -> LogBatch {
    LogBatch {
        tenant: "fake".to_owned(),
        streams: vec![
            LogStream {
                labels: labels(&[("app", "shop"), ("level", "info")]),
                entries: vec![
                    LogEntry {
                        ts_ns: 1_700_000_000_123_456_789,
                        line: "GET /cart 200 \"quoted\" \\ back".to_owned(),
                        metadata: Vec::new(),
                    },
                    LogEntry {
                        ts_ns: 1_700_000_000_123_456_790,
                        line: "multi\nline ünïcode 🌍".to_owned(),
                        metadata: labels(&[("span_id", "1"), ("trace_id", "abc")]),
                    },
                ],
            },
            LogStream {
                labels: labels(&[("app", "we\"ird\\ value\n")]),
                entries: vec![LogEntry {
                    ts_ns: 0,
                    line: String::new(),
                    metadata: Vec::new(),
                }],
            },
        ],
    }
}

fn decode_protobuf(body: &[u8]) -> Result<LogBatch, IngestError> {
    decode_loki_push(PROTOBUF, None, None, body, &Limits::default())
}

fn decode_json(body: &[u8]) -> Result<LogBatch, IngestError> {
    decode_loki_push(JSON, None, None, body, &Limits::default())
}

fn assert_rejected(result: Result<LogBatch, IngestError>, reason: &str, status: u16) {
    match result {
        Err(error) => {
            assert_eq!(error.reason(), reason, "{error}");
            assert_eq!(error.status(), status, "{error}");
        }
        Ok(batch) => panic!("expected {reason}, decoded {batch:?}"),
    }
}

fn push(streams: Vec<logproto::StreamAdapter>) -> Vec<u8> {
    snappy_compress(&logproto::PushRequest { streams }.encode_to_vec())
}

fn stream(selector: &str, entries: Vec<logproto::EntryAdapter>) -> logproto::StreamAdapter {
    logproto::StreamAdapter {
        labels: selector.to_owned(),
        entries,
        hash: 0,
    }
}

fn entry(seconds: i64, line: &str) -> logproto::EntryAdapter {
    logproto::EntryAdapter {
        timestamp: Some(logproto::Timestamp { seconds, nanos: 0 }),
        line: line.to_owned(),
        structured_metadata: Vec::new(),
    }
}

#[test]
fn protobuf_round_trip() {
    let batch = log_batch();
    assert_eq!(decode_protobuf(&encode_loki_push(&batch)).unwrap(), batch);
    // Without Content-Type, as Loki assumes protobuf, and with Content-Encoding: snappy.
    let body = encode_loki_push(&batch);
    let decoded = decode_loki_push(
        None,
        Some("snappy"),
        Some("team-a"),
        &body,
        &Limits::default(),
    );
    let decoded = decoded.unwrap();
    assert_eq!(decoded.tenant, "team-a");
    assert_eq!(decoded.streams, batch.streams);
}

#[test]
fn json_round_trip_plain_and_gzipped() {
    let batch = log_batch();
    let body = encode_loki_push_json(&batch);
    assert_eq!(decode_json(&body).unwrap(), batch);
    let gzipped = gzip_compress(&body);
    let decoded = decode_loki_push(JSON, Some("gzip"), None, &gzipped, &Limits::default());
    assert_eq!(decoded.unwrap(), batch);
}

#[test]
fn json_as_documented() {
    let body = br#"{"streams":[{"stream":{"level":"warn","app":"cart"},
        "values":[["1700000000000000000","first"],["1700000000000000001","second",{"trace_id":"t1"}]],
        "extra":"ignored"}], "format":"loki"}"#;
    let batch = decode_json(body).unwrap();
    assert_eq!(batch.tenant, "fake");
    assert_eq!(batch.streams.len(), 1);
    // Sorted by name.
    assert_eq!(
        batch.streams[0].labels,
        labels(&[("app", "cart"), ("level", "warn")])
    );
    assert_eq!(batch.line_count(), 2);
    assert_eq!(
        batch.streams[0].entries[1].metadata,
        labels(&[("trace_id", "t1")])
    );
    assert_eq!(batch.streams[0].entries[1].ts_ns, 1_700_000_000_000_000_001);
}

#[test]
fn unknown_protobuf_fields_are_skipped() {
    // `format` (field 2) at the top, `parsed` (field 4) in an entry: both
    // in Loki's proto but not in the engine's structs.
    let mut entry_bytes = entry(1, "x").encode_to_vec();
    entry_bytes.extend_from_slice(&[0x22, 0x02, 0x0a, 0x00]);
    let mut stream_bytes = logproto::StreamAdapter {
        labels: "{a=\"b\"}".to_owned(),
        entries: Vec::new(),
        hash: 7,
    }
    .encode_to_vec();
    stream_bytes.push(0x12);
    stream_bytes.push(entry_bytes.len() as u8);
    stream_bytes.extend_from_slice(&entry_bytes);
    let mut request = vec![0x0a, stream_bytes.len() as u8];
    request.extend_from_slice(&stream_bytes);
    request.extend_from_slice(&[0x12, 0x04, b'l', b'o', b'k', b'i']);
    let batch = decode_protobuf(&snappy_compress(&request)).unwrap();
    assert_eq!(batch.streams[0].entries[0].line, "x");
}

#[test]
fn wrong_headers_are_415() {
    let body = encode_loki_push(&log_batch());
    for (content_type, encoding) in [
        (Some("text/plain"), None),
        (Some("application/x-www-form-urlencoded"), None),
        (JSON, Some("snappy")),
        (JSON, Some("deflate")),
        (PROTOBUF, Some("gzip")),
    ] {
        let error =
            decode_loki_push(content_type, encoding, None, &body, &Limits::default()).unwrap_err();
        assert_eq!(error.status(), 415, "{content_type:?} {encoding:?}");
    }
}

#[test]
fn garbage_is_400() {
    assert_rejected(decode_protobuf(b"garbage"), "snappy", 400);
    assert_rejected(
        decode_protobuf(&snappy_compress(b"\xff\xff\xff")),
        "protobuf",
        400,
    );
    let raw = logproto::PushRequest {
        streams: vec![stream("{a=\"b\"}", vec![entry(1, "hello")])],
    }
    .encode_to_vec();
    assert_rejected(
        decode_protobuf(&snappy_compress(&raw[..raw.len() - 2])),
        "protobuf",
        400,
    );
    assert_rejected(decode_json(b"{\"streams\":[{\"stream\""), "json", 400);
    assert_rejected(decode_json(b"not json"), "json", 400);
    assert_rejected(decode_json(b"{}"), "json", 400);
    assert_rejected(decode_json(b"{\"streams\":[]} trailing"), "json", 400);
    assert_rejected(decode_json(br#"{"streams":[],"streams":[]}"#), "json", 400);
    assert_rejected(
        decode_json(br#"{"streams":[{"stream":{"a":1},"values":[]}]}"#),
        "json",
        400,
    );
    assert_rejected(
        decode_json(br#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#),
        "json",
        400,
    );
    assert_rejected(
        decode_json(br#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{},"extra"]]}]}"#),
        "json",
        400,
    );
    assert_rejected(
        decode_loki_push(JSON, Some("gzip"), None, b"not gzip", &Limits::default()),
        "gzip",
        400,
    );
}

#[test]
fn invalid_utf8_line_is_400() {
    let mut raw = logproto::PushRequest {
        streams: vec![stream("{a=\"b\"}", vec![entry(1, "hello")])],
    }
    .encode_to_vec();
    let at = raw.windows(5).position(|w| w == b"hello").unwrap();
    raw[at] = 0xc3;
    raw[at + 1] = 0x28;
    assert_rejected(decode_protobuf(&snappy_compress(&raw)), "protobuf", 400);
}

#[test]
fn bad_timestamps_are_400() {
    for ts in [
        r#""abc""#,
        r#""-5""#,
        r#""""#,
        r#""1.5""#,
        "1700000000",
        r#""99999999999999999999""#,
    ] {
        let body = format!(r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[[{ts},"x"]]}}]}}"#);
        assert_rejected(decode_json(body.as_bytes()), "invalid_timestamp", 400);
    }
    let negative = push(vec![stream("{a=\"b\"}", vec![entry(-1, "x")])]);
    assert_rejected(decode_protobuf(&negative), "invalid_timestamp", 400);
    let mut missing = entry(1, "x");
    missing.timestamp = None;
    assert_rejected(
        decode_protobuf(&push(vec![stream("{a=\"b\"}", vec![missing])])),
        "invalid_timestamp",
        400,
    );
    let error =
        decode_json(br#"{"streams":[{"stream":{"a":"b"},"values":[["1","x"],["abc","y"]]}]}"#)
            .unwrap_err();
    assert_eq!(
        error.to_string(),
        "stream 0 entry 1: invalid timestamp \"abc\": expected decimal nanoseconds since the epoch"
    );
}

#[test]
fn invalid_selectors_and_labels_are_400() {
    for (selector, reason) in [
        ("", "invalid_selector"),
        ("app=\"shop\"", "invalid_selector"),
        ("{app=shop}", "invalid_selector"),
        ("{app=\"shop\"", "invalid_selector"),
        ("{app!=\"shop\"}", "invalid_selector"),
        ("{app=\"a\\qb\"}", "invalid_selector"),
        ("{}", "empty_labels"),
        ("{app=\"\"}", "empty_labels"),
        ("{app=\"a\", app=\"b\"}", "duplicate_label"),
        ("{1app=\"a\"}", "invalid_label_name"),
    ] {
        let body = push(vec![stream(selector, vec![entry(1, "x")])]);
        assert_rejected(decode_protobuf(&body), reason, 400);
    }
    let error = decode_protobuf(&push(vec![stream("{app=shop}", vec![])])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "stream 0: invalid stream selector \"{app=shop}\": expected a quoted value at byte 5, found 's'"
    );
    // JSON: no "stream", an empty one, duplicate names, bad names.
    for (body, reason) in [
        (r#"{"streams":[{"values":[["1","x"]]}]}"#, "empty_labels"),
        (
            r#"{"streams":[{"stream":{},"values":[["1","x"]]}]}"#,
            "empty_labels",
        ),
        (
            r#"{"streams":[{"stream":{"a":"1","a":"2"},"values":[]}]}"#,
            "duplicate_label",
        ),
        (
            r#"{"streams":[{"stream":{"a.b":"1"},"values":[]}]}"#,
            "invalid_label_name",
        ),
        (
            r#"{"streams":[{"stream":{"a":"1"},"values":[["1","x",{"bad-name":"v"}]]}]}"#,
            "invalid_label_name",
        ),
    ] {
        assert_rejected(decode_json(body.as_bytes()), reason, 400);
    }
}

#[test]
fn long_lines_are_400() {
    let limits = Limits {
        max_line_bytes: 8,
        ..Limits::default()
    };
    let body = push(vec![stream(
        "{a=\"b\"}",
        vec![entry(1, "12345678"), entry(2, "123456789")],
    )]);
    let error = decode_loki_push(PROTOBUF, None, None, &body, &limits).unwrap_err();
    assert_eq!(error.reason(), "line_too_long");
    assert_eq!(
        error.to_string(),
        "stream 0 entry 1: line is 9 bytes, over the limit of 8"
    );
    let json = br#"{"streams":[{"stream":{"a":"b"},"values":[["1","123456789"]]}]}"#;
    let error = decode_loki_push(JSON, None, None, json, &limits).unwrap_err();
    assert_eq!(error.reason(), "line_too_long");
}

#[test]
fn stream_entry_and_label_counts_are_limited() {
    let limits = Limits {
        max_streams_per_push: 2,
        max_entries_per_push: 3,
        max_labels_per_series: 2,
        ..Limits::default()
    };
    let decode =
        |content_type, body: &[u8]| decode_loki_push(content_type, None, None, body, &limits);
    let streams = |n| push(vec![stream("{a=\"b\"}", vec![entry(1, "x")]); n]);
    assert!(decode(PROTOBUF, &streams(2)).is_ok());
    assert_rejected(decode(PROTOBUF, &streams(3)), "too_many_streams", 413);
    let entries = push(vec![stream("{a=\"b\"}", vec![entry(1, "x"); 4])]);
    assert_rejected(decode(PROTOBUF, &entries), "too_many_entries", 413);
    let wide = push(vec![stream("{a=\"1\", b=\"2\", c=\"3\"}", vec![])]);
    assert_rejected(decode(PROTOBUF, &wide), "too_many_labels", 400);

    let json_streams = format!(
        r#"{{"streams":[{}]}}"#,
        [r#"{"stream":{"a":"b"},"values":[]}"#; 3].join(",")
    );
    assert_rejected(
        decode(JSON, json_streams.as_bytes()),
        "too_many_streams",
        413,
    );
    // Entries are counted over all streams.
    let json_entries = br#"{"streams":[{"stream":{"a":"b"},"values":[["1","x"],["2","x"]]},
        {"stream":{"a":"c"},"values":[["1","x"],["2","x"]]}]}"#;
    assert_rejected(decode(JSON, json_entries), "too_many_entries", 413);
    let json_labels = br#"{"streams":[{"stream":{"a":"1","b":"2","c":"3"},"values":[]}]}"#;
    assert_rejected(decode(JSON, json_labels), "too_many_labels", 400);
}

#[test]
fn huge_json_and_gzip_bombs_are_413() {
    let limits = Limits {
        max_body_bytes: 1 << 20,
        max_decoded_bytes: 4 << 20,
        ..Limits::default()
    };
    // A plain body over the body limit.
    let line = "x".repeat(1000);
    let values: Vec<String> = (0..2000).map(|i| format!(r#"["{i}","{line}"]"#)).collect();
    let huge = format!(
        r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[{}]}}]}}"#,
        values.join(",")
    );
    assert_rejected(
        decode_loki_push(JSON, None, None, huge.as_bytes(), &limits),
        "too_large",
        413,
    );
    // Gzipped, it is under the body limit, and decompresses over the decoded limit.
    let bigger = huge.repeat(3);
    let bomb = gzip_compress(bigger.as_bytes());
    assert!(bomb.len() < limits.max_body_bytes);
    assert_rejected(
        decode_loki_push(JSON, Some("gzip"), None, &bomb, &limits),
        "decompression_bomb",
        413,
    );
    // A snappy header claiming 4 GiB.
    let claim = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0];
    assert_rejected(
        decode_loki_push(PROTOBUF, None, None, &claim, &limits),
        "decompression_bomb",
        413,
    );
}

#[test]
fn invalid_tenants_are_400() {
    let body = encode_loki_push(&log_batch());
    let error =
        decode_loki_push(PROTOBUF, None, Some("../etc"), &body, &Limits::default()).unwrap_err();
    assert_eq!(error.reason(), "invalid_tenant");
}

#[test]
fn structured_metadata_is_sorted_and_checked() {
    let mut with_metadata = entry(1, "x");
    with_metadata.structured_metadata = vec![
        logproto::LabelPairAdapter {
            name: "z".to_owned(),
            value: "1".to_owned(),
        },
        logproto::LabelPairAdapter {
            name: "a".to_owned(),
            value: "2".to_owned(),
        },
        logproto::LabelPairAdapter {
            name: "empty".to_owned(),
            value: String::new(),
        },
    ];
    let batch = decode_protobuf(&push(vec![stream(
        "{s=\"1\"}",
        vec![with_metadata.clone()],
    )]))
    .unwrap();
    assert_eq!(
        batch.streams[0].entries[0].metadata,
        labels(&[("a", "2"), ("z", "1")])
    );
    with_metadata.structured_metadata[0].name = "a".to_owned();
    assert_rejected(
        decode_protobuf(&push(vec![stream("{s=\"1\"}", vec![with_metadata])])),
        "duplicate_label",
        400,
    );
}
