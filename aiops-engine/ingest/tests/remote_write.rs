//! Remote-write 1.0 and 2.0: round trips, what is counted and what is refused.

use aiops_core::model::{
    IgnoredParts, LabelPairs, STALE_NAN_BITS, SampleBatch, SampleValue, SeriesSamples,
    is_stale_marker,
};
use aiops_ingest::compression::snappy_compress;
use aiops_ingest::proto::{prometheus, write_v2};
use aiops_ingest::{
    IngestError, Limits, RemoteWriteDecoded, RemoteWriteVersion, decode_remote_write,
    encode_remote_write_v1, encode_remote_write_v2,
};
use prost::Message;

const V1: Option<&str> = Some("application/x-protobuf");
const V2: Option<&str> = Some("application/x-protobuf;proto=io.prometheus.write.v2.Request");
const SNAPPY: Option<&str> = Some("snappy");

fn labels(items: &[(&str, &str)]) -> LabelPairs {
    items
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn sample_batch() -> SampleBatch {
    SampleBatch {
        series: vec![
            SeriesSamples {
                labels: labels(&[
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("code", "200"),
                ]),
                samples: vec![
                    SampleValue {
                        ts_ms: 1_700_000_000_000,
                        value: 12.5,
                    },
                    SampleValue {
                        ts_ms: 1_700_000_015_000,
                        value: f64::from_bits(STALE_NAN_BITS),
                    },
                ],
            },
            SeriesSamples {
                labels: labels(&[("__name__", "up"), ("instance", "héllo:9090")]),
                samples: vec![SampleValue {
                    ts_ms: -5,
                    value: f64::INFINITY,
                }],
            },
        ],
        ignored: IgnoredParts::default(),
    }
}

/// The batch as the decoder returns it: labels sorted.
fn sorted(mut batch: SampleBatch) -> SampleBatch {
    for series in &mut batch.series {
        series.labels.sort();
    }
    batch
}

fn decode_v1(body: &[u8]) -> Result<RemoteWriteDecoded, IngestError> {
    decode_remote_write(V1, SNAPPY, body, &Limits::default())
}

fn decode_v2(body: &[u8]) -> Result<RemoteWriteDecoded, IngestError> {
    decode_remote_write(V2, SNAPPY, body, &Limits::default())
}

fn v1_body(request: &prometheus::WriteRequest) -> Vec<u8> {
    snappy_compress(&request.encode_to_vec())
}

fn v2_body(request: &write_v2::Request) -> Vec<u8> {
    snappy_compress(&request.encode_to_vec())
}

fn v1_series(pairs: &[(&str, &str)]) -> prometheus::TimeSeries {
    prometheus::TimeSeries {
        labels: pairs
            .iter()
            .map(|(name, value)| prometheus::Label {
                name: (*name).to_owned(),
                value: (*value).to_owned(),
            })
            .collect(),
        samples: vec![prometheus::Sample {
            value: 1.0,
            timestamp: 1,
        }],
        ..Default::default()
    }
}

fn assert_rejected(result: Result<RemoteWriteDecoded, IngestError>, reason: &str, status: u16) {
    match result {
        Err(error) => {
            assert_eq!(error.reason(), reason, "{error}");
            assert_eq!(error.status(), status, "{error}");
        }
        Ok(decoded) => panic!("expected {reason}, decoded {decoded:?}"),
    }
}

#[test]
fn v1_round_trip_sorts_labels_and_keeps_stale_markers() {
    let batch = sample_batch();
    let decoded = decode_v1(&encode_remote_write_v1(&batch)).unwrap();
    assert_eq!(decoded.version, RemoteWriteVersion::V1);
    assert_eq!(decoded.batch.series.len(), 2);
    let expected = sorted(batch);
    for (got, want) in decoded.batch.series.iter().zip(&expected.series) {
        assert_eq!(got.labels, want.labels);
        let bits = |s: &[SampleValue]| {
            s.iter()
                .map(|v| (v.ts_ms, v.value.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&got.samples), bits(&want.samples));
    }
    assert!(is_stale_marker(decoded.batch.series[0].samples[1].value));
    assert_eq!(decoded.written.samples, 3);
    assert!(decoded.response_headers().is_empty());
}

#[test]
fn v2_round_trip_and_written_headers() {
    let batch = sample_batch();
    let decoded = decode_v2(&encode_remote_write_v2(&batch)).unwrap();
    assert_eq!(decoded.version, RemoteWriteVersion::V2);
    assert_eq!(
        decoded.batch.series[0].labels,
        sorted(batch).series[0].labels
    );
    assert!(is_stale_marker(decoded.batch.series[0].samples[1].value));
    assert_eq!(
        decoded.response_headers(),
        vec![
            ("X-Prometheus-Remote-Write-Samples-Written", 3),
            ("X-Prometheus-Remote-Write-Histograms-Written", 0),
            ("X-Prometheus-Remote-Write-Exemplars-Written", 0),
        ]
    );
}

#[test]
fn absent_headers_mean_v1_snappy() {
    let decoded = decode_remote_write(
        None,
        None,
        &encode_remote_write_v1(&sample_batch()),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(decoded.version, RemoteWriteVersion::V1);
    assert_eq!(decoded.batch.sample_count(), 3);
}

#[test]
fn an_empty_request_is_fine() {
    let empty = SampleBatch::default();
    assert_eq!(
        decode_v1(&encode_remote_write_v1(&empty)).unwrap().batch,
        empty
    );
    assert_eq!(
        decode_v2(&encode_remote_write_v2(&empty)).unwrap().batch,
        empty
    );
}

#[test]
fn v1_counts_histograms_exemplars_and_metadata() {
    let mut with_extras = v1_series(&[("__name__", "latency")]);
    with_extras.exemplars = vec![prometheus::Exemplar {
        labels: vec![prometheus::Label {
            name: "trace_id".to_owned(),
            value: "abc".to_owned(),
        }],
        value: 0.2,
        timestamp: 1,
    }];
    let mut only_histograms = v1_series(&[("__name__", "latency_hist")]);
    only_histograms.samples.clear();
    only_histograms.histograms = vec![prometheus::Histogram::default(); 2];
    let request = prometheus::WriteRequest {
        timeseries: vec![with_extras, only_histograms],
        metadata: vec![prometheus::MetricMetadata {
            r#type: 1,
            metric_family_name: "latency".to_owned(),
            help: "how long".to_owned(),
            unit: String::new(),
        }],
    };
    let decoded = decode_v1(&v1_body(&request)).unwrap();
    // The histogram-only series has no float samples: counted, left out.
    assert_eq!(decoded.batch.series.len(), 1);
    assert_eq!(
        decoded.batch.ignored,
        IgnoredParts {
            histograms: 2,
            exemplars: 1,
            metadata: 1
        }
    );
}

#[test]
fn v2_counts_histograms_exemplars_and_metadata() {
    let symbols = [
        "", "__name__", "latency", "trace_id", "abc", "how long", "seconds",
    ];
    let request = write_v2::Request {
        symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
        timeseries: vec![
            write_v2::TimeSeries {
                labels_refs: vec![1, 2],
                samples: vec![write_v2::Sample {
                    value: 1.0,
                    timestamp: 5,
                    start_timestamp: 1,
                }],
                exemplars: vec![write_v2::Exemplar {
                    labels_refs: vec![3, 4],
                    value: 1.0,
                    timestamp: 5,
                }],
                metadata: Some(write_v2::Metadata {
                    r#type: 2,
                    help_ref: 5,
                    unit_ref: 6,
                }),
                ..Default::default()
            },
            write_v2::TimeSeries {
                labels_refs: vec![1, 2],
                histograms: vec![write_v2::Histogram::default(); 3],
                // What Go senders write when there is no metadata: not counted.
                metadata: Some(write_v2::Metadata::default()),
                ..Default::default()
            },
        ],
    };
    let decoded = decode_v2(&v2_body(&request)).unwrap();
    assert_eq!(decoded.batch.series.len(), 1);
    assert_eq!(
        decoded.batch.series[0].labels,
        labels(&[("__name__", "latency")])
    );
    assert_eq!(
        decoded.batch.ignored,
        IgnoredParts {
            histograms: 3,
            exemplars: 1,
            metadata: 1
        }
    );
    assert_eq!(decoded.written.samples, 1);
    assert_eq!(decoded.written.histograms, 0);
    assert_eq!(decoded.written.exemplars, 0);
}

/// Appends a field prost does not know (number 15, a string) to a message.
fn with_unknown_field(mut encoded: Vec<u8>) -> Vec<u8> {
    encoded.extend_from_slice(&[0x7a, 3, b'x', b'y', b'z']);
    encoded
}

#[test]
fn unknown_fields_are_skipped() {
    // An unknown field inside a series and one at the top level, plus the
    // rc.3 created_timestamp (field 6) that rc.4 reserved.
    let mut series = v1_series(&[("__name__", "up")]).encode_to_vec();
    series = with_unknown_field(series);
    let mut request = vec![0x0a, series.len() as u8];
    request.extend_from_slice(&series);
    let request = with_unknown_field(request);
    let decoded = decode_v1(&snappy_compress(&request)).unwrap();
    assert_eq!(decoded.batch.sample_count(), 1);

    let mut v2_series = write_v2::TimeSeries {
        labels_refs: vec![1, 2],
        samples: vec![write_v2::Sample::default()],
        ..Default::default()
    }
    .encode_to_vec();
    v2_series.extend_from_slice(&[0x30, 0x2a]); // created_timestamp = 42
    let mut v2_request = write_v2::Request {
        symbols: vec![String::new(), "__name__".to_owned(), "up".to_owned()],
        timeseries: Vec::new(),
    }
    .encode_to_vec();
    v2_request.push(0x2a);
    v2_request.push(v2_series.len() as u8);
    v2_request.extend_from_slice(&v2_series);
    let decoded = decode_v2(&snappy_compress(&with_unknown_field(v2_request))).unwrap();
    assert_eq!(decoded.batch.sample_count(), 1);
}

#[test]
fn a_v1_body_sent_as_v2_decodes_to_nothing() {
    // Why 2.0 reserved fields 1 to 3: a mislabeled 1.0 body is an empty 2.0 request.
    let decoded = decode_v2(&encode_remote_write_v1(&sample_batch())).unwrap();
    assert!(decoded.batch.series.is_empty());
    assert_eq!(decoded.written.samples, 0);
}

#[test]
fn wrong_headers_are_415() {
    let body = encode_remote_write_v1(&sample_batch());
    for (content_type, encoding) in [
        (Some("application/json"), SNAPPY),
        (Some("text/plain; version=0.0.4"), SNAPPY),
        (
            Some("application/x-protobuf;proto=io.prometheus.write.v3.Request"),
            SNAPPY,
        ),
        (V1, Some("gzip")),
        (V2, Some("zstd")),
    ] {
        let result = decode_remote_write(content_type, encoding, &body, &Limits::default());
        let error = result.unwrap_err();
        assert_eq!(
            error.status(),
            415,
            "{content_type:?} {encoding:?}: {error}"
        );
    }
}

#[test]
fn garbage_and_truncation_are_400() {
    let body = encode_remote_write_v1(&sample_batch());
    assert_rejected(decode_v1(b"garbage"), "snappy", 400);
    assert_rejected(decode_v1(b""), "snappy", 400);
    assert_rejected(decode_v1(&body[..body.len() - 3]), "snappy", 400);
    // Valid snappy around a truncated protobuf.
    let raw = prometheus::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "up")])],
        metadata: Vec::new(),
    }
    .encode_to_vec();
    for cut in [1, raw.len() / 2, raw.len() - 1] {
        assert_rejected(decode_v1(&snappy_compress(&raw[..cut])), "protobuf", 400);
        assert_rejected(decode_v2(&snappy_compress(&raw[..cut])), "protobuf", 400);
    }
    assert_rejected(decode_v1(&snappy_compress(&[0xff; 32])), "protobuf", 400);
}

