//! Reading the series store the way Prometheus' HTTP API does: `/series`
//! (which series exist in a range) and `/query_range` for a plain selector
//! (the value each series has at each step).

use crate::labels::Labels;
use crate::model::is_stale_marker;
use crate::prom_json::ErrorType;
use crate::selector::Selector;
use crate::series_store::SeriesStore;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("end timestamp must not be before start time")]
    EndBeforeStart,
    #[error(
        "zero or negative query resolution step widths are not accepted; try a positive integer"
    )]
    NonPositiveStep,
    #[error("zero or negative lookback delta is not accepted")]
    NonPositiveLookback,
    #[error(
        "exceeded maximum resolution of {max} points per timeseries; try decreasing the query resolution (?step=XX)"
    )]
    TooManySteps { max: usize },
    #[error(
        "query processing would load too many samples into memory in query execution (limit {max})"
    )]
    TooManyPoints { max: usize },
}

impl QueryError {
    /// The `errorType` Prometheus reports for this error.
    pub fn error_type(&self) -> ErrorType {
        match self {
            QueryError::TooManyPoints { .. } => ErrorType::Execution,
            _ => ErrorType::BadData,
        }
    }
}

/// One series' values at the steps where it was present.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    /// `(step timestamp in ms, value)`, ascending.
    pub points: Vec<(i64, f64)>,
}

impl SeriesStore {
    /// The series matching any of `selectors` with at least one sample in
    /// `[start_ms, end_ms]`, sorted and deduplicated.
    pub fn series(&self, selectors: &[Selector], start_ms: i64, end_ms: i64) -> Vec<Labels> {
        if selectors.is_empty() || end_ms < start_ms {
            return Vec::new();
        }
        let found = self.snapshot(
            |labels| selectors.iter().any(|s| s.matches(labels)),
            start_ms,
            end_ms,
        );
        let mut labels: Vec<Labels> = found
            .into_iter()
            .filter(|s| s.has_sample_in(start_ms, end_ms))
            .map(|s| s.labels)
            .collect();
        labels.sort();
        labels.dedup();
        labels
    }

    /// Evaluates a plain selector at `start, start + step, ... <= end` as
    /// Prometheus does: at step `t` a series has the value of its latest
    /// sample in `(t - lookback, t]` (left-open, as Prometheus 3), unless
    /// that sample is a stale marker, which ends the series' presence.
    /// Steps where a series is absent yield no point; series with no point
    /// at all are left out. Sorted by labels.
    pub fn query_range(
        &self,
        selector: &Selector,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        lookback_ms: i64,
    ) -> Result<Vec<RangeSeries>, QueryError> {
        if end_ms < start_ms {
            return Err(QueryError::EndBeforeStart);
        }
        if step_ms <= 0 {
            return Err(QueryError::NonPositiveStep);
        }
        if lookback_ms <= 0 {
            return Err(QueryError::NonPositiveLookback);
        }
        let max_steps = self.config().max_points_per_series;
        let steps = (end_ms as i128 - start_ms as i128) / step_ms as i128 + 1;
        if steps > max_steps as i128 {
            return Err(QueryError::TooManySteps { max: max_steps });
        }

        let from_ts = start_ms.saturating_sub(lookback_ms).saturating_add(1);
        let found = self.snapshot(|labels| selector.matches(labels), from_ts, end_ms);
        let max_points = self.config().max_query_points;
        let mut total_points = 0usize;
        let mut samples = Vec::new();
        let mut result = Vec::new();
        for series in found {
            samples.clear();
            series.samples_in(from_ts, end_ms, &mut samples);
            let points = evaluate_steps(&samples, start_ms, end_ms, step_ms, lookback_ms);
            if points.is_empty() {
                continue;
            }
            total_points += points.len();
            if total_points > max_points {
                return Err(QueryError::TooManyPoints { max: max_points });
            }
            result.push(RangeSeries {
                labels: series.labels,
                points,
            });
        }
        result.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(result)
    }
}

