//! One column's score: its largest deviation after the onset from what
//! the baseline expected, in units of the baseline's scale.
//!
//! RCAEval's BARO and n-sigma take the largest *signed* score
//! (`max(zscores)`), so a drop never counts; here it is the largest
//! absolute one, with its direction kept: a service that stops serving
//! shows its fault as falling request rate and CPU.

use polars::prelude::*;
use serde::Serialize;

use crate::Method;
use crate::baseline::{Baseline, CHANGE_FLOOR, Scale, negligible};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

/// A change most services' same metric shared after the onset (a load
/// step, say): the baseline is moved by it before deviations are taken.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SharedShift {
    /// Median over services of (post-onset centre / pre-onset centre - 1).
    pub relative: f64,
    /// Services whose same metric it was taken over.
    pub services: usize,
}

/// A scored column with the numbers behind its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricScore {
    pub column: String,
    pub metric: String,
    pub baseline: Baseline,
    /// The centre the post-onset values were compared with: the baseline
    /// centre moved by the shared shift, if any.
    pub expected: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_shift: Option<SharedShift>,
    /// The post-onset value farthest from `expected`, and when.
    pub extreme: f64,
    pub extreme_ms: i64,
    pub direction: Direction,
    /// (extreme - expected) / scale.
    pub deviation: f64,
    /// (extreme - centre) / scale: the deviation without the shared shift.
    pub raw_deviation: f64,
    /// |deviation|: what ranks the column.
    pub score: f64,
    pub post_points: usize,
    pub reason: String,
}

pub(crate) enum Scan {
    Scored(Box<MetricScore>),
    /// Constant at the same value before and after: no evidence.
    Flat,
}

/// Scans `post` (with its row times) for the value farthest from the
/// expected level. `post` has at least one value.
pub(crate) fn scan(
    method: Method,
    column: &str,
    metric: &str,
    mut baseline: Baseline,
    shared_shift: Option<SharedShift>,
    post: &Float64Chunked,
    post_time: &Int64Chunked,
) -> Option<Scan> {
    let expected = match shared_shift {
        Some(shift) => baseline.center + shift.relative * baseline.center.abs(),
        None => baseline.center,
    };
    let mut farthest: Option<(f64, i64)> = None;
    for (value, ts) in post.iter().zip(post_time.iter()) {
        let (Some(value), Some(ts)) = (value, ts) else {
            continue;
        };
        let farther = match farthest {
            Some((best, _)) => (value - expected).abs() > (best - expected).abs(),
            None => true,
        };
        if farther {
            farthest = Some((value, ts));
        }
    }
    let (extreme, extreme_ms) = farthest?;
    let change = extreme - expected;
    if baseline.scale_kind == Scale::ChangeFloor {
        if negligible(change.abs(), baseline.center) {
            return Some(Scan::Flat);
        }
        baseline.scale = CHANGE_FLOOR * baseline.center.abs().max(change.abs());
    }
    let deviation = change / baseline.scale;
    let raw_deviation = (extreme - baseline.center) / baseline.scale;
    let direction = if change >= 0.0 {
        Direction::Up
    } else {
        Direction::Down
    };
    let mut score = MetricScore {
        column: column.to_owned(),
        metric: metric.to_owned(),
        baseline,
        expected,
        shared_shift,
        extreme,
        extreme_ms,
        direction,
        deviation,
        raw_deviation,
        score: deviation.abs(),
        post_points: post.len() - post.null_count(),
        reason: String::new(),
    };
    score.reason = crate::reason::explain(method, &score);
    Some(Scan::Scored(Box::new(score)))
}