#[test]
fn a_snappy_header_claiming_4_gib_is_413() {
    // Varint 0xffffffff, then a little junk: no 4 GiB allocation happens.
    let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0];
    assert_rejected(decode_v1(&bomb), "decompression_bomb", 413);
    let over_snappy_max = [0x80, 0x80, 0x80, 0x80, 0x10, 0, 0];
    assert_rejected(decode_v2(&over_snappy_max), "decompression_bomb", 413);
}

#[test]
fn body_and_decoded_limits_are_413() {
    let body = encode_remote_write_v1(&sample_batch());
    let small_body = Limits {
        max_body_bytes: body.len() - 1,
        ..Limits::default()
    };
    assert_rejected(
        decode_remote_write(V1, SNAPPY, &body, &small_body),
        "too_large",
        413,
    );
    let small_decoded = Limits {
        max_decoded_bytes: 10,
        ..Limits::default()
    };
    assert_rejected(
        decode_remote_write(V1, SNAPPY, &body, &small_decoded),
        "decompression_bomb",
        413,
    );
}

#[test]
fn invalid_utf8_in_a_label_is_400() {
    let mut raw = prometheus::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "up"), ("job", "abc")])],
        metadata: Vec::new(),
    }
    .encode_to_vec();
    let at = raw.windows(3).position(|w| w == b"abc").unwrap();
    raw[at] = 0xff;
    assert_rejected(decode_v1(&snappy_compress(&raw)), "protobuf", 400);
}