/// The lookback evaluation over one series' samples (ascending by time).
pub fn evaluate_steps(
    samples: &[(i64, f64)],
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    lookback_ms: i64,
) -> Vec<(i64, f64)> {
    let mut points = Vec::new();
    let mut next = 0;
    let mut t = start_ms;
    while t <= end_ms {
        while next < samples.len() && samples[next].0 <= t {
            next += 1;
        }
        if let Some(&(ts, value)) = next.checked_sub(1).map(|i| &samples[i])
            && ts > t.saturating_sub(lookback_ms)
            && !is_stale_marker(value)
        {
            points.push((t, value));
        }
        let Some(following) = t.checked_add(step_ms) else {
            break;
        };
        t = following;
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{DEFAULT_LOOKBACK_MS, StoreConfig};
    use crate::model::{STALE_NAN_BITS, SampleBatch, SampleValue, SeriesSamples};
    use proptest::prelude::*;

    const T0: i64 = 1_700_000_000_000;
    const S: i64 = 1_000;
    const MIN: i64 = 60 * S;

    fn stale() -> f64 {
        f64::from_bits(STALE_NAN_BITS)
    }

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesSamples {
        let mut pairs: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        pairs.sort();
        SeriesSamples {
            labels: pairs,
            samples: samples
                .iter()
                .map(|&(ts_ms, value)| SampleValue { ts_ms, value })
                .collect(),
        }
    }

    fn store_with(series_list: Vec<SeriesSamples>) -> SeriesStore {
        let store = SeriesStore::default();
        let out = store.append(
            &SampleBatch {
                series: series_list,
                ..Default::default()
            },
            T0,
        );
        assert_eq!(out.rejected.total(), 0);
        store
    }

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap()
    }

    #[test]
    fn series_lists_the_union_of_matching_series_with_samples_in_range() {
        let store = store_with(vec![
            series(&[("__name__", "up"), ("job", "a")], &[(T0, 1.0)]),
            series(&[("__name__", "up"), ("job", "b")], &[(T0 + 10 * MIN, 1.0)]),
            series(&[("__name__", "down"), ("job", "a")], &[(T0, 1.0)]),
        ]);
        let names = |v: Vec<Labels>| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        let both = store.series(&[sel("up"), sel(r#"{job="a"}"#)], T0, T0 + 10 * MIN);
        assert_eq!(
            names(both),
            [r#"down{job="a"}"#, r#"up{job="a"}"#, r#"up{job="b"}"#]
        );
        let early = store.series(&[sel("up")], T0, T0 + MIN);
        assert_eq!(names(early), [r#"up{job="a"}"#]);
        // a gap between chunks' samples doesn't count as "in range"
        assert!(
            store
                .series(&[sel("up")], T0 + 1, T0 + 10 * MIN - 1)
                .is_empty()
        );
        assert!(store.series(&[], T0, T0 + MIN).is_empty());
    }

    #[test]
    fn query_range_matches_hand_computed_values() {
        // samples every 15 s from T0 to T0+60s, then silence
        let samples: Vec<(i64, f64)> = (0..5).map(|i| (T0 + i * 15 * S, i as f64)).collect();
        let store = store_with(vec![series(&[("__name__", "m"), ("job", "a")], &samples)]);
        let result = store
            .query_range(
                &sel("m"),
                T0 - 10 * S,
                T0 + 7 * MIN,
                MIN,
                DEFAULT_LOOKBACK_MS,
            )
            .unwrap();
        assert_eq!(result.len(), 1);
        assert_eq!(result[0].labels.to_string(), r#"m{job="a"}"#);
        // t = -10s: nothing yet; 50s: sample at 45s; 110s..350s: last sample (60s) within 5m;
        // 410s: 60s is more than 5m ago
        let expected: Vec<(i64, f64)> = vec![
            (T0 + 50 * S, 3.0),
            (T0 + 110 * S, 4.0),
            (T0 + 170 * S, 4.0),
            (T0 + 230 * S, 4.0),
            (T0 + 290 * S, 4.0),
            (T0 + 350 * S, 4.0),
        ];
        assert_eq!(result[0].points, expected);
    }

    #[test]
    fn lookback_is_left_open() {
        let store = store_with(vec![series(&[("__name__", "m")], &[(T0, 7.0)])]);
        let at = |t: i64| store.query_range(&sel("m"), t, t, 1, 5 * MIN).unwrap();
        assert_eq!(at(T0)[0].points, vec![(T0, 7.0)]);
        assert_eq!(
            at(T0 + 5 * MIN - 1)[0].points,
            vec![(T0 + 5 * MIN - 1, 7.0)]
        );
        assert!(
            at(T0 + 5 * MIN).is_empty(),
            "the sample is exactly lookback old: out"
        );
        assert!(at(T0 - 1).is_empty());
    }

    #[test]
    fn stale_markers_end_presence_until_the_next_sample() {
        let store = store_with(vec![series(
            &[("__name__", "m")],
            &[
                (T0, 1.0),
                (T0 + 30 * S, 2.0),
                (T0 + 45 * S, stale()),
                (T0 + 90 * S, 3.0),
            ],
        )]);
        let result = store
            .query_range(&sel("m"), T0, T0 + 120 * S, 15 * S, DEFAULT_LOOKBACK_MS)
            .unwrap();
        let expected = vec![
            (T0, 1.0),
            (T0 + 15 * S, 1.0),
            (T0 + 30 * S, 2.0),
            // 45s, 60s, 75s: the stale marker is the latest sample
            (T0 + 90 * S, 3.0),
            (T0 + 105 * S, 3.0),
            (T0 + 120 * S, 3.0),
        ];
        assert_eq!(result[0].points, expected);
    }

    #[test]
    fn special_values_and_selection() {
        let store = store_with(vec![
            series(&[("__name__", "m"), ("job", "a")], &[(T0, f64::NAN)]),
            series(&[("__name__", "m"), ("job", "b")], &[(T0, f64::INFINITY)]),
            series(&[("__name__", "other")], &[(T0, 1.0)]),
        ]);
        let result = store
            .query_range(&sel(r#"m{job=~"a|b"}"#), T0, T0, 1, DEFAULT_LOOKBACK_MS)
            .unwrap();
        assert_eq!(result.len(), 2);
        assert!(
            result[0].points[0].1.is_nan(),
            "a plain NaN is a value, not a stale marker"
        );
        assert_eq!(result[1].points[0].1, f64::INFINITY);
    }

    #[test]
    fn query_bounds_are_enforced() {
        let store = store_with(vec![series(&[("__name__", "m")], &[(T0, 1.0)])]);
        let m = sel("m");
        assert_eq!(
            store.query_range(&m, T0, T0 - 1, 1, 1),
            Err(QueryError::EndBeforeStart)
        );
        assert_eq!(
            store.query_range(&m, T0, T0, 0, 1),
            Err(QueryError::NonPositiveStep)
        );
        assert_eq!(
            store.query_range(&m, T0, T0, 1, 0),
            Err(QueryError::NonPositiveLookback)
        );
        assert!(store.query_range(&m, T0, T0 + 10_999, 1, 1).is_ok());
        let too_many = store.query_range(&m, T0, T0 + 11_000, 1, 1);
        assert_eq!(too_many, Err(QueryError::TooManySteps { max: 11_000 }));
        assert!(
            too_many
                .unwrap_err()
                .to_string()
                .starts_with("exceeded maximum resolution of 11000 points")
        );
        assert!(store.query_range(&m, i64::MIN, i64::MAX, 1, 1).is_err());

        let small = SeriesStore::new(StoreConfig {
            max_query_points: 10,
            ..StoreConfig::default()
        });
        let samples: Vec<(i64, f64)> = (0..20).map(|i| (T0 + i * S, 1.0)).collect();
        small.append(
            &SampleBatch {
                series: vec![series(&[("__name__", "m")], &samples)],
                ..Default::default()
            },
            T0,
        );
        let err = small.query_range(&m, T0, T0 + 19 * S, S, MIN).unwrap_err();
        assert_eq!(err, QueryError::TooManyPoints { max: 10 });
        assert_eq!(err.error_type(), ErrorType::Execution);
    }

    proptest! {
        /// Whatever was appended, query_range returns exactly what a naive
        /// evaluation over the accepted samples gives.
        #[test]
        fn query_range_agrees_with_a_naive_evaluation(
            gaps in prop::collection::vec((0i64..19_000, 0u8..10), 1..400),
            start_offset in -60_000i64..400_000,
            step in 1_000i64..60_000,
            steps in 1i64..200,
            lookback in 1_000i64..300_000,
        ) {
            let store = SeriesStore::default();
            let mut ts = T0;
            let mut accepted: Vec<(i64, f64)> = Vec::new();
            let mut offered = Vec::new();
            for (gap, kind) in gaps {
                ts += gap;
                let value = match kind { 0 => stale(), 1 => f64::NAN, k => k as f64 };
                offered.push((ts, value));
                if accepted.last().is_none_or(|(last, _)| *last < ts) {
                    accepted.push((ts, value));
                }
            }
            let now = T0 + 120 * MIN;
            let out = store.append(&SampleBatch { series: vec![series(&[("__name__", "m")], &offered)], ..Default::default() }, now);
            prop_assert_eq!(out.samples_appended as usize, accepted.len());
            prop_assert_eq!(out.samples_appended + out.rejected.total(), offered.len() as u64);

            let start = T0 + start_offset;
            let end = start + (steps - 1) * step;
            let result = store.query_range(&sel("m"), start, end, step, lookback).unwrap();
            let mut naive = Vec::new();
            let mut t = start;
            while t <= end {
                let latest = accepted.iter().rev().find(|(s, _)| *s <= t);
                if let Some(&(s, v)) = latest && s > t - lookback && !is_stale_marker(v) {
                    naive.push((t, v.to_bits()));
                }
                t += step;
            }
            let got: Vec<(i64, u64)> = result.first().map(|r| r.points.iter().map(|(t, v)| (*t, v.to_bits())).collect()).unwrap_or_default();
            prop_assert_eq!(got, naive);
        }
    }
}
