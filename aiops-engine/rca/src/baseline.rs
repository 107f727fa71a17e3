//! What "normal" was before the onset, learnt from one column's pre-onset
//! values: BARO's robust centre and scale (sklearn's `RobustScaler`:
//! median and the 25th-75th percentile range, linear interpolation like
//! numpy) or n-sigma's (`StandardScaler`: mean and population standard
//! deviation).
//!
//! A scale of zero is where this differs from RCAEval. sklearn then
//! divides by 1, so the score is in the column's own units (bytes score
//! millions, ratios fractions). Here a zero IQR (a mostly idle series
//! with rare blips, such as an error ratio) falls back to the largest
//! pre-onset excursion from the median, so blips as big as the ones
//! before score at most 1 while a real rise scores its multiple of them;
//! and a column that was exactly constant is judged against 1% of the
//! larger of its level and its change (see [`Scale::ChangeFloor`]): a
//! constant series that moves is strong evidence, but bounded.

use polars::prelude::*;
use serde::Serialize;

use crate::Method;
use crate::error::{Result, polars};

/// A constant-before column scores at most `1 / CHANGE_FLOOR` (100).
pub const CHANGE_FLOOR: f64 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// The pre-onset interquartile range (BARO).
    Iqr,
    /// The pre-onset standard deviation (n-sigma).
    Std,
    /// BARO when the IQR is 0: the largest pre-onset distance from the
    /// median.
    Excursion,
    /// The column was constant before the onset: 1% of the larger of its
    /// level and its largest change after.
    ChangeFloor,
    /// RCAEval's scoring only: sklearn's 1 for a zero scale, so the score
    /// is in the column's own units.
    Unit,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Baseline {
    /// Median (BARO) or mean (n-sigma) of the pre-onset values.
    pub center: f64,
    /// What deviations are divided by; see [`Self::scale_kind`].
    pub scale: f64,
    pub scale_kind: Scale,
    /// 25th and 75th percentiles (BARO only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q3: Option<f64>,
    /// Population standard deviation of the pre-onset values.
    pub std: f64,
    /// Non-empty pre-onset values it was learnt from.
    pub points: usize,
}

/// True when `scale` cannot divide anything around `center`.
pub(crate) fn negligible(scale: f64, center: f64) -> bool {
    scale.is_nan() || scale <= center.abs() * 1e-12
}

/// Learns the baseline of `pre` (nulls ignored). `None` when it has no
/// value. A [`Scale::ChangeFloor`] baseline has scale 0 here; it is set
/// once the change after the onset is known.
pub(crate) fn learn(method: Method, pre: &Float64Chunked) -> Result<Option<Baseline>> {
    let points = pre.len() - pre.null_count();
    let std = pre.std(0).unwrap_or(0.0);
    let baseline = match method {
        Method::Baro => {
            let (Some(center), Some(q1), Some(q3)) = (
                pre.median(),
                pre.quantile(0.25, QuantileMethod::Linear)
                    .map_err(polars("pre-onset 25th percentile"))?,
                pre.quantile(0.75, QuantileMethod::Linear)
                    .map_err(polars("pre-onset 75th percentile"))?,
            ) else {
                return Ok(None);
            };
            let iqr = q3 - q1;
            let excursion = pre
                .iter()
                .flatten()
                .map(|x| (x - center).abs())
                .fold(0.0, f64::max);
            let (scale, scale_kind) = if !negligible(iqr, center) {
                (iqr, Scale::Iqr)
            } else if !negligible(excursion, center) {
                (excursion, Scale::Excursion)
            } else {
                (0.0, Scale::ChangeFloor)
            };
            Baseline {
                center,
                scale,
                scale_kind,
                q1: Some(q1),
                q3: Some(q3),
                std,
                points,
            }
        }
        Method::Nsigma => {
            let Some(center) = pre.mean() else {
                return Ok(None);
            };
            let (scale, scale_kind) = if !negligible(std, center) {
                (std, Scale::Std)
            } else {
                (0.0, Scale::ChangeFloor)
            };
            Baseline {
                center,
                scale,
                scale_kind,
                q1: None,
                q3: None,
                std,
                points,
            }
        }
    };
    Ok(Some(baseline))
}

/// The post-onset centre, same statistic as the baseline's, for the
/// shared-shift estimate.
pub(crate) fn post_center(method: Method, post: &Float64Chunked) -> Option<f64> {
    match method {
        Method::Baro => post.median(),
        Method::Nsigma => post.mean(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(values: &[Option<f64>]) -> Float64Chunked {
        Float64Chunked::from_iter_options("x".into(), values.iter().copied())
    }

    fn some(values: &[f64]) -> Float64Chunked {
        Float64Chunked::from_slice("x".into(), values)
    }

    #[test]
    fn baro_baseline_matches_numpy_linear_percentiles() {
        // numpy: percentile([1,2,3,4], [25, 50, 75]) = 1.75, 2.5, 3.25
        let b = learn(Method::Baro, &some(&[4.0, 1.0, 3.0, 2.0]))
            .unwrap()
            .unwrap();
        assert_eq!(b.center, 2.5);
        assert_eq!(b.q1, Some(1.75));
        assert_eq!(b.q3, Some(3.25));
        assert_eq!(b.scale, 1.5);
        assert_eq!(b.scale_kind, Scale::Iqr);
        assert_eq!(b.points, 4);
    }

    #[test]
    fn nulls_are_ignored_like_nanpercentile() {
        let b = learn(
            Method::Baro,
            &ca(&[Some(1.0), None, Some(3.0), None, Some(2.0)]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (b.center, b.q1, b.q3, b.points),
            (2.0, Some(1.5), Some(2.5), 3)
        );
    }

    #[test]
    fn nsigma_uses_the_population_standard_deviation() {
        // mean 5, squared deviations 9+1+1+9 = 20, /4 = 5
        let b = learn(Method::Nsigma, &some(&[2.0, 4.0, 6.0, 8.0]))
            .unwrap()
            .unwrap();
        assert_eq!(b.center, 5.0);
        assert!((b.scale - 5f64.sqrt()).abs() < 1e-12);
        assert_eq!(b.scale_kind, Scale::Std);
    }

    #[test]
    fn zero_iqr_falls_back_to_the_largest_excursion_then_to_the_change_floor() {
        // an idle error ratio with two blips: IQR 0, excursion 0.5
        let blip = learn(
            Method::Baro,
            &some(&[0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(blip.scale_kind, Scale::Excursion);
        assert_eq!((blip.center, blip.scale), (0.0, 0.5));
        // n-sigma keeps its standard deviation
        let blip = learn(Method::Nsigma, &some(&[0.0, 0.0, 0.0, 0.5]))
            .unwrap()
            .unwrap();
        assert_eq!(blip.scale_kind, Scale::Std);
        let flat = learn(Method::Baro, &some(&[3.0; 6])).unwrap().unwrap();
        assert_eq!(flat.scale_kind, Scale::ChangeFloor);
        let flat = learn(Method::Nsigma, &some(&[3.0; 6])).unwrap().unwrap();
        assert_eq!(flat.scale_kind, Scale::ChangeFloor);
    }

    #[test]
    fn an_empty_window_has_no_baseline() {
        assert_eq!(learn(Method::Baro, &ca(&[None, None])).unwrap(), None);
        assert_eq!(learn(Method::Nsigma, &ca(&[])).unwrap(), None);
    }
}
