//! A fixed-size sliding window that answers median and MAD in bounded time.
//!
//! The window keeps its values twice: in arrival order (a ring, to know which
//! value leaves) and sorted (so the median is an index away). One push moves
//! at most `capacity` values with a single `copy_within`, which for the
//! windows we use (tens to a few hundred points) is cheaper than any tree.
//! Only finite values are ever stored, so `total_cmp` orders them like `<`.

use std::cmp::Ordering;

#[derive(Debug, Clone)]
pub(crate) struct RollingWindow {
    ring: Box<[f64]>,
    /// Next slot of `ring` to write.
    head: usize,
    sorted: Vec<f64>,
}

impl RollingWindow {
    /// `capacity` is at least 1 (config validation guarantees more).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        RollingWindow {
            ring: vec![0.0; capacity].into_boxed_slice(),
            head: 0,
            sorted: Vec::with_capacity(capacity),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.ring.len()
    }

    pub(crate) fn clear(&mut self) {
        self.sorted.clear();
        self.head = 0;
    }

    /// Adds a value, evicting the oldest once full. Non-finite values are
    /// refused: they would poison every order statistic after them.
    pub(crate) fn push(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        let cap = self.ring.len();
        if self.sorted.len() < cap {
            let at = self.sorted.partition_point(|v| less(*v, value));
            self.sorted.insert(at, value);
        } else {
            let old = self.ring[self.head];
            let from = self.sorted.partition_point(|v| less(*v, old));
            let to = self.sorted.partition_point(|v| less(*v, value));
            // Remove `old` and insert `value` in one shift of the values
            // between the two positions.
            if to > from {
                self.sorted.copy_within(from + 1..to, from);
                self.sorted[to - 1] = value;
            } else {
                self.sorted.copy_within(to..from, to + 1);
                self.sorted[to] = value;
            }
        }
        self.ring[self.head] = value;
        // a compare, not a division: this runs for every sample
        self.head += 1;
        if self.head == cap {
            self.head = 0;
        }
    }

    /// Median of the window; `None` when empty.
    pub(crate) fn median(&self) -> Option<f64> {
        let s = &self.sorted;
        let n = s.len();
        if n == 0 {
            return None;
        }
        Some(if n % 2 == 1 {
            s[n / 2]
        } else {
            // halves first: the sum of two huge values would overflow
            s[n / 2 - 1] * 0.5 + s[n / 2] * 0.5
        })
    }

    /// Median absolute deviation around `center` (normally the median).
    ///
    /// The distances to `center` form two sorted runs, one walking left
    /// from the center and one walking right, so their k-th smallest is a
    /// binary search over how many to take from each run: O(log n), no
    /// allocation.
    pub(crate) fn mad(&self, center: f64) -> Option<f64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let split = self.sorted.partition_point(|v| *v < center);
        Some(if n % 2 == 1 {
            self.kth_distance(center, split, n / 2)
        } else {
            self.kth_distance(center, split, n / 2 - 1) * 0.5
                + self.kth_distance(center, split, n / 2) * 0.5
        })
    }

    /// The k-th smallest (0-based) |v - center| over the window, where
    /// `split` is the first index with a value >= center. Requires k < len.
    fn kth_distance(&self, center: f64, split: usize, k: usize) -> f64 {
        let s = &self.sorted;
        let left_len = split;
        let right_len = s.len() - split;
        let left = |i: usize| center - s[split - 1 - i];
        let right = |j: usize| s[split + j] - center;
        let take = k + 1;
        // `lo..=hi`: how many of the `take` smallest come from the left run
        let (mut lo, mut hi) = (take.saturating_sub(right_len), take.min(left_len));
        while lo < hi {
            let i = lo + (hi - lo) / 2;
            let j = take - i;
            // the left run's next is smaller than the right's last taken:
            // take more from the left
            if j > 0 && left(i) < right(j - 1) {
                lo = i + 1;
            } else {
                hi = i;
            }
        }
        let j = take - lo;
        let from_left = if lo > 0 {
            left(lo - 1)
        } else {
            f64::NEG_INFINITY
        };
        let from_right = if j > 0 {
            right(j - 1)
        } else {
            f64::NEG_INFINITY
        };
        from_left.max(from_right)
    }

    /// The value at fraction `q` of the sorted window (nearest rank);
    /// `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let at = ((q.clamp(0.0, 1.0) * (n - 1) as f64).round() as usize).min(n - 1);
        Some(self.sorted[at])
    }

    /// Smallest and largest value; `None` when empty.
    pub(crate) fn range(&self) -> Option<(f64, f64)> {
        Some((*self.sorted.first()?, *self.sorted.last()?))
    }

    /// Values in arrival order, oldest first.
    #[cfg(test)]
    pub(crate) fn iter_oldest_first(&self) -> impl Iterator<Item = f64> + '_ {
        let n = self.sorted.len();
        let cap = self.ring.len();
        let start = (self.head + cap - n) % cap;
        (0..n).map(move |i| self.ring[(start + i) % cap])
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        (self.ring.len() + self.sorted.capacity()) * size_of::<f64>()
    }
}

fn less(a: f64, b: f64) -> bool {
    a.total_cmp(&b) == Ordering::Less
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(values: &[f64]) -> (f64, f64) {
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            let n = v.len();
            if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            }
        };
        let mut v = values.to_vec();
        let m = med(&mut v);
        let mut d: Vec<f64> = values.iter().map(|x| (x - m).abs()).collect();
        (m, med(&mut d))
    }

    #[test]
    fn median_and_mad_match_a_naive_computation_while_sliding() {
        for cap in [1, 2, 7, 8, 33] {
            let mut w = RollingWindow::new(cap);
            let mut all = Vec::new();
            let mut state = 12345u64;
            for i in 0..500 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // few distinct values so ties are exercised
                let x = ((state >> 33) % 9) as f64 - (i % 3) as f64 * 0.5;
                w.push(x);
                all.push(x);
                let tail = &all[all.len().saturating_sub(cap)..];
                let (m, mad) = naive(tail);
                assert_eq!(w.median(), Some(m), "median at {i}");
                assert_eq!(w.mad(m), Some(mad), "mad at {i}");
                // around any center, not only the median
                let c = m + 0.75;
                let d: Vec<f64> = tail.iter().map(|x| (x - c).abs()).collect();
                assert_eq!(w.mad(c), Some(naive(&d).0), "mad around {c} at {i}");
                assert!(w.iter_oldest_first().eq(tail.iter().copied()));
            }
        }
    }

    #[test]
    fn even_sized_windows_average_the_middle_pair() {
        let mut w = RollingWindow::new(4);
        for x in [1.0, 2.0, 10.0, 4.0] {
            w.push(x);
        }
        assert_eq!(w.median(), Some(3.0));
        // distances 2, 1, 7, 1 -> sorted 1, 1, 2, 7 -> 1.5
        assert_eq!(w.mad(3.0), Some(1.5));
    }

    #[test]
    fn non_finite_values_are_refused_and_clear_empties() {
        let mut w = RollingWindow::new(3);
        w.push(f64::NAN);
        w.push(f64::INFINITY);
        assert_eq!(w.len(), 0);
        assert_eq!(w.median(), None);
        w.push(1.0);
        assert_eq!(w.median(), Some(1.0));
        assert_eq!(w.mad(1.0), Some(0.0));
        w.clear();
        assert_eq!(w.len(), 0);
    }
}
