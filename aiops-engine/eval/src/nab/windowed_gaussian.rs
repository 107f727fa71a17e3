//! NAB's windowed Gaussian reference detector
//! (`nab/detectors/gaussian/windowedGaussian_detector.py`), ported exactly:
//! a point's score is one minus the two-sided Gaussian tail probability of
//! its value under the mean and standard deviation of the window before
//! it. The window grows to 6400 points, then slides 100 points at a time.
//! Mean and deviation use numpy's pairwise summation, so the scores match
//! NAB's to the last bits and ties fall where NAB's do.

const WINDOW: usize = 6400;
const STEP: usize = 100;

#[derive(Debug, Clone)]
pub struct WindowedGaussian {
    window: Vec<f64>,
    step_buffer: Vec<f64>,
    mean: f64,
    std: f64,
    scratch: Vec<f64>,
}

impl Default for WindowedGaussian {
    fn default() -> Self {
        WindowedGaussian {
            window: Vec::with_capacity(WINDOW),
            step_buffer: Vec::with_capacity(STEP),
            mean: 0.0,
            std: 1.0,
            scratch: Vec::with_capacity(WINDOW),
        }
    }
}

impl WindowedGaussian {
    /// The anomaly score of `value`, then `value` joins the window.
    pub fn observe(&mut self, value: f64) -> f64 {
        let score = if self.window.is_empty() {
            0.0
        } else {
            1.0 - normal_tail(value, self.mean, self.std)
        };
        if self.window.len() < WINDOW {
            self.window.push(value);
            self.update();
        } else {
            self.step_buffer.push(value);
            if self.step_buffer.len() == STEP {
                self.window.drain(..STEP);
                self.window.append(&mut self.step_buffer);
                self.update();
            }
        }
        score
    }

    fn update(&mut self) {
        let n = self.window.len() as f64;
        self.mean = pairwise_sum(&self.window) / n;
        self.scratch.clear();
        self.scratch.extend(
            self.window
                .iter()
                .map(|x| (x - self.mean) * (x - self.mean)),
        );
        self.std = (pairwise_sum(&self.scratch) / n).sqrt();
        if self.std == 0.0 {
            self.std = 0.000001;
        }
    }
}

/// The probability of a sample further from the mean than `x` on its side
/// (the Q function), as NAB's `normalProbability`.
fn normal_tail(x: f64, mean: f64, std: f64) -> f64 {
    let x = if x < mean { 2.0 * mean - x } else { x };
    let z = (x - mean) / std;
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// numpy's pairwise summation (`pairwise_sum` in its loops), so sums round
/// as numpy's `mean` and `std` do.
fn pairwise_sum(values: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = values.len();
    if n < 8 {
        // numpy starts from -0.0 so that a sum of -0.0 stays -0.0
        return values.iter().fold(-0.0, |acc, v| acc + v);
    }
    if n <= BLOCK {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&values[..8]);
        let mut i = 8;
        while i + 8 <= n {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += values[i + j];
            }
            i += 8;
        }
        let mut sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for v in &values[i..] {
            sum += v;
        }
        return sum;
    }
    let mut half = n / 2;
    half -= half % 8;
    pairwise_sum(&values[..half]) + pairwise_sum(&values[half..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_point_scores_zero_then_tail_probability() {
        let mut d = WindowedGaussian::default();
        assert_eq!(d.observe(1.0), 0.0);
        // one value: std 0, floored to 1e-6; the mean itself has tail
        // probability one half
        assert_eq!(d.observe(1.0), 0.5);
        d.observe(3.0);
        // window [1, 1, 3]: mean 5/3, population std sqrt(8/9)
        let mean = 5.0 / 3.0;
        let std = (8.0f64 / 9.0).sqrt();
        let z = (4.0 - mean) / std;
        let expected = 1.0 - 0.5 * libm::erfc(z / std::f64::consts::SQRT_2);
        assert!((d.observe(4.0) - expected).abs() < 1e-12);
        // below the mean is scored like the mirror value above it
        let mut a = WindowedGaussian::default();
        let mut b = WindowedGaussian::default();
        for v in [0.0, 2.0] {
            a.observe(v);
            b.observe(v);
        }
        assert!((a.observe(-1.5) - b.observe(3.5)).abs() < 1e-12);
    }

    #[test]
    fn pairwise_sum_agrees_with_plain_sum_on_exact_values() {
        let values: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        assert_eq!(pairwise_sum(&values), 499_500.0);
        assert_eq!(pairwise_sum(&values[..5]), 10.0);
        assert_eq!(pairwise_sum(&values[..100]), 4950.0);
    }

    #[test]
    fn window_slides_by_steps_once_full() {
        let mut d = WindowedGaussian::default();
        for i in 0..WINDOW {
            d.observe(i as f64);
        }
        let mean_full = d.mean;
        for _ in 0..STEP - 1 {
            d.observe(0.0);
        }
        // not slid yet
        assert_eq!(d.mean, mean_full);
        d.observe(0.0);
        assert_eq!(d.window.len(), WINDOW);
        assert!(d.mean < mean_full);
    }
}