#[test]
fn v1_label_rejections() {
    let long_value = "v".repeat(4097);
    let long_name = "n".repeat(257);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("job", "x")], "missing_metric_name"),
        (vec![], "missing_metric_name"),
        (vec![("__name__", "up"), ("", "x")], "invalid_label_name"),
        (vec![("__name__", "up"), ("a-b", "x")], "invalid_label_name"),
        (
            vec![("__name__", "up"), ("job", "a"), ("job", "b")],
            "duplicate_label",
        ),
        (
            vec![("__name__", "up"), ("job", long_value.as_str())],
            "label_value_too_long",
        ),
        (
            vec![("__name__", "up"), (long_name.as_str(), "x")],
            "label_name_too_long",
        ),
        (vec![("__name__", "up.time")], "invalid_metric_name"),
    ];
    for (pairs, reason) in cases {
        let request = prometheus::WriteRequest {
            timeseries: vec![v1_series(&[("__name__", "ok")]), v1_series(&pairs)],
            metadata: Vec::new(),
        };
        assert_rejected(decode_v1(&v1_body(&request)), reason, 400);
    }
}

#[test]
fn error_messages_say_where() {
    let request = prometheus::WriteRequest {
        timeseries: vec![
            v1_series(&[("__name__", "ok")]),
            v1_series(&[("__name__", "up"), ("job", "a"), ("job", "b")]),
        ],
        metadata: Vec::new(),
    };
    let error = decode_v1(&v1_body(&request)).unwrap_err();
    assert_eq!(error.to_string(), "series 1: duplicate label \"job\"");
}

