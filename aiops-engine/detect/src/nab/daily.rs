//! The series' usual value at each time of day: one slot per sampling
//! step, learned across days, with an envelope of the recent highs and
//! lows. A value is judged against the nearest match in the slots around
//! its time, so a daily event that comes a little early or late is still
//! expected.

const DAY_MS: i64 = 86_400_000;
/// Slot width bounds: finer than a minute adds memory without use, and a
/// series sampled less often than hourly has too few points per day.
const MIN_STEP_MS: i64 = 60_000;
const MAX_STEP_MS: i64 = DAY_MS / 24;
/// How far either side of its own time a value may match.
const TOLERANCE_MS: f64 = 25.0 * 60_000.0;
/// Weight of today's value in a slot's usual value.
const LEARN: f64 = 0.3;
/// How fast a slot's envelope shrinks back towards its usual value.
const ENVELOPE_DECAY: f64 = 0.1;
/// Being outside the envelope counts half as much as being away from the
/// usual value: the envelope already stretches to every recent extreme.
const ENVELOPE_WEIGHT: f64 = 0.5;
/// Seasonal residuals to collect before the first judgement.
const WARMUP: usize = 50;

#[derive(Debug, Clone, Copy)]
struct Slot {
    usual: f64,
    high: f64,
    low: f64,
    seen: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DailyProfile {
    first_ts: Option<i64>,
    step_ms: i64,
    tolerance: isize,
    slots: Vec<Slot>,
    residuals: usize,
    mean_residual: f64,
}

impl DailyProfile {
    /// How far `value` is from what this time of day usually brings, in
    /// units of the usual seasonal residual; 0 until a day has been seen.
    /// Then `value` is learned.
    pub(crate) fn update(&mut self, ts_ms: i64, value: f64, alpha: f64) -> f64 {
        let Some(at) = self.slot(ts_ms) else {
            return 0.0;
        };
        let slot = self.slots[at];
        if !slot.seen {
            self.slots[at] = Slot {
                usual: value,
                high: value,
                low: value,
                seen: true,
            };
            return 0.0;
        }
        let residual = value - slot.usual;
        self.residuals += 1;
        let mut surprise = 0.0;
        if self.residuals > WARMUP {
            let unit = self.mean_residual.max(1e-9 * slot.usual.abs()).max(1e-12);
            surprise = self.nearest(at, value) / unit;
        }
        self.mean_residual += alpha * (residual.abs() - self.mean_residual);
        let usual = slot.usual + LEARN * residual;
        self.slots[at] = Slot {
            usual,
            high: value.max(slot.high - ENVELOPE_DECAY * (slot.high - usual)),
            low: value.min(slot.low + ENVELOPE_DECAY * (usual - slot.low)),
            seen: true,
        };
        surprise
    }

    /// The smallest distance from `value` to a learned slot within the
    /// tolerance: to its usual value, or (half-weighted) to its envelope.
    /// Neighbours learned earlier today count too, so a seasonal anomaly
    /// stands out at its start (where it is reported) and then explains
    /// itself instead of alarming all along.
    fn nearest(&self, at: usize, value: f64) -> f64 {
        let n = self.slots.len() as isize;
        let mut best = f64::INFINITY;
        for d in -self.tolerance..=self.tolerance {
            let slot = self.slots[(at as isize + d).rem_euclid(n) as usize];
            if !slot.seen {
                continue;
            }
            let outside = (value - slot.high).max(slot.low - value).max(0.0);
            best = best
                .min((value - slot.usual).abs())
                .min(ENVELOPE_WEIGHT * outside);
        }
        best
    }

    /// The slot of `ts_ms`; the slot width is the series' first sampling
    /// step, so the profile needs the first two points to start.
    fn slot(&mut self, ts_ms: i64) -> Option<usize> {
        let first = *self.first_ts.get_or_insert(ts_ms);
        if self.slots.is_empty() {
            if ts_ms == first {
                return None;
            }
            self.step_ms = (ts_ms - first).clamp(MIN_STEP_MS, MAX_STEP_MS);
            self.tolerance = (TOLERANCE_MS / self.step_ms as f64).round().max(1.0) as isize;
            let empty = Slot {
                usual: 0.0,
                high: 0.0,
                low: 0.0,
                seen: false,
            };
            self.slots = vec![empty; (DAY_MS / self.step_ms) as usize + 1];
        }
        Some((ts_ms.rem_euclid(DAY_MS) / self.step_ms) as usize)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<Slot>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: i64 = 300_000;

    /// A square wave: high from 08:00 to 20:00, low otherwise.
    fn daily(i: i64) -> f64 {
        let minute = (i * STEP / 60_000) % 1440;
        if (480..1200).contains(&minute) {
            80.0
        } else {
            20.0
        }
    }

    #[test]
    fn a_repeating_day_is_expected_and_a_drop_in_the_plateau_is_not() {
        let mut p = DailyProfile::default();
        let per_day = DAY_MS / STEP;
        let mut worst_routine = 0.0f64;
        for i in 0..per_day * 5 {
            let noise = if i % 7 == 0 { 1.0 } else { 0.0 };
            let s = p.update(i * STEP, daily(i) + noise, 1.0 / (i + 1) as f64);
            if i > per_day * 2 {
                worst_routine = worst_routine.max(s);
            }
        }
        // on day 6 at 14:00 the plateau drops to 40, a level no slot near
        // that time has shown
        let onset = per_day * 5 + 14 * 12;
        let mut missing = 0.0;
        for i in per_day * 5..=onset {
            let v = if i >= onset { 40.0 } else { daily(i) };
            missing = p.update(i * STEP, v, 1.0 / (i + 1) as f64);
        }
        assert!(worst_routine < 5.0, "routine {worst_routine}");
        assert!(missing > 10.0 * worst_routine.max(1.0), "missing {missing}");
    }

    #[test]
    fn the_first_day_judges_nothing() {
        let mut p = DailyProfile::default();
        for i in 0..DAY_MS / STEP {
            assert_eq!(p.update(i * STEP, i as f64, 0.01), 0.0);
        }
    }
}
