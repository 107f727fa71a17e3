//! The robust reference a point is judged against: a baseline level and a
//! scale (what one "sigma" is), both from order statistics so a few
//! outliers in the history don't move them.

use crate::window::RollingWindow;

/// MAD x 1.4826 estimates the standard deviation of normal data.
pub(crate) const MAD_TO_SIGMA: f64 = 1.4826;

/// Where a baseline came from, for the explanation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Source {
    /// Median of the last `points` learned points.
    Window { points: usize },
    /// Seasonal level of `slot` (of `slots`) over `periods` periods of
    /// `period_ms`, plus the median of recent residuals.
    Seasonal {
        slot: usize,
        slots: usize,
        periods: usize,
        period_ms: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Reference {
    pub(crate) baseline: f64,
    /// Always > 0 and finite for a finite baseline.
    pub(crate) scale: f64,
    pub(crate) source: Source,
}

impl Reference {
    /// (x - baseline) / scale, kept finite so later arithmetic stays sane
    /// whatever the input.
    pub(crate) fn z(&self, x: f64) -> f64 {
        let z = (x - self.baseline) / self.scale;
        if z.is_nan() {
            0.0
        } else {
            z.clamp(-1e12, 1e12)
        }
    }
}

/// The scale floor: a constant plus a share of the level. Without it a
/// series that sat exactly at 0 has MAD 0 and any change is infinite sigmas.
pub(crate) fn floor(baseline: f64, floor_abs: f64, floor_rel: f64) -> f64 {
    floor_abs + floor_rel * baseline.abs()
}

/// Median and floored scale of `window` offset by `level` (0 for raw
/// values, the seasonal level for residuals).
pub(crate) fn reference(
    window: &RollingWindow,
    level: f64,
    floor_abs: f64,
    floor_rel: f64,
    source: Source,
) -> Option<Reference> {
    let median = window.median()?;
    let mad = window.mad(median)?;
    let baseline = level + median;
    if !baseline.is_finite() {
        return None;
    }
    let scale = MAD_TO_SIGMA * mad + floor(baseline, floor_abs, floor_rel);
    // a huge spread can overflow; fall back to the largest finite scale
    let scale = if scale.is_finite() { scale } else { f64::MAX };
    Some(Reference {
        baseline,
        scale,
        source,
    })
}
