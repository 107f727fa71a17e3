//! Remote-write 1.0: `prometheus.WriteRequest`, labels as strings per series.

use aiops_core::model::{IgnoredParts, SampleBatch, SampleValue, SeriesRef};
use prost::Message;

use crate::error::{IngestError, Position};
use crate::labels::{self, LabelSetKind};
use crate::limits::Limits;
use crate::proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use crate::snappy;
use crate::wire::{self, FieldValue};

/// A decoded `WriteRequest` whose strings borrow from the decompressed
/// buffer. Every series' labels and samples sit in two flat vectors, so a
/// request of 2,000 series costs a handful of allocations instead of tens of
/// thousands: the intake's hot path.
#[derive(Debug, Default)]
pub(super) struct View<'a> {
    labels: Vec<(&'a str, &'a str)>,
    samples: Vec<SampleValue>,
    /// Per series: end of its labels, end of its samples.
    ends: Vec<(usize, usize)>,
    pub(super) ignored: IgnoredParts,
}

impl<'a> View<'a> {
    /// The series, borrowing from this view.
    pub(super) fn series(&self) -> Vec<SeriesRef<'_>> {
        let mut out = Vec::with_capacity(self.ends.len());
        let (mut label_start, mut sample_start) = (0, 0);
        for &(label_end, sample_end) in &self.ends {
            out.push(SeriesRef {
                labels: &self.labels[label_start..label_end],
                samples: &self.samples[sample_start..sample_end],
            });
            (label_start, sample_start) = (label_end, sample_end);
        }
        out
    }
}

// Field numbers, from proto/remote_write_v1.proto.
const REQUEST_TIMESERIES: u64 = 1;
const REQUEST_METADATA: u64 = 3;
const SERIES_LABELS: u64 = 1;
const SERIES_SAMPLES: u64 = 2;
const SERIES_EXEMPLARS: u64 = 3;
const SERIES_HISTOGRAMS: u64 = 4;
const LABEL_NAME: u64 = 1;
const LABEL_VALUE: u64 = 2;
const SAMPLE_VALUE: u64 = 1;
const SAMPLE_TIMESTAMP: u64 = 2;

/// Decodes a decompressed `WriteRequest` in one pass, checking the series,
/// samples and labels-per-series limits as it counts them, so a hostile
/// request is refused after at most a limit's worth of work. Unknown fields
/// are skipped; a known field with the wrong wire type, a truncated field or
/// a string that is not UTF-8 is a protobuf error, as with prost. Exemplars,
/// histograms and metadata are counted, not decoded.
pub(super) fn decode<'a>(raw: &'a [u8], limits: &Limits) -> Result<View<'a>, IngestError> {
    let mut view = View::default();
    let mut series_seen = 0usize;
    for field in wire::fields(raw) {
        match field? {
            (REQUEST_TIMESERIES, FieldValue::Bytes(series)) => {
                if series_seen == limits.max_series_per_request {
                    return Err(IngestError::TooManySeries {
                        limit: limits.max_series_per_request,
                    });
                }
                decode_series(series, Position::Series(series_seen), &mut view, limits)?;
                series_seen += 1;
            }
            (REQUEST_METADATA, FieldValue::Bytes(_)) => view.ignored.metadata += 1,
            (REQUEST_TIMESERIES | REQUEST_METADATA, _) => {
                return Err(wire_type_error("WriteRequest"));
            }
            _ => {}
        }
    }
    Ok(view)
}

