//! RCAEval's own scoring, kept to measure this crate's departures from
//! it on the same cases (`RankOptions::rcaeval`): sklearn's scalers
//! (a scale under 10 machine epsilons becomes 1, the column's own units),
//! the largest *signed* score after the onset, and no look across
//! services. Columns constant within either window are left out by the
//! caller, as RCAEval's per-window `drop_constant` does.

use polars::prelude::*;

use crate::Method;
use crate::baseline::{Baseline, Scale};
use crate::score::{Direction, MetricScore, Scan};

/// sklearn's `_handle_zeros_in_scale`: `scale < 10 * eps` is replaced by 1.
fn sklearn_scale(scale: f64) -> Option<f64> {
    (scale >= 10.0 * f64::EPSILON).then_some(scale)
}

/// Whether every value present equals the first (pandas' `drop_constant`
/// after RCAEval's `ffill`).
pub(crate) fn constant(values: &Float64Chunked) -> bool {
    let mut present = values.iter().flatten();
    let Some(first) = present.next() else {
        return true;
    };
    present.all(|v| v == first)
}

pub(crate) fn scan(
    method: Method,
    column: &str,
    metric: &str,
    mut baseline: Baseline,
    post: &Float64Chunked,
    post_time: &Int64Chunked,
) -> Option<Scan> {
    let fitted = match method {
        Method::Baro => baseline.q3.zip(baseline.q1).map(|(q3, q1)| q3 - q1),
        Method::Nsigma => Some(baseline.std),
    };
    match fitted.and_then(sklearn_scale) {
        Some(scale) => {
            baseline.scale = scale;
            baseline.scale_kind = match method {
                Method::Baro => Scale::Iqr,
                Method::Nsigma => Scale::Std,
            };
        }
        None => {
            baseline.scale = 1.0;
            baseline.scale_kind = Scale::Unit;
        }
    }
    let (extreme, extreme_ms) = post
        .iter()
        .zip(post_time.iter())
        .filter_map(|(v, t)| v.zip(t))
        .fold(None, |best: Option<(f64, i64)>, (v, t)| match best {
            Some((b, _)) if b >= v => best,
            _ => Some((v, t)),
        })?;
    let deviation = (extreme - baseline.center) / baseline.scale;
    let mut score = MetricScore {
        column: column.to_owned(),
        metric: metric.to_owned(),
        expected: baseline.center,
        baseline,
        shared_shift: None,
        peer_scale: None,
        extreme,
        extreme_ms,
        direction: if deviation >= 0.0 {
            Direction::Up
        } else {
            Direction::Down
        },
        deviation,
        raw_deviation: deviation,
        score: deviation,
        post_points: post.len() - post.null_count(),
        reason: String::new(),
    };
    score.reason = crate::reason::explain(method, &score);
    Some(Scan::Scored(Box::new(score)))
}
