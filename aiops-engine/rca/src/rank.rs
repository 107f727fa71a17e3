//! Services ranked by how far their metrics moved from the pre-onset
//! baseline, each with its metrics ranked and explained.
//!
//! A service's strength is its strongest metric's score (RCAEval ranks
//! columns and credits each service at its first column, the same
//! order). Its `score` is its strength's share of all services' strengths,
//! so scores sum to 1 like the engine's other ranking and read as "how
//! much of the evidence points here".
//!
//! Two things look across services, per metric name; RCAEval does
//! neither:
//! - the shared shift: when the same metric moved the same way in most
//!   services (traffic rose everywhere), that move is no service's fault.
//!   The median relative change of the metric's centre over the services
//!   whose level stands clear of their noise moves the baseline, and each
//!   post-onset value is measured from whichever of the old and the moved
//!   level is nearer: a load step then scores little, while a service that
//!   held still as the others moved scores no more than before.
//!   [`Departure::SharedShift`] in [`RankOptions::departures`];
//! - the peer scale: a column with no IQR of its own is not scaled finer
//!   than the same metric's median pre-onset excursion elsewhere (see
//!   [`crate::score::PeerScale`]), [`Departure::PeerScale`].

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;

use crate::Method;
use crate::baseline::{Baseline, Scale, learn, negligible, post_center};
use crate::departures::{Departure, Departures};
use crate::error::{RcaError, Result};
use crate::frame::{ColumnKey, DroppedColumn, MetricFrame};
use crate::score::{MetricScore, PeerScale, Peers, Scan, SharedShift, scan};

/// A shared shift needs this many services with the metric: with two,
/// the "median" is just their mean and would cancel a real fault.
pub const SHARED_SHIFT_MIN_SERVICES: usize = 3;
/// Shared moves smaller than this (5%) are ordinary drift: left alone,
/// so reasons do not all carry a note about them.
pub const SHARED_SHIFT_MIN_CHANGE: f64 = 0.05;
/// Only columns whose pre-onset level is at least this many scales
/// above zero take part in estimating a shared shift.
pub const SHARED_SHIFT_MIN_LEVEL: f64 = 3.0;

#[derive(Debug, Clone)]
pub struct RankOptions {
    /// Rows before the onset learnt from (the last ones); `None`: all.
    pub max_pre_rows: Option<usize>,
    /// Rows from the onset on that are scored (the first ones); `None`: all.
    pub max_post_rows: Option<usize>,
    /// Fewer rows than this before the onset is an error, and a column
    /// with fewer values than this there is skipped.
    pub min_pre_rows: usize,
    /// Where the scoring departs from RCAEval's; [`Departures::none()`]
    /// scores exactly as RCAEval does, for measuring what each is worth.
    pub departures: Departures,
    /// Metrics kept per service in the ranking (the strongest).
    pub metrics_per_service: usize,
}