fn decode_series<'a>(
    raw: &'a [u8],
    at: Position,
    view: &mut View<'a>,
    limits: &Limits,
) -> Result<(), IngestError> {
    let label_start = view.labels.len();
    let sample_start = view.samples.len();
    for field in wire::fields(raw) {
        match field? {
            (SERIES_LABELS, FieldValue::Bytes(label)) => {
                if view.labels.len() - label_start == limits.max_labels_per_series {
                    return Err(IngestError::TooManyLabels {
                        at,
                        limit: limits.max_labels_per_series,
                    });
                }
                view.labels.push(decode_label(label)?);
            }
            (SERIES_SAMPLES, FieldValue::Bytes(sample)) => {
                if view.samples.len() == limits.max_samples_per_request {
                    return Err(IngestError::TooManySamples {
                        limit: limits.max_samples_per_request,
                    });
                }
                view.samples.push(decode_sample(sample)?);
            }
            (SERIES_EXEMPLARS, FieldValue::Bytes(_)) => view.ignored.exemplars += 1,
            (SERIES_HISTOGRAMS, FieldValue::Bytes(_)) => view.ignored.histograms += 1,
            (SERIES_LABELS | SERIES_SAMPLES | SERIES_EXEMPLARS | SERIES_HISTOGRAMS, _) => {
                return Err(wire_type_error("TimeSeries"));
            }
            _ => {}
        }
    }
    labels::normalize_tail(
        at,
        LabelSetKind::Series,
        &mut view.labels,
        label_start,
        limits,
    )?;
    if view.samples.len() == sample_start {
        // Histograms or exemplars only: counted above, nothing to store.
        view.labels.truncate(label_start);
        return Ok(());
    }
    view.ends.push((view.labels.len(), view.samples.len()));
    Ok(())
}

fn decode_label(raw: &[u8]) -> Result<(&str, &str), IngestError> {
    // proto3: absent strings are empty; a repeated field's last value wins.
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    for field in wire::fields(raw) {
        match field? {
            (LABEL_NAME, FieldValue::Bytes(bytes)) => name = bytes,
            (LABEL_VALUE, FieldValue::Bytes(bytes)) => value = bytes,
            (LABEL_NAME | LABEL_VALUE, _) => return Err(wire_type_error("Label")),
            _ => {}
        }
    }
    Ok((utf8(name)?, utf8(value)?))
}

fn decode_sample(raw: &[u8]) -> Result<SampleValue, IngestError> {
    let mut sample = SampleValue {
        ts_ms: 0,
        value: 0.0,
    };
    for field in wire::fields(raw) {
        match field? {
            (SAMPLE_VALUE, FieldValue::Fixed64(bits)) => sample.value = f64::from_bits(bits),
            // int64 on the wire: a two's complement varint.
            (SAMPLE_TIMESTAMP, FieldValue::Varint(ts)) => sample.ts_ms = ts as i64,
            (SAMPLE_VALUE | SAMPLE_TIMESTAMP, _) => return Err(wire_type_error("Sample")),
            _ => {}
        }
    }
    Ok(sample)
}

fn utf8(bytes: &[u8]) -> Result<&str, IngestError> {
    std::str::from_utf8(bytes).map_err(|_| {
        IngestError::Protobuf("invalid string value: data is not UTF-8 encoded".to_owned())
    })
}

fn wire_type_error(message: &str) -> IngestError {
    IngestError::Protobuf(format!("invalid wire type in {message}"))
}

/// Encodes a batch as a snappy-compressed `prometheus.WriteRequest`, for
/// tests and the load tool. Labels are sent in the batch's order.
/// `batch.ignored` is not encoded: it only counts.
pub fn encode(batch: &SampleBatch) -> Vec<u8> {
    let timeseries = batch
        .series
        .iter()
        .map(|series| TimeSeries {
            labels: series
                .labels
                .iter()
                .map(|(name, value)| Label {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            samples: series
                .samples
                .iter()
                .map(|sample| Sample {
                    value: sample.value,
                    timestamp: sample.ts_ms,
                })
                .collect(),
            exemplars: Vec::new(),
            histograms: Vec::new(),
        })
        .collect();
    let request = WriteRequest {
        timeseries,
        metadata: Vec::new(),
    };
    snappy::compress(&request.encode_to_vec())
}
