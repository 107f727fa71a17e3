//! How many of the last few values left the usual band (the 20th to 80th
//! percentile of the recent window). One value outside is routine; most of
//! the last sixteen outside is a change of behaviour: a shift, a burst, a
//! new oscillation.

pub(crate) const QUANTILE: f64 = 0.2;
const SPAN: usize = 16;

#[derive(Debug, Clone, Default)]
pub(crate) struct BandExits {
    outside: [bool; SPAN],
    count: usize,
    seen: usize,
}

impl BandExits {
    /// The fraction of the last sixteen values (this one included) outside
    /// `low..=high`.
    pub(crate) fn update(&mut self, value: f64, low: f64, high: f64) -> f64 {
        let out = value < low || value > high;
        let at = self.seen % SPAN;
        self.seen += 1;
        if self.outside[at] {
            self.count -= 1;
        }
        self.outside[at] = out;
        if out {
            self.count += 1;
        }
        self.count as f64 / SPAN as f64
    }

    /// Counts a point that could not be judged (no band yet) as inside.
    pub(crate) fn skip(&mut self) {
        self.update(0.0, f64::NEG_INFINITY, f64::INFINITY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_the_last_sixteen() {
        let mut b = BandExits::default();
        for _ in 0..16 {
            b.update(5.0, 0.0, 1.0);
        }
        assert_eq!(b.update(5.0, 0.0, 1.0), 1.0);
        for _ in 0..8 {
            b.update(0.5, 0.0, 1.0);
        }
        assert_eq!(b.update(0.5, 0.0, 1.0), 7.0 / 16.0);
    }
}
