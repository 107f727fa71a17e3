//! One column's score: its largest deviation after the onset from what
//! the baseline expected, in units of the baseline's scale.
//!
//! RCAEval's BARO and n-sigma take the largest *signed* score
//! (`max(zscores)`), so a drop never counts; with
//! [`Departure::Absolute`] it is the largest absolute one, with its
//! direction kept: a service that stops serving shows its fault as
//! falling request rate and CPU.

use polars::prelude::*;
use serde::Serialize;

use crate::Method;
use crate::baseline::{Baseline, CHANGE_FLOOR, Scale, negligible};
use crate::departures::{Departure, Departures};

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

/// For a column with no IQR of its own (idle, or constant), the typical
/// noise of the same metric in other services: the median of their
/// largest pre-onset excursions. A series that happened to be quieter
/// than its peers before the onset is not scaled finer than they are, so
/// a caller whose error ratio is half the root's does not outscore it by
/// luck of a smaller blip, and one failed request in an idle service is
/// not 100 times anything.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PeerScale {
    pub scale: f64,
    pub services: usize,
}

/// What the same metric did in the other services.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Peers {
    pub shift: Option<SharedShift>,
    pub scale: Option<PeerScale>,
}

/// A scored column with the numbers behind its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricScore {
    pub column: String,
    pub metric: String,
    pub baseline: Baseline,
    /// The baseline centre moved by the shared shift (the centre itself
    /// when there is none); a post-onset value is measured from whichever
    /// of the two is nearer.
    pub expected: f64,
    /// Set when the shared shift explained part of the extreme's move.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_shift: Option<SharedShift>,
    /// Set when the peers' noise was larger than the column's own and
    /// became its scale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_scale: Option<PeerScale>,
    /// The post-onset value farthest from `expected`, and when.
    pub extreme: f64,
    pub extreme_ms: i64,
    pub direction: Direction,
    /// (extreme - the nearer of centre and expected) / scale.
    pub deviation: f64,
    /// The largest |value - centre| / scale (value - centre without
    /// [`Departure::Absolute`]): the score the shared shift was not
    /// allowed to explain away.
    pub raw_deviation: f64,
    /// |deviation| (the signed deviation without [`Departure::Absolute`]):
    /// what ranks the column.
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
/// expected level (farthest above it, without [`Departure::Absolute`]).
/// `post` has at least one value.
#[allow(clippy::too_many_arguments)] // one column's every input, each named
pub(crate) fn scan(
    method: Method,
    departures: Departures,
    column: &str,
    metric: &str,
    mut baseline: Baseline,
    peers: Peers,
    post: &Float64Chunked,
    post_time: &Int64Chunked,
) -> Option<Scan> {
    // a constant-before column is only here with KeepConstant, which
    // scores it against its change floor whatever ZeroScale says
    if !departures.has(Departure::ZeroScale) && baseline.scale_kind != Scale::ChangeFloor {
        baseline = crate::rcaeval::sklearn_baseline(method, baseline);
    }
    let absolute = departures.has(Departure::Absolute);
    // how far a deviation counts: both ways, or only up as RCAEval's max
    let reach = |deviation: f64| if absolute { deviation.abs() } else { deviation };
    let center = baseline.center;
    let expected = match peers.shift {
        Some(shift) => center + shift.relative * center.abs(),
        None => center,
    };
    // each value is measured from whichever level explains it better, the
    // old one or the old one moved by the shared shift: the shift can
    // explain a move away, never make one (a service whose latency held
    // while most callers' rose is not anomalous for it)
    let explained = |value: f64| {
        let (from_center, from_expected) = (value - center, value - expected);
        if from_expected.abs() < from_center.abs() {
            (from_expected, true)
        } else {
            (from_center, false)
        }
    };
    let mut farthest: Option<(f64, i64)> = None;
    let mut raw_farthest = f64::NEG_INFINITY;
    for (value, ts) in post.iter().zip(post_time.iter()) {
        let (Some(value), Some(ts)) = (value, ts) else {
            continue;
        };
        raw_farthest = raw_farthest.max(reach(value - center));
        let farther = match farthest {
            Some((best, _)) => reach(explained(value).0) > reach(explained(best).0),
            None => true,
        };
        if farther {
            farthest = Some((value, ts));
        }
    }
    let (extreme, extreme_ms) = farthest?;
    let (change, shifted) = explained(extreme);
    let shared_shift = peers.shift.filter(|_| shifted);
    if baseline.scale_kind == Scale::ChangeFloor {
        if negligible(change.abs(), center) {
            return Some(Scan::Flat);
        }
        baseline.scale = CHANGE_FLOOR * center.abs().max(change.abs());
    }
    let peer_scale = peers.scale.filter(|peer| {
        matches!(baseline.scale_kind, Scale::Excursion | Scale::ChangeFloor)
            && peer.scale > baseline.scale
    });
    if let Some(peer) = peer_scale {
        baseline.scale = peer.scale;
    }
    let deviation = change / baseline.scale;
    let raw_deviation = raw_farthest / baseline.scale;
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
        peer_scale,
        extreme,
        extreme_ms,
        direction,
        deviation,
        raw_deviation,
        score: reach(deviation),
        post_points: post.len() - post.null_count(),
        reason: String::new(),
    };
    score.reason = crate::reason::explain(method, &score);
    Some(Scan::Scored(Box::new(score)))
}
