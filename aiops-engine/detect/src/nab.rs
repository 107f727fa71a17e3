//! A streaming anomaly score in [0, 1] per point, built for NAB-style
//! scoring (one threshold over many unrelated series, early detection
//! rewarded, repeated alarms after an event punished).

use crate::window::RollingWindow;

const WINDOW: usize = 400;
const WARMUP: usize = 30;
const LIKELIHOOD_SPAN: f64 = 1000.0;
const SHORT: usize = 3;
const SUPPRESS: usize = 200;

#[derive(Debug, Clone)]
pub struct NabDetector {
    window: RollingWindow,
    seen: usize,
    raw_mean: f64,
    raw_var: f64,
    recent_raw: [f64; SHORT],
    recent_at: usize,
    recent_out: Vec<f64>,
    out_at: usize,
}

impl Default for NabDetector {
    fn default() -> Self {
        NabDetector {
            window: RollingWindow::new(WINDOW),
            seen: 0,
            raw_mean: 0.0,
            raw_var: 0.0,
            recent_raw: [0.0; SHORT],
            recent_at: 0,
            recent_out: vec![0.0; SUPPRESS],
            out_at: 0,
        }
    }
}

impl NabDetector {
    pub fn observe(&mut self, _ts_ms: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let raw = self.raw(value);
        self.window.push(value);
        self.seen += 1;
        let likelihood = self.likelihood(raw);
        self.suppress(likelihood)
    }

    fn raw(&self, value: f64) -> f64 {
        if self.seen < WARMUP {
            return 0.0;
        }
        let (Some(median), Some(mad)) = (
            self.window.median(),
            self.window.median().and_then(|m| self.window.mad(m)),
        ) else {
            return 0.0;
        };
        let (lo, hi) = self.window.range().unwrap_or((median, median));
        let scale = (1.4826 * mad)
            .max(0.02 * (hi - lo))
            .max(1e-9 * median.abs())
            .max(1e-12);
        ((value - median).abs() / scale).min(20.0) / 20.0
    }

    fn likelihood(&mut self, raw: f64) -> f64 {
        self.recent_raw[self.recent_at] = raw;
        self.recent_at = (self.recent_at + 1) % SHORT;
        let short = self.recent_raw.iter().sum::<f64>() / SHORT as f64;
        let std = self.raw_var.sqrt().max(1e-4);
        let z = (short - self.raw_mean) / std;
        let alpha = 1.0 / (self.seen as f64).min(LIKELIHOOD_SPAN);
        let d = raw - self.raw_mean;
        self.raw_mean += alpha * d;
        self.raw_var = (1.0 - alpha) * (self.raw_var + alpha * d * d);
        if self.seen < WARMUP * 2 {
            return 0.0;
        }
        1.0 - 0.5 * erfc(z / std::f64::consts::SQRT_2)
    }

    fn suppress(&mut self, score: f64) -> f64 {
        let recent_max = self.recent_out.iter().copied().fold(0.0, f64::max);
        self.recent_out[self.out_at] = score;
        self.out_at = (self.out_at + 1) % SUPPRESS;
        if score > recent_max { score } else { 0.0 }
    }
}

/// Complementary error function (Numerical Recipes' erfc Chebyshev fit,
/// relative error below 1.2e-7), enough for a score.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}