#[test]
fn unsorted_labels_are_sorted_not_refused() {
    let request = prometheus::WriteRequest {
        timeseries: vec![v1_series(&[
            ("zone", "b"),
            ("__name__", "up"),
            ("app", "a"),
        ])],
        metadata: Vec::new(),
    };
    let decoded = decode_v1(&v1_body(&request)).unwrap();
    assert_eq!(
        decoded.batch.series[0].labels,
        labels(&[("__name__", "up"), ("app", "a"), ("zone", "b")])
    );
}

#[test]
fn too_many_labels_series_and_samples() {
    let many: Vec<(String, String)> = (0..65).map(|i| (format!("l{i}"), "v".to_owned())).collect();
    let mut pairs: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    pairs.push(("__name__", "up"));
    let request = prometheus::WriteRequest {
        timeseries: vec![v1_series(&pairs)],
        metadata: Vec::new(),
    };
    assert_rejected(decode_v1(&v1_body(&request)), "too_many_labels", 400);

    let limits = Limits {
        max_series_per_request: 2,
        max_samples_per_request: 3,
        ..Limits::default()
    };
    let series = |n: usize| prometheus::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "up")]); n],
        metadata: Vec::new(),
    };
    assert!(decode_remote_write(V1, SNAPPY, &v1_body(&series(2)), &limits).is_ok());
    assert_rejected(
        decode_remote_write(V1, SNAPPY, &v1_body(&series(3)), &limits),
        "too_many_series",
        413,
    );
    let mut samples = series(1);
    samples.timeseries[0].samples = vec![prometheus::Sample::default(); 4];
    assert_rejected(
        decode_remote_write(V1, SNAPPY, &v1_body(&samples), &limits),
        "too_many_samples",
        413,
    );
}

