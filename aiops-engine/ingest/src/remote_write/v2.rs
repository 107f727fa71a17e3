//! Remote-write 2.0: `io.prometheus.write.v2.Request`, every string interned
//! in one symbols table and referenced by index.

use std::collections::HashMap;

use aiops_core::model::{IgnoredParts, LabelPairs, SampleBatch, SampleValue, SeriesSamples};
use prost::Message;

use crate::error::{IngestError, Position, excerpt};
use crate::labels::{self, LabelSetKind};
use crate::limits::Limits;
use crate::proto::write_v2::{Request, Sample, TimeSeries};
use crate::{snappy, wire};

/// Decodes a decompressed `Request`, resolving symbol references.
///
/// Every reference is checked, also those of exemplars and metadata that
/// the engine then drops: the spec says references MUST point into the
/// table, and a sender that breaks that has a bug worth hearing about.
/// Metadata counts as ignored when it says anything (a type, help or unit);
/// the all-zero message Go senders always write is not counted.
pub(super) fn decode(raw: &[u8], limits: &Limits) -> Result<SampleBatch, IngestError> {
    wire::check_remote_write_v2(raw, limits)?;
    let request = Request::decode(raw).map_err(|error| IngestError::Protobuf(error.to_string()))?;
    if let Some(first) = request.symbols.first()
        && !first.is_empty()
    {
        return Err(IngestError::FirstSymbolNotEmpty {
            first: excerpt(first),
        });
    }
    let symbols = Symbols(&request.symbols);
    let mut ignored = IgnoredParts::default();
    let mut series = Vec::with_capacity(request.timeseries.len());
    for (index, timeseries) in request.timeseries.iter().enumerate() {
        let at = Position::Series(index);
        let pairs = symbols.resolve_pairs(at, &timeseries.labels_refs)?;
        let labels = labels::normalize(at, LabelSetKind::Series, pairs, limits)?;
        count_ignored(at, &symbols, timeseries, &mut ignored)?;
        if timeseries.samples.is_empty() {
            continue;
        }
        let samples = timeseries
            .samples
            .iter()
            .map(|sample| SampleValue {
                ts_ms: sample.timestamp,
                value: sample.value,
            })
            .collect();
        series.push(SeriesSamples { labels, samples });
    }
    Ok(SampleBatch { series, ignored })
}

fn count_ignored(
    at: Position,
    symbols: &Symbols<'_>,
    timeseries: &TimeSeries,
    ignored: &mut IgnoredParts,
) -> Result<(), IngestError> {
    ignored.histograms += timeseries.histograms.len() as u64;
    for exemplar in &timeseries.exemplars {
        symbols.resolve_pairs(at, &exemplar.labels_refs)?;
    }
    ignored.exemplars += timeseries.exemplars.len() as u64;
    if let Some(metadata) = &timeseries.metadata {
        symbols.resolve(at, metadata.help_ref)?;
        symbols.resolve(at, metadata.unit_ref)?;
        let says_something =
            metadata.r#type != 0 || metadata.help_ref != 0 || metadata.unit_ref != 0;
        ignored.metadata += u64::from(says_something);
    }
    Ok(())
}

struct Symbols<'a>(&'a [String]);

impl Symbols<'_> {
    fn resolve(&self, at: Position, reference: u32) -> Result<&str, IngestError> {
        self.0
            .get(reference as usize)
            .map(String::as_str)
            .ok_or(IngestError::BadSymbolRef {
                at,
                reference,
                symbols: self.0.len(),
            })
    }

    fn resolve_pairs(&self, at: Position, refs: &[u32]) -> Result<LabelPairs, IngestError> {
        if !refs.len().is_multiple_of(2) {
            return Err(IngestError::OddLabelRefs {
                at,
                count: refs.len(),
            });
        }
        refs.chunks_exact(2)
            .map(|pair| {
                let name = self.resolve(at, pair[0])?;
                let value = self.resolve(at, pair[1])?;
                Ok((name.to_owned(), value.to_owned()))
            })
            .collect()
    }
}

/// Encodes a batch as a snappy-compressed `io.prometheus.write.v2.Request`,
/// for tests and the load tool: a symbols table starting with "", each
/// distinct string once. `batch.ignored` is not encoded: it only counts.
pub fn encode(batch: &SampleBatch) -> Vec<u8> {
    let mut table = SymbolTable::default();
    let timeseries = batch
        .series
        .iter()
        .map(|series| TimeSeries {
            labels_refs: series
                .labels
                .iter()
                .flat_map(|(name, value)| [table.intern(name), table.intern(value)])
                .collect(),
            samples: series
                .samples
                .iter()
                .map(|sample| Sample {
                    value: sample.value,
                    timestamp: sample.ts_ms,
                    start_timestamp: 0,
                })
                .collect(),
            ..TimeSeries::default()
        })
        .collect();
    let request = Request {
        symbols: table.symbols,
        timeseries,
    };
    snappy::compress(&request.encode_to_vec())
}

/// Builds a symbols table, handing out each string's index.
struct SymbolTable {
    symbols: Vec<String>,
    index: HashMap<String, u32>,
}

impl Default for SymbolTable {
    fn default() -> Self {
        SymbolTable {
            symbols: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl SymbolTable {
    fn intern(&mut self, symbol: &str) -> u32 {
        if let Some(&index) = self.index.get(symbol) {
            return index;
        }
        let index = self.symbols.len() as u32;
        self.symbols.push(symbol.to_owned());
        self.index.insert(symbol.to_owned(), index);
        index
    }
}
