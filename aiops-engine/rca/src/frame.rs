//! The incident window as a polars frame: one `time` column (unix
//! milliseconds, ascending) and one float column per service metric.
//! Both ways in ([`MetricFrame::from_csv`], [`MetricFrame::from_series`])
//! end here, so ranking sees one shape whatever the source.

use polars::prelude::*;
use serde::Serialize;

use crate::error::{RcaError, Result, polars};

/// Name of the time column inside the frame (milliseconds).
pub const TIME: &str = "time";

/// More cells than this (about 400 MB of floats) is refused rather than
/// allocated: an incident window is minutes to hours of a few hundred
/// series, far below it.
pub const MAX_CELLS: usize = 50_000_000;

/// Which service and metric a column measures.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ColumnKey {
    pub service: String,
    pub metric: String,
}

impl ColumnKey {
    /// RCAEval's convention: the service is the prefix before the first
    /// `_`, the metric the rest. `None` when either side would be empty.
    pub fn parse(column: &str) -> Option<Self> {
        let (service, metric) = column.split_once('_')?;
        if service.is_empty() || metric.is_empty() {
            return None;
        }
        Some(Self {
            service: service.to_owned(),
            metric: metric.to_owned(),
        })
    }

    pub fn column_name(&self) -> String {
        format!("{}_{}", self.service, self.metric)
    }
}

/// A column left out, and why (said in the ranking so nothing vanishes
/// silently).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DroppedColumn {
    pub column: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct MetricFrame {
    data: DataFrame,
    keys: Vec<ColumnKey>,
    dropped: Vec<DroppedColumn>,
}

impl MetricFrame {
    /// Builds the frame from a time vector (milliseconds, any order) and
    /// metric columns of the same length whose missing or non-finite
    /// values are `None`. Gaps of at most `max_fill_rows` rows are filled
    /// forward with the last value (a scrape that missed a round still
    /// had that value); longer gaps and leading gaps stay empty and are
    /// ignored by the statistics instead of being invented.
    pub(crate) fn assemble(
        what: &str,
        time_ms: Vec<i64>,
        columns: Vec<(ColumnKey, Vec<Option<f64>>)>,
        mut dropped: Vec<DroppedColumn>,
        max_fill_rows: usize,
    ) -> Result<Self> {
        let height = time_ms.len();
        let cells = height.saturating_mul(columns.len().max(1));
        if cells > MAX_CELLS {
            return Err(RcaError::TooManyCells {
                what: what.to_owned(),
                rows: height,
                columns: columns.len(),
                limit: MAX_CELLS,
            });
        }
        let mut frame_columns = Vec::with_capacity(columns.len() + 1);
        frame_columns.push(Column::new(TIME.into(), time_ms));
        let mut keys = Vec::with_capacity(columns.len());
        for (key, values) in columns {
            let name = key.column_name();
            let values: Vec<Option<f64>> = values
                .into_iter()
                .map(|v| v.filter(|x| x.is_finite()))
                .collect();
            if values.iter().all(|v| v.is_none()) {
                dropped.push(DroppedColumn {
                    column: name,
                    reason: "no finite number in it".into(),
                });
                continue;
            }
            frame_columns.push(Column::new(name.as_str().into(), values));
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(RcaError::NoMetricColumns(what.to_owned()));
        }
        let mut data = DataFrame::new(height, frame_columns).map_err(polars(what))?;
        let sorted = data
            .column(TIME)
            .and_then(|c| c.i64())
            .map(|t| t.iter().flatten().is_sorted())
            .map_err(polars(what))?;
        if !sorted {
            data = data
                .sort(
                    [TIME],
                    SortMultipleOptions::default().with_maintain_order(true),
                )
                .map_err(polars(what))?;
        }
        if max_fill_rows > 0 {
            let limit = IdxSize::try_from(max_fill_rows).unwrap_or(IdxSize::MAX);
            data = data
                .fill_null(FillNullStrategy::Forward(Some(limit)))
                .map_err(polars(what))?;
        }
        Ok(Self {
            data,
            keys,
            dropped,
        })
    }

    /// The frame itself: `time` (i64 milliseconds, ascending) then one
    /// f64 column per [`ColumnKey`], in [`Self::keys`] order.
    pub fn data(&self) -> &DataFrame {
        &self.data
    }

    pub fn keys(&self) -> &[ColumnKey] {
        &self.keys
    }

    pub fn dropped(&self) -> &[DroppedColumn] {
        &self.dropped
    }

    pub fn rows(&self) -> usize {
        self.data.height()
    }

    pub(crate) fn time(&self) -> Result<&Int64Chunked> {
        self.data
            .column(TIME)
            .and_then(|c| c.i64())
            .map_err(polars("time column"))
    }

    pub(crate) fn values(&self, key: &ColumnKey) -> Result<&Float64Chunked> {
        let name = key.column_name();
        self.data
            .column(&name)
            .and_then(|c| c.f64())
            .map_err(polars(format!("column {name}")))
    }

    /// First and last timestamp (milliseconds).
    pub fn time_range_ms(&self) -> Option<(i64, i64)> {
        let time = self.time().ok()?;
        Some((time.first()?, time.last()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(service: &str, metric: &str) -> ColumnKey {
        ColumnKey {
            service: service.into(),
            metric: metric.into(),
        }
    }

    #[test]
    fn parse_splits_at_the_first_underscore() {
        assert_eq!(
            ColumnKey::parse("cart_p99_latency"),
            Some(key("cart", "p99_latency"))
        );
        assert_eq!(ColumnKey::parse("nounderscore"), None);
        assert_eq!(ColumnKey::parse("_cpu"), None);
        assert_eq!(ColumnKey::parse("cart_"), None);
    }

    #[test]
    fn assemble_sorts_by_time_and_fills_only_short_gaps() {
        let frame = MetricFrame::assemble(
            "test",
            vec![3_000, 1_000, 2_000, 4_000, 5_000, 6_000, 7_000],
            vec![(
                key("a", "cpu"),
                vec![
                    None,
                    Some(1.0),
                    Some(2.0),
                    None,
                    None,
                    Some(f64::NAN),
                    Some(7.0),
                ],
            )],
            Vec::new(),
            2,
        )
        .unwrap();
        let time: Vec<i64> = frame.time().unwrap().iter().flatten().collect();
        assert_eq!(time, vec![1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000]);
        let values: Vec<Option<f64>> = frame.values(&key("a", "cpu")).unwrap().iter().collect();
        // 3 s, 4 s, 5 s are missing and the NaN at 6 s too: a gap of four
        // rows, of which the first two are filled
        assert_eq!(
            values,
            vec![
                Some(1.0),
                Some(2.0),
                Some(2.0),
                Some(2.0),
                None,
                None,
                Some(7.0)
            ]
        );
    }

    #[test]
    fn assemble_drops_empty_columns_and_refuses_an_empty_frame() {
        let frame = MetricFrame::assemble(
            "test",
            vec![1, 2],
            vec![
                (key("a", "cpu"), vec![None, None]),
                (key("b", "cpu"), vec![Some(1.0), Some(2.0)]),
            ],
            Vec::new(),
            0,
        )
        .unwrap();
        assert_eq!(frame.keys(), &[key("b", "cpu")]);
        assert_eq!(frame.dropped()[0].column, "a_cpu");
        let err = MetricFrame::assemble(
            "test",
            vec![1],
            vec![(key("a", "cpu"), vec![None])],
            Vec::new(),
            0,
        )
        .unwrap_err();
        assert!(matches!(err, RcaError::NoMetricColumns(_)), "{err}");
    }
}
