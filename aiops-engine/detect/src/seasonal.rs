//! A per-time-of-period baseline: the period is cut into slots, each slot
//! keeps the mean of its learned points for each of the last few periods,
//! and the slot's level is the median of those means. The level at a
//! point interpolates linearly between the two nearest slot centres, so a
//! smooth daily curve doesn't become a staircase of residuals.
//!
//! Points are then judged on their residual (value - level) against the
//! median / MAD of recent residuals, which absorbs a constant offset from
//! the old periods and gives the noise scale.
//!
//! Memory is `slots x (periods + 3)` numbers plus the residual window,
//! whatever the scrape interval.

use crate::config::{MIN_SEASON_PERIODS, SeasonConfig};
use crate::window::RollingWindow;

/// Learned points of one slot in the period in progress.
#[derive(Debug, Clone, Copy)]
struct Accumulator {
    period: i64,
    total: f64,
    points: u32,
}

/// A slot's summaries ring and its cached level.
#[derive(Debug, Clone, Copy)]
struct SlotHistory {
    head: u8,
    len: u8,
    level: f64,
}

/// Where a timestamp falls and what the seasonal level there is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Lookup {
    pub(crate) slot: usize,
    /// Interpolated level, once both neighbouring slots have a summary.
    pub(crate) level: Option<f64>,
    /// Periods behind the level (the smaller of the two slots).
    pub(crate) periods: usize,
}

impl Lookup {
    /// Enough periods seen to trust the level over the plain window.
    pub(crate) fn ready(&self) -> bool {
        self.level.is_some() && self.periods >= MIN_SEASON_PERIODS
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SeasonalProfile {
    period_ms: i64,
    periods: usize,
    acc: Box<[Accumulator]>,
    meta: Box<[SlotHistory]>,
    /// `slots x periods` summaries, slot-major.
    history: Box<[f64]>,
    residuals: RollingWindow,
}

impl SeasonalProfile {
    /// `cfg` must be valid (slots >= 2, periods in 2..=16, period > 0).
    pub(crate) fn new(cfg: &SeasonConfig, residual_window: usize) -> Self {
        let slots = cfg.slots.max(2);
        let periods = cfg.periods.clamp(MIN_SEASON_PERIODS, 16);
        SeasonalProfile {
            period_ms: cfg.period.max(1),
            periods,
            acc: vec![
                Accumulator {
                    period: i64::MIN,
                    total: 0.0,
                    points: 0
                };
                slots
            ]
            .into_boxed_slice(),
            meta: vec![
                SlotHistory {
                    head: 0,
                    len: 0,
                    level: 0.0
                };
                slots
            ]
            .into_boxed_slice(),
            history: vec![0.0; slots * periods].into_boxed_slice(),
            residuals: RollingWindow::new(residual_window),
        }
    }

    pub(crate) fn slots(&self) -> usize {
        self.acc.len()
    }

    pub(crate) fn period_ms(&self) -> i64 {
        self.period_ms
    }

    pub(crate) fn residuals(&self) -> &RollingWindow {
        &self.residuals
    }

    pub(crate) fn residuals_mut(&mut self) -> &mut RollingWindow {
        &mut self.residuals
    }

    /// Closes the slot summaries that `ts_ms` proves complete and returns
    /// the level there. Call once per accepted point, before `learn`.
    pub(crate) fn lookup(&mut self, ts_ms: i64) -> Lookup {
        let slots = self.slots();
        let period = ts_ms.div_euclid(self.period_ms);
        let phase = ts_ms.rem_euclid(self.period_ms);
        // in slot units: 0 <= pos < slots
        let pos = (i128::from(phase) * slots as i128) as f64 / self.period_ms as f64;
        let slot = (pos as usize).min(slots - 1);
        let frac = pos - slot as f64;
        // interpolate between the centres on either side of `pos`
        let (a, b, weight_b) = if frac < 0.5 {
            ((slot + slots - 1) % slots, slot, frac + 0.5)
        } else {
            (slot, (slot + 1) % slots, frac - 0.5)
        };
        self.close(slot, period);
        self.close(a, period);
        self.close(b, period);
        let (ma, mb) = (self.meta[a], self.meta[b]);
        let periods = usize::from(ma.len.min(mb.len));
        let level = (periods > 0)
            .then_some(ma.level * (1.0 - weight_b) + mb.level * weight_b)
            .filter(|l| l.is_finite());
        Lookup {
            slot,
            level,
            periods,
        }
    }

    /// Learns a normal point found at `lookup`.
    pub(crate) fn learn(&mut self, lookup: &Lookup, value: f64) {
        let acc = &mut self.acc[lookup.slot];
        acc.total += value;
        acc.points = acc.points.saturating_add(1);
        if let Some(level) = lookup.level {
            self.residuals.push(value - level);
        }
    }

    /// Moves a slot's accumulator into its history once `period` has
    /// moved past it.
    fn close(&mut self, slot: usize, period: i64) {
        let acc = self.acc[slot];
        if acc.period >= period {
            return;
        }
        self.acc[slot] = Accumulator {
            period,
            total: 0.0,
            points: 0,
        };
        if acc.points == 0 {
            return;
        }
        let mean = acc.total / f64::from(acc.points);
        if !mean.is_finite() {
            return;
        }
        let n = self.periods;
        let meta = &mut self.meta[slot];
        let ring = &mut self.history[slot * n..(slot + 1) * n];
        ring[usize::from(meta.head)] = mean;
        meta.head = ((usize::from(meta.head) + 1) % n) as u8;
        meta.len = (usize::from(meta.len) + 1).min(n) as u8;
        // a median of at most 16 numbers, once per slot per period
        let mut sorted = [0.0f64; 16];
        let filled = usize::from(meta.len);
        sorted[..filled].copy_from_slice(&ring[..filled]);
        let sorted = &mut sorted[..filled];
        sorted.sort_unstable_by(f64::total_cmp);
        meta.level = if filled % 2 == 1 {
            sorted[filled / 2]
        } else {
            sorted[filled / 2 - 1] * 0.5 + sorted[filled / 2] * 0.5
        };
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.acc.len() * size_of::<Accumulator>()
            + self.meta.len() * size_of::<SlotHistory>()
            + self.history.len() * size_of::<f64>()
            + self.residuals.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_is_the_median_of_past_periods_interpolated() {
        let cfg = SeasonConfig {
            period: 4_000,
            slots: 4,
            periods: 3,
        };
        let mut p = SeasonalProfile::new(&cfg, 16);
        // slot k of every period holds 10 * k, one point at each slot centre
        for period in 0..3i64 {
            for k in 0..4i64 {
                let ts = period * 4_000 + k * 1_000 + 500;
                let l = p.lookup(ts);
                assert_eq!(l.slot, k as usize);
                assert_eq!(l.periods, period as usize);
                p.learn(&l, 10.0 * k as f64);
            }
        }
        // at a slot centre the level is that slot's; a quarter past it, a
        // quarter of the way to the next
        let l = p.lookup(3 * 4_000 + 1_500);
        assert_eq!(l.level, Some(10.0));
        assert!(l.ready());
        let l = p.lookup(3 * 4_000 + 1_750);
        assert_eq!(l.level, Some(12.5));
    }
}
