//! RCAEval's own pieces of scoring, used where a [`crate::Departure`]
//! is switched off: sklearn's scalers (a scale under 10 machine
//! epsilons becomes 1, the column's own units) and pandas'
//! `drop_constant` of columns constant within a window.

use polars::prelude::*;

use crate::Method;
use crate::baseline::{Baseline, Scale};

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

/// The baseline as sklearn's scaler would divide by: the IQR (BARO) or
/// standard deviation (n-sigma), or 1 where that is under 10 machine
/// epsilons, in place of this crate's excursion and change floor.
pub(crate) fn sklearn_baseline(method: Method, mut baseline: Baseline) -> Baseline {
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
    baseline
}
