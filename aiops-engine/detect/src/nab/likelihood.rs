//! How unusual one kind of evidence is for this series right now, in the
//! spirit of HTM's anomaly likelihood: the mean of the last few raw values
//! against the long-run mean and deviation of that evidence, so a series
//! whose evidence is always high (noise, routine spikes) needs more to
//! stand out than a calm one.

/// Longest short-term average; the detector uses 1 or 3.
const MAX_SHORT: usize = 4;
/// Below this deviation the evidence is treated as constant: a first
/// departure from a constant is then large but finite.
const MIN_DEVIATION: f64 = 1e-4;

#[derive(Debug, Clone)]
pub(crate) struct Likelihood {
    short: usize,
    recent: [f64; MAX_SHORT],
    seen: usize,
    mean: f64,
    var: f64,
}

impl Likelihood {
    /// `short` is clamped to 1..=4.
    pub(crate) fn new(short: usize) -> Self {
        Likelihood {
            short: short.clamp(1, MAX_SHORT),
            recent: [0.0; MAX_SHORT],
            seen: 0,
            mean: 0.0,
            var: 0.0,
        }
    }

    /// Deviations of the short-term mean above the long-run mean, then
    /// `raw` joins the long run with weight `alpha`.
    pub(crate) fn update(&mut self, raw: f64, alpha: f64) -> f64 {
        self.recent[self.seen % self.short] = raw;
        self.seen += 1;
        let n = self.seen.min(self.short);
        let recent = self.recent[..n].iter().sum::<f64>() / n as f64;
        let deviations = (recent - self.mean) / self.var.sqrt().max(MIN_DEVIATION);
        let d = raw - self.mean;
        self.mean += alpha * d;
        self.var = (1.0 - alpha) * (self.var + alpha * d * d);
        deviations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rare_evidence_stands_out_and_routine_evidence_does_not() {
        let mut calm = Likelihood::new(1);
        let mut noisy = Likelihood::new(1);
        for i in 0..500 {
            calm.update(0.0, 1.0 / (i + 1) as f64);
            noisy.update(if i % 2 == 0 { 1.0 } else { 0.0 }, 1.0 / (i + 1) as f64);
        }
        let alpha = 1.0 / 501.0;
        assert!(calm.update(1.0, alpha) > 100.0);
        assert!(noisy.update(1.0, alpha) < 1.5);
    }

    #[test]
    fn short_average_smooths_single_points() {
        let mut one = Likelihood::new(1);
        let mut three = Likelihood::new(3);
        for i in 0..200 {
            let raw = if i % 10 == 0 { 0.5 } else { 0.0 };
            one.update(raw, 1.0 / (i + 1) as f64);
            three.update(raw, 1.0 / (i + 1) as f64);
        }
        let alpha = 1.0 / 201.0;
        assert!(one.update(0.5, alpha) > three.update(0.5, alpha));
    }
}