#[test]
fn v2_symbol_rejections() {
    let symbols = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let series = |refs: Vec<u32>| write_v2::TimeSeries {
        labels_refs: refs,
        samples: vec![write_v2::Sample::default()],
        ..Default::default()
    };
    let cases = vec![
        // symbols[0] must be "".
        (
            symbols(&["x", "__name__", "up"]),
            series(vec![1, 2]),
            "bad_symbol_ref",
        ),
        // Out of range.
        (
            symbols(&["", "__name__", "up"]),
            series(vec![1, 3]),
            "bad_symbol_ref",
        ),
        (
            symbols(&["", "__name__", "up"]),
            series(vec![u32::MAX, 2]),
            "bad_symbol_ref",
        ),
        // Odd number of refs.
        (
            symbols(&["", "__name__", "up"]),
            series(vec![1, 2, 1]),
            "bad_symbol_ref",
        ),
        // No symbols at all.
        (Vec::new(), series(vec![1, 2]), "bad_symbol_ref"),
        // Empty name via symbol 0.
        (
            symbols(&["", "__name__", "up"]),
            series(vec![1, 2, 0, 2]),
            "invalid_label_name",
        ),
        (
            symbols(&["", "__name__", "up"]),
            series(vec![]),
            "missing_metric_name",
        ),
        (
            symbols(&["", "__name__", "up"]),
            series(vec![1, 2, 1, 2]),
            "duplicate_label",
        ),
    ];
    for (symbols, timeseries, reason) in cases {
        let request = write_v2::Request {
            symbols,
            timeseries: vec![timeseries],
        };
        assert_rejected(decode_v2(&v2_body(&request)), reason, 400);
    }
    // Exemplar and metadata references are checked too.
    let base = || write_v2::Request {
        symbols: symbols(&["", "__name__", "up"]),
        timeseries: vec![series(vec![1, 2])],
    };
    let mut bad_exemplar = base();
    bad_exemplar.timeseries[0].exemplars = vec![write_v2::Exemplar {
        labels_refs: vec![1, 9],
        ..Default::default()
    }];
    assert_rejected(decode_v2(&v2_body(&bad_exemplar)), "bad_symbol_ref", 400);
    let mut bad_metadata = base();
    bad_metadata.timeseries[0].metadata = Some(write_v2::Metadata {
        r#type: 1,
        help_ref: 7,
        unit_ref: 0,
    });
    let error = decode_v2(&v2_body(&bad_metadata)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "series 0: symbol reference 7 is out of range, the request has 3 symbols"
    );
}

#[test]
fn v2_too_many_labels_is_caught_before_decoding() {
    let limits = Limits {
        max_labels_per_series: 2,
        ..Limits::default()
    };
    let request = write_v2::Request {
        symbols: vec![String::new(), "__name__".to_owned(), "up".to_owned()],
        // Three pairs, whatever they point at.
        timeseries: vec![write_v2::TimeSeries {
            labels_refs: vec![1, 2, 1, 2, 1, 2],
            ..Default::default()
        }],
    };
    assert_rejected(
        decode_remote_write(V2, SNAPPY, &v2_body(&request), &limits),
        "too_many_labels",
        400,
    );
}

/// A `TimeSeries` message with one label given as raw bytes.
fn v1_request_with_raw_label(label: &[u8]) -> Vec<u8> {
    let mut series = v1_series(&[("__name__", "up")]).encode_to_vec();
    series.push(0x0a);
    series.push(label.len() as u8);
    series.extend_from_slice(label);
    let mut request = vec![0x0a, series.len() as u8];
    request.extend_from_slice(&series);
    snappy_compress(&request)
}

