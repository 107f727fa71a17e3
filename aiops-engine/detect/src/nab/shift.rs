//! The median of the last nine values: a level change shows in it within
//! five points, while a single spike never moves it.

const SPAN: usize = 9;

#[derive(Debug, Clone, Default)]
pub(crate) struct RecentMedian {
    previous: [f64; SPAN - 1],
    filled: usize,
}

impl RecentMedian {
    /// The median of the eight values before `value` and `value`, once
    /// there are eight before it. Then `value` joins.
    pub(crate) fn update(&mut self, value: f64) -> Option<f64> {
        let median = (self.filled == SPAN - 1).then(|| {
            let mut all = [0.0f64; SPAN];
            all[..SPAN - 1].copy_from_slice(&self.previous);
            all[SPAN - 1] = value;
            all.sort_by(f64::total_cmp);
            all[SPAN / 2]
        });
        self.previous.copy_within(1.., 0);
        self.previous[SPAN - 2] = value;
        self.filled = (self.filled + 1).min(SPAN - 1);
        median
    }

    /// How many standard errors of a nine-point median `median` is from
    /// `center`, for a spread `sigma` of single values.
    pub(crate) fn standard_errors(median: f64, center: f64, sigma: f64) -> f64 {
        // a median's standard error is about 1.25 sigma / sqrt(n)
        (median - center).abs() / sigma * (SPAN as f64).sqrt() / 1.25
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_a_spike_and_follows_a_shift() {
        let mut m = RecentMedian::default();
        for _ in 0..8 {
            assert_eq!(m.update(1.0), None);
        }
        assert_eq!(m.update(100.0), Some(1.0));
        for _ in 0..4 {
            m.update(5.0);
        }
        assert_eq!(m.update(5.0), Some(5.0));
    }
}