impl Default for RankOptions {
    fn default() -> Self {
        Self {
            max_pre_rows: None,
            max_post_rows: None,
            min_pre_rows: 5,
            departures: Departures::default(),
            metrics_per_service: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceScore {
    pub service: String,
    /// Share of all services' strengths, in [0, 1].
    pub score: f64,
    /// Its strongest metric's score (IQRs or standard deviations).
    pub strength: f64,
    /// The strongest metric's reason.
    pub reason: String,
    /// Its metrics, strongest first.
    pub metrics: Vec<MetricScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranking {
    pub method: Method,
    pub onset_ms: i64,
    pub pre_rows: usize,
    pub post_rows: usize,
    /// Every scored service, strongest first; ties by name.
    pub services: Vec<ServiceScore>,
    /// Columns not scored, and why.
    pub skipped: Vec<DroppedColumn>,
}

impl Ranking {
    pub fn top(&self, n: usize) -> &[ServiceScore] {
        &self.services[..n.min(self.services.len())]
    }

    /// 1-based rank of `service`, if it was scored.
    pub fn position(&self, service: &str) -> Option<usize> {
        self.services
            .iter()
            .position(|s| s.service == service)
            .map(|i| i + 1)
    }
}

struct Learnt<'a> {
    key: &'a ColumnKey,
    baseline: Baseline,
    post: Float64Chunked,
    relative_change: Option<f64>,
}

pub fn rank(
    frame: &MetricFrame,
    onset_ms: i64,
    method: Method,
    options: &RankOptions,
) -> Result<Ranking> {
    let time = frame.time()?;
    let (Some(first_ms), Some(last_ms)) = (time.first(), time.last()) else {
        return Err(RcaError::NoMetricColumns("the frame has no rows".into()));
    };
    if onset_ms < first_ms || onset_ms > last_ms {
        return Err(RcaError::OnsetOutsideData {
            onset_ms,
            first_ms,
            last_ms,
        });
    }
    // times are ascending (the frame sorts them)
    let split = time
        .iter()
        .take_while(|t| t.is_some_and(|t| t < onset_ms))
        .count();
    let needed = options.min_pre_rows.max(1);
    if split < needed {
        return Err(RcaError::TooFewBefore {
            rows: split,
            needed,
        });
    }
    let pre_rows = options.max_pre_rows.map_or(split, |m| m.min(split));
    let post_rows = options
        .max_post_rows
        .map_or(frame.rows() - split, |m| m.min(frame.rows() - split));
    let pre_start = (split - pre_rows) as i64;
    let post_time = time.slice(split as i64, post_rows);

    let departures = options.departures;
    let mut skipped = frame.dropped().to_vec();
    let mut learnt = Vec::with_capacity(frame.keys().len());
    for key in frame.keys() {
        let values = frame.values(key)?;
        let pre = values.slice(pre_start, pre_rows);
        let post = values.slice(split as i64, post_rows);
        let pre_points = pre.len() - pre.null_count();
        if pre_points < needed {
            skipped.push(DroppedColumn {
                column: key.column_name(),
                reason: format!("only {pre_points} values before the onset (needs {needed})"),
            });
            continue;
        }
        if post.len() == post.null_count() {
            skipped.push(DroppedColumn {
                column: key.column_name(),
                reason: "no value from the onset on".into(),
            });
            continue;
        }
        if !departures.has(Departure::KeepConstant)
            && (crate::rcaeval::constant(&pre) || crate::rcaeval::constant(&post))
        {
            skipped.push(DroppedColumn {
                column: key.column_name(),
                reason:
                    "constant within the window before or after the onset (RCAEval leaves it out)"
                        .into(),
            });
            continue;
        }
        let Some(baseline) = learn(method, &pre)? else {
            continue;
        };
        let relative_change = post_center(method, &post)
            .filter(|_| has_a_level(&baseline))
            .map(|after| (after - baseline.center) / baseline.center.abs());
        learnt.push(Learnt {
            key,
            baseline,
            post,
            relative_change,
        });
    }

    let shifts = if departures.has(Departure::SharedShift) {
        shared_shifts(&learnt)
    } else {
        BTreeMap::new()
    };
    let peer_scales = if departures.has(Departure::PeerScale) {
        peer_scales(&learnt)
    } else {
        BTreeMap::new()
    };

    let mut by_service: BTreeMap<&str, Vec<MetricScore>> = BTreeMap::new();
    for column in learnt {
        let name = column.key.column_name();
        let metric = column.key.metric.as_str();
        let peers = Peers {
            shift: shifts.get(metric).copied(),
            scale: peer_scales.get(metric).copied(),
        };
        let scanned = scan(
            method,
            departures,
            &name,
            &column.key.metric,
            column.baseline,
            peers,
            &column.post,
            &post_time,
        );
        match scanned {
            Some(Scan::Scored(score)) => by_service
                .entry(column.key.service.as_str())
                .or_default()
                .push(*score),
            Some(Scan::Flat) => skipped.push(DroppedColumn {
                column: name,
                reason: "constant before and after the onset".into(),
            }),
            None => {}
        }
    }
    if by_service.is_empty() {
        return Err(RcaError::NothingScorable);
    }

    let mut services: Vec<ServiceScore> = by_service
        .into_iter()
        .map(|(service, mut metrics)| {
            metrics.sort_by(|a, b| {
                b.score
                    .total_cmp(&a.score)
                    .then_with(|| a.column.cmp(&b.column))
            });
            metrics.truncate(options.metrics_per_service.max(1));
            ServiceScore {
                service: service.to_owned(),
                score: 0.0,
                strength: metrics[0].score,
                reason: metrics[0].reason.clone(),
                metrics,
            }
        })
        .collect();
    // RCAEval's signed scores can be negative: those get no share
    let total: f64 = services.iter().map(|s| s.strength.max(0.0)).sum();
    for service in &mut services {
        service.score = if total > 0.0 {
            service.strength.max(0.0) / total
        } else {
            0.0
        };
    }
    services.sort_by(|a, b| {
        b.strength
            .total_cmp(&a.strength)
            .then_with(|| a.service.cmp(&b.service))
    });
    Ok(Ranking {
        method,
        onset_ms,
        pre_rows,
        post_rows,
        services,
        skipped,
    })
}

/// Whether a relative change of this column means anything: its level
/// stands well clear of its noise, as request rates and CPU do. An idle
/// error ratio (median 0, or a mean made of rare blips) has no level to
/// be a percentage of.
fn has_a_level(baseline: &Baseline) -> bool {
    !negligible(baseline.center.abs(), 0.0)
        && baseline.center.abs() >= SHARED_SHIFT_MIN_LEVEL * baseline.scale
}

/// Per metric name, the median relative change of its centre across the
/// services that have it, where enough do.
fn shared_shifts<'a>(learnt: &[Learnt<'a>]) -> BTreeMap<&'a str, SharedShift> {
    let mut changes: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for column in learnt {
        if let Some(change) = column.relative_change.filter(|c| c.is_finite()) {
            changes
                .entry(column.key.metric.as_str())
                .or_default()
                .push(change);
        }
    }
    changes
        .into_iter()
        .filter(|(_, c)| c.len() >= SHARED_SHIFT_MIN_SERVICES)
        .filter_map(|(metric, c)| {
            let services = c.len();
            let median = median(c);
            (median.abs() >= SHARED_SHIFT_MIN_CHANGE).then_some((
                metric,
                SharedShift {
                    relative: median,
                    services,
                },
            ))
        })
        .collect()
}

/// Per metric name, the median largest pre-onset excursion of the
/// services whose column of it had no IQR, where at least two did.
fn peer_scales<'a>(learnt: &[Learnt<'a>]) -> BTreeMap<&'a str, PeerScale> {
    let mut excursions: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for column in learnt {
        if column.baseline.scale_kind == Scale::Excursion {
            excursions
                .entry(column.key.metric.as_str())
                .or_default()
                .push(column.baseline.scale);
        }
    }
    excursions
        .into_iter()
        .filter(|(_, e)| e.len() >= 2)
        .map(|(metric, e)| {
            let services = e.len();
            (
                metric,
                PeerScale {
                    scale: median(e),
                    services,
                },
            )
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}
