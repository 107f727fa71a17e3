//! The engine's way in: per-service series held in memory, each with its
//! own timestamps (scrapes drift, series start late, rounds are missed),
//! put on one time grid.
//!
//! Alignment: the grid has one row per `step_ms`, with boundaries at
//! `origin_ms + k * step_ms`; a row is labelled with its start and holds
//! the last point that fell in `[start, start + step)`. Passing the onset
//! as the origin keeps every row wholly before or wholly after it. Rows a
//! series has no point in are empty; runs of at most `max_fill_steps`
//! empty rows are filled with the last value, longer ones stay empty and
//! are ignored by the statistics.

use std::collections::BTreeSet;

use crate::error::{RcaError, Result};
use crate::frame::{ColumnKey, DroppedColumn, MAX_CELLS, MetricFrame};

/// One series as the caller holds it: `(unix milliseconds, value)` points
/// in any order; non-finite values count as missing.
#[derive(Debug, Clone, Copy)]
pub struct SeriesInput<'a> {
    pub service: &'a str,
    pub metric: &'a str,
    pub points: &'a [(i64, f64)],
}

#[derive(Debug, Clone, Copy)]
pub struct AlignOptions {
    pub step_ms: i64,
    /// A grid boundary; the onset is the natural choice.
    pub origin_ms: i64,
    pub max_fill_steps: usize,
}

impl MetricFrame {
    pub fn from_series(series: &[SeriesInput<'_>], options: &AlignOptions) -> Result<Self> {
        let step = options.step_ms;
        if step <= 0 {
            return Err(RcaError::BadStep(step));
        }
        let mut names = BTreeSet::new();
        for (index, input) in series.iter().enumerate() {
            if input.service.is_empty() {
                return Err(RcaError::EmptyName {
                    index,
                    field: "service",
                });
            }
            if input.metric.is_empty() {
                return Err(RcaError::EmptyName {
                    index,
                    field: "metric",
                });
            }
            let key = ColumnKey {
                service: input.service.to_owned(),
                metric: input.metric.to_owned(),
            };
            let column = key.column_name();
            if !names.insert(column.clone()) {
                return Err(RcaError::DuplicateSeries {
                    service: key.service,
                    metric: key.metric,
                    column,
                });
            }
        }
        let slot = |ts: i64| ts.saturating_sub(options.origin_ms).div_euclid(step);
        let slots = series
            .iter()
            .flat_map(|s| s.points.iter().map(|(ts, _)| slot(*ts)));
        let (Some(first), Some(last)) = (slots.clone().min(), slots.max()) else {
            return Err(RcaError::NoMetricColumns("no points in any series".into()));
        };
        let rows = usize::try_from(i128::from(last) - i128::from(first) + 1).unwrap_or(usize::MAX);
        if rows.saturating_mul(series.len()) > MAX_CELLS {
            return Err(RcaError::TooManyCells {
                what: format!("series aligned at {step} ms"),
                rows,
                columns: series.len(),
                limit: MAX_CELLS,
            });
        }
        let time_ms: Vec<i64> = (first..=last)
            .map(|k| options.origin_ms.saturating_add(k.saturating_mul(step)))
            .collect();
        let mut columns = Vec::with_capacity(series.len());
        let mut dropped = Vec::new();
        for input in series {
            let key = ColumnKey {
                service: input.service.to_owned(),
                metric: input.metric.to_owned(),
            };
            if input.points.is_empty() {
                dropped.push(DroppedColumn {
                    column: key.column_name(),
                    reason: "no points".into(),
                });
                continue;
            }
            let mut points = input.points.to_vec();
            points.sort_by_key(|(ts, _)| *ts);
            let mut values = vec![None; rows];
            for (ts, value) in points {
                // in range by construction of first and last
                let row = (slot(ts) - first) as usize;
                values[row] = Some(value);
            }
            columns.push((key, values));
        }
        MetricFrame::assemble(
            "in-memory series",
            time_ms,
            columns,
            dropped,
            options.max_fill_steps,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> AlignOptions {
        AlignOptions {
            step_ms: 1_000,
            origin_ms: 10_000,
            max_fill_steps: 1,
        }
    }

    fn column(frame: &MetricFrame, service: &str, metric: &str) -> Vec<Option<f64>> {
        let key = ColumnKey {
            service: service.into(),
            metric: metric.into(),
        };
        frame.values(&key).unwrap().iter().collect()
    }

    #[test]
    fn ragged_series_land_on_one_grid_with_short_gaps_filled() {
        // a scrapes at +100 ms and misses 12 s; b starts late, drifts
        // and misses 12 s and 13 s (a gap longer than one step stays)
        let a = [
            (8_100, 1.0),
            (9_100, 2.0),
            (10_100, 3.0),
            (11_100, 4.0),
            (13_100, 6.0),
        ];
        let b = [
            (13_900, 60.0),
            (10_950, 30.0),
            (11_990, 40.0),
            (10_020, 29.0),
        ];
        let frame = MetricFrame::from_series(
            &[
                SeriesInput {
                    service: "a",
                    metric: "cpu",
                    points: &a,
                },
                SeriesInput {
                    service: "b",
                    metric: "cpu",
                    points: &b,
                },
            ],
            &options(),
        )
        .unwrap();
        let time: Vec<i64> = frame.time().unwrap().iter().flatten().collect();
        assert_eq!(time, vec![8_000, 9_000, 10_000, 11_000, 12_000, 13_000]);
        assert_eq!(
            column(&frame, "a", "cpu"),
            vec![
                Some(1.0),
                Some(2.0),
                Some(3.0),
                Some(4.0),
                Some(4.0),
                Some(6.0)
            ]
        );
        // 10_950 is the later of two points in the 10 s row
        assert_eq!(
            column(&frame, "b", "cpu"),
            vec![None, None, Some(30.0), Some(40.0), Some(40.0), Some(60.0)]
        );
    }

    #[test]
    fn bad_input_is_named() {
        let p = [(1, 1.0)];
        let one = |service, metric| SeriesInput {
            service,
            metric,
            points: &p,
        };
        let err =
            MetricFrame::from_series(&[one("a", "cpu"), one("a", "cpu")], &options()).unwrap_err();
        assert!(err.to_string().contains("a/cpu is given twice"), "{err}");
        let err = MetricFrame::from_series(&[one("", "cpu")], &options()).unwrap_err();
        assert!(err.to_string().contains("empty service"), "{err}");
        let bad_step = AlignOptions {
            step_ms: 0,
            ..options()
        };
        let err = MetricFrame::from_series(&[one("a", "cpu")], &bad_step).unwrap_err();
        assert!(matches!(err, RcaError::BadStep(0)), "{err}");
        let far = [(0, 1.0), (i64::MAX / 4, 2.0)];
        let err = MetricFrame::from_series(
            &[SeriesInput {
                service: "a",
                metric: "cpu",
                points: &far,
            }],
            &options(),
        )
        .unwrap_err();
        assert!(matches!(err, RcaError::TooManyCells { .. }), "{err}");
        let err = MetricFrame::from_series(
            &[SeriesInput {
                service: "a",
                metric: "cpu",
                points: &[],
            }],
            &options(),
        )
        .unwrap_err();
        assert!(matches!(err, RcaError::NoMetricColumns(_)), "{err}");
    }
}
