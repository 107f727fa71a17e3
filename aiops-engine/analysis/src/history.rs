//! A bounded recent history of every derived value (and of each service's
//! log-template rates), one column per service and metric: the incident
//! window that root-cause ranking scores against its pre-onset part, and
//! what a recording of a run exports. Bounded in time, points per column
//! and columns.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::derive::DerivedValue;

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryConfig {
    /// Points older than this are dropped.
    pub window_ms: i64,
    /// At most this many points per column (the newest are kept).
    pub max_points: usize,
    /// New columns beyond this are not recorded (counted).
    pub max_columns: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            // long enough for a fault's pre-onset baseline plus its course
            window_ms: 60 * 60_000,
            max_points: 1_800,
            max_columns: 5_000,
        }
    }
}

/// `metric` is the derived metric (`error_ratio`, `latency_p99`, ...), the
/// peer's view as `peer_error_ratio.<peer>`, or `log.<template id>` (lines
/// per second of that template).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ColumnKey {
    pub service: String,
    pub metric: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub service: String,
    pub metric: String,
    /// Oldest first, strictly increasing times.
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug, Default)]
pub struct History {
    config: HistoryConfig,
    columns: BTreeMap<ColumnKey, VecDeque<(i64, f64)>>,
    pub refused_columns: u64,
}

impl History {
    pub fn new(config: HistoryConfig) -> Self {
        History {
            config,
            columns: BTreeMap::new(),
            refused_columns: 0,
        }
    }

    /// The metric name a derived value is recorded under.
    pub fn metric_of(value: &DerivedValue) -> String {
        match &value.peer {
            Some(peer) => format!("{}.{peer}", value.metric),
            None => value.metric.to_owned(),
        }
    }

    /// Records one evaluation's values, then drops what fell out of the window.
    pub fn record(&mut self, now_ms: i64, values: &[DerivedValue]) {
        for value in values {
            self.push(&value.service, &Self::metric_of(value), now_ms, value.value);
        }
        self.expire(now_ms);
    }

    /// One point; ignored unless newer than the column's last and finite.
    pub fn push(&mut self, service: &str, metric: &str, ts_ms: i64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let key = ColumnKey {
            service: service.to_owned(),
            metric: metric.to_owned(),
        };
        if !self.columns.contains_key(&key) && self.columns.len() >= self.config.max_columns {
            self.refused_columns += 1;
            return;
        }
        let points = self.columns.entry(key).or_default();
        if points.back().is_some_and(|(t, _)| *t >= ts_ms) {
            return;
        }
        if points.len() >= self.config.max_points.max(1) {
            points.pop_front();
        }
        points.push_back((ts_ms, value));
    }

    fn expire(&mut self, now_ms: i64) {
        let oldest = now_ms.saturating_sub(self.config.window_ms);
        self.columns.retain(|_, points| {
            while points.front().is_some_and(|(t, _)| *t < oldest) {
                points.pop_front();
            }
            !points.is_empty()
        });
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Columns with points in `[from_ms, to_ms]`, of `services` when given,
    /// sorted by service then metric.
    pub fn columns(&self, from_ms: i64, to_ms: i64, services: Option<&[String]>) -> Vec<Column> {
        self.columns
            .iter()
            .filter(|(key, _)| services.is_none_or(|s| s.contains(&key.service)))
            .filter_map(|(key, points)| {
                let points: Vec<(i64, f64)> = points
                    .iter()
                    .copied()
                    .filter(|(t, _)| (from_ms..=to_ms).contains(t))
                    .collect();
                (!points.is_empty()).then(|| Column {
                    service: key.service.clone(),
                    metric: key.metric.clone(),
                    points,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiops_detect::SignalKind as DetectKind;

    fn value(service: &str, peer: Option<&str>, metric: &'static str, v: f64) -> DerivedValue {
        DerivedValue {
            service: service.into(),
            peer: peer.map(Into::into),
            kind: DetectKind::ErrorRatio,
            metric,
            value: v,
        }
    }

    #[test]
    fn records_windows_and_bounds() {
        let mut h = History::new(HistoryConfig {
            window_ms: 10_000,
            max_points: 3,
            max_columns: 2,
        });
        for i in 0..5 {
            h.record(
                i * 1000,
                &[
                    value("cart", None, "error_ratio", i as f64),
                    value("cart", Some("catalog"), "peer_error_ratio", 0.0),
                    value("orders", None, "error_ratio", 1.0),
                ],
            );
        }
        assert_eq!(h.len(), 2);
        assert_eq!(h.refused_columns, 5);
        let cols = h.columns(0, 10_000, None);
        assert_eq!(cols[0].metric, "error_ratio");
        assert_eq!(cols[0].points, vec![(2000, 2.0), (3000, 3.0), (4000, 4.0)]);
        assert_eq!(cols[1].metric, "peer_error_ratio.catalog");
        // out of order, duplicate and non-finite points are ignored
        h.push("cart", "error_ratio", 4000, 9.0);
        h.push("cart", "error_ratio", 3500, 9.0);
        h.push("cart", "error_ratio", 5000, f64::NAN);
        assert_eq!(h.columns(4000, 4000, None)[0].points, vec![(4000, 4.0)]);
        // everything expires
        h.record(100_000, &[]);
        assert!(h.is_empty());
    }

    #[test]
    fn filters_by_time_and_service() {
        let mut h = History::new(HistoryConfig::default());
        h.record(
            1000,
            &[value("a", None, "cpu", 1.0), value("b", None, "cpu", 2.0)],
        );
        h.record(
            2000,
            &[value("a", None, "cpu", 3.0), value("b", None, "cpu", 4.0)],
        );
        let only_b = h.columns(1500, 3000, Some(&["b".to_owned()]));
        assert_eq!(only_b.len(), 1);
        assert_eq!(only_b[0].points, vec![(2000, 4.0)]);
        assert!(h.columns(5000, 6000, None).is_empty());
    }
}
