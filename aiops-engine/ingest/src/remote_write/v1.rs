//! Remote-write 1.0: `prometheus.WriteRequest`, labels as strings per series.

use aiops_core::model::{IgnoredParts, SampleBatch, SampleValue, SeriesSamples};
use prost::Message;

use crate::error::{IngestError, Position};
use crate::labels::{self, LabelSetKind};
use crate::limits::Limits;
use crate::proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use crate::{snappy, wire};

/// Decodes a decompressed `WriteRequest`.
pub(super) fn decode(raw: &[u8], limits: &Limits) -> Result<SampleBatch, IngestError> {
    wire::check_remote_write_v1(raw, limits)?;
    let request =
        WriteRequest::decode(raw).map_err(|error| IngestError::Protobuf(error.to_string()))?;
    let mut ignored = IgnoredParts {
        metadata: request.metadata.len() as u64,
        ..IgnoredParts::default()
    };
    let mut series = Vec::with_capacity(request.timeseries.len());
    for (index, timeseries) in request.timeseries.into_iter().enumerate() {
        let TimeSeries {
            labels: proto_labels,
            samples,
            exemplars,
            histograms,
        } = timeseries;
        let pairs = proto_labels
            .into_iter()
            .map(|label| (label.name, label.value))
            .collect();
        let labels =
            labels::normalize(Position::Series(index), LabelSetKind::Series, pairs, limits)?;
        ignored.exemplars += exemplars.len() as u64;
        ignored.histograms += histograms.len() as u64;
        if samples.is_empty() {
            continue;
        }
        let samples = samples
            .into_iter()
            .map(|sample| SampleValue {
                ts_ms: sample.timestamp,
                value: sample.value,
            })
            .collect();
        series.push(SeriesSamples { labels, samples });
    }
    Ok(SampleBatch { series, ignored })
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