#[test]
fn v1_decoder_agrees_with_prost_on_edge_cases() {
    // A repeated scalar field: the last value wins, as in prost.
    let twice = [0x0a, 1, b'a', 0x0a, 1, b'b', 0x12, 1, b'x'];
    let decoded = decode_v1(&v1_request_with_raw_label(&twice)).unwrap();
    assert_eq!(
        decoded.batch.series[0].labels,
        labels(&[("__name__", "up"), ("b", "x")])
    );
    assert!(prometheus::Label::decode(&twice[..]).unwrap().name == "b");

    // Invalid UTF-8 in a value and a wrong wire type are protobuf errors.
    let not_utf8 = [0x0a, 1, b'a', 0x12, 2, 0xc3, 0x28];
    assert_rejected(
        decode_v1(&v1_request_with_raw_label(&not_utf8)),
        "protobuf",
        400,
    );
    assert!(prometheus::Label::decode(&not_utf8[..]).is_err());
    let varint_name = [0x08, 1];
    assert_rejected(
        decode_v1(&v1_request_with_raw_label(&varint_name)),
        "protobuf",
        400,
    );
    assert!(prometheus::Label::decode(&varint_name[..]).is_err());

    // A sample whose value is sent as a varint, and a truncated series.
    let bad_sample = [0x0a, 4, 0x12, 2, 0x08, 1];
    assert_rejected(decode_v1(&snappy_compress(&bad_sample)), "protobuf", 400);
    assert_rejected(
        decode_v1(&snappy_compress(&[0x0a, 9, 0x0a])),
        "protobuf",
        400,
    );

    // Negative timestamps travel as ten-byte varints.
    let request = prometheus::WriteRequest {
        timeseries: vec![prometheus::TimeSeries {
            samples: vec![prometheus::Sample {
                value: -0.5,
                timestamp: -1_234,
            }],
            ..v1_series(&[("__name__", "up")])
        }],
        metadata: Vec::new(),
    };
    let decoded = decode_v1(&v1_body(&request)).unwrap();
    assert_eq!(
        decoded.batch.series[0].samples,
        vec![SampleValue {
            ts_ms: -1_234,
            value: -0.5
        }]
    );
}

#[test]
fn v1_limits_are_checked_while_decoding() {
    let limits = Limits {
        max_labels_per_series: 3,
        max_series_per_request: 2,
        max_samples_per_request: 2,
        ..Limits::default()
    };
    let decode = |request: &prometheus::WriteRequest| {
        decode_remote_write(V1, SNAPPY, &v1_body(request), &limits)
    };
    let four_labels = v1_series(&[("__name__", "up"), ("a", "1"), ("b", "2"), ("c", "3")]);
    let request = prometheus::WriteRequest {
        timeseries: vec![four_labels],
        metadata: Vec::new(),
    };
    assert_rejected(decode(&request), "too_many_labels", 400);
    let three_series = prometheus::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "up")]); 3],
        metadata: Vec::new(),
    };
    assert_rejected(decode(&three_series), "too_many_series", 413);
    let many_samples = prometheus::WriteRequest {
        timeseries: vec![prometheus::TimeSeries {
            samples: vec![prometheus::Sample::default(); 3],
            ..v1_series(&[("__name__", "up")])
        }],
        metadata: Vec::new(),
    };
    assert_rejected(decode(&many_samples), "too_many_samples", 413);
    // Two series of one sample each, one with an empty label that is dropped.
    let fine = prometheus::WriteRequest {
        timeseries: vec![
            v1_series(&[("__name__", "up"), ("gone", "")]),
            v1_series(&[("__name__", "up"), ("job", "x")]),
        ],
        metadata: Vec::new(),
    };
    let decoded = decode(&fine).unwrap();
    assert_eq!(
        decoded.batch.series[0].labels,
        labels(&[("__name__", "up")])
    );
    assert_eq!(
        decoded.batch.series[1].labels,
        labels(&[("__name__", "up"), ("job", "x")])
    );
}
