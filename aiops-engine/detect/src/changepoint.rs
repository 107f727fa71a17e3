//! Two-sided CUSUM (Page 1954) over robust z-scores.
//!
//! Each side sums how far points exceed `drift` sigmas in its direction and
//! resets at zero, so a sum that keeps growing is a sustained shift, however
//! small per point. The point where the current excursion left zero is the
//! classic onset estimate: the change began there, not when the alarm rang.

use crate::config::CusumConfig;
use crate::verdict::Direction;

/// One direction's running excursion.
#[derive(Debug, Clone, Copy, Default)]
struct Side {
    sum: f64,
    /// First point of the current excursion.
    onset_ms: i64,
    /// Values since the onset, for the level of the shift.
    total: f64,
    points: u32,
}

impl Side {
    fn update(&mut self, ts_ms: i64, step: f64, value: f64) {
        let next = self.sum + step;
        if next <= 0.0 {
            *self = Side::default();
            return;
        }
        if self.sum == 0.0 {
            self.onset_ms = ts_ms;
            self.total = 0.0;
            self.points = 0;
        }
        self.sum = next;
        self.total += value;
        self.points = self.points.saturating_add(1);
    }

    fn mean(&self) -> f64 {
        if self.points == 0 {
            f64::NAN
        } else {
            self.total / f64::from(self.points)
        }
    }
}

/// A side whose sum crossed the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Excursion {
    pub(crate) direction: Direction,
    pub(crate) sum: f64,
    pub(crate) onset_ms: i64,
    /// Mean of the values since the onset.
    pub(crate) mean: f64,
    pub(crate) points: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Cusum {
    cfg: CusumConfig,
    up: Side,
    down: Side,
}

impl Cusum {
    pub(crate) fn new(cfg: CusumConfig) -> Self {
        Cusum {
            cfg,
            up: Side::default(),
            down: Side::default(),
        }
    }

    pub(crate) fn limit(&self) -> f64 {
        self.cfg.limit
    }

    /// Adds one point with robust z-score `z`. The z-score is clipped at
    /// the limit so a single wild point can reach but never cross it: one
    /// outlier is the robust detector's business, a change point needs two.
    pub(crate) fn update(&mut self, ts_ms: i64, z: f64, value: f64) {
        let z = z.clamp(-self.cfg.limit, self.cfg.limit);
        self.up.update(ts_ms, z - self.cfg.drift, value);
        self.down.update(ts_ms, -z - self.cfg.drift, value);
    }

    /// Sum of `direction` in units of the limit: >= 1 means a change point.
    pub(crate) fn level(&self, direction: Direction) -> f64 {
        self.side(direction).sum / self.cfg.limit
    }

    /// The side past its limit, the larger one if both are.
    pub(crate) fn excursion(&self) -> Option<Excursion> {
        let pick = if self.up.sum >= self.down.sum {
            Direction::Up
        } else {
            Direction::Down
        };
        let side = self.side(pick);
        (side.sum > self.cfg.limit).then(|| Excursion {
            direction: pick,
            sum: side.sum,
            onset_ms: side.onset_ms,
            mean: side.mean(),
            points: side.points,
        })
    }

    /// Keeps `direction`'s excursion (and its onset) alive but stops it
    /// from growing without bound while it is not worth reporting.
    pub(crate) fn cap(&mut self, direction: Direction) {
        let limit = self.cfg.limit;
        let side = self.side_mut(direction);
        side.sum = side.sum.min(limit);
    }

    pub(crate) fn reset_side(&mut self, direction: Direction) {
        *self.side_mut(direction) = Side::default();
    }

    pub(crate) fn reset(&mut self) {
        self.up = Side::default();
        self.down = Side::default();
    }

    fn side(&self, d: Direction) -> &Side {
        match d {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        }
    }

    fn side_mut(&mut self, d: Direction) -> &mut Side {
        match d {
            Direction::Up => &mut self.up,
            Direction::Down => &mut self.down,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sustained_shift_crosses_and_keeps_its_onset() {
        let mut c = Cusum::new(CusumConfig {
            drift: 1.0,
            limit: 10.0,
        });
        for t in 0..10 {
            c.update(t, 0.3, 0.0);
        }
        assert!(c.excursion().is_none());
        for t in 10..14 {
            c.update(t, 4.0, 5.0);
        }
        let e = c.excursion().expect("3 sigma for 4 points is 12 > 10");
        assert_eq!(e.direction, Direction::Up);
        assert_eq!(e.onset_ms, 10);
        assert_eq!(e.mean, 5.0);
        assert_eq!(e.points, 4);
    }

    #[test]
    fn one_wild_point_cannot_cross_alone() {
        let mut c = Cusum::new(CusumConfig::default());
        c.update(0, -1e9, 0.0);
        assert!(c.excursion().is_none());
        assert!(c.level(Direction::Down) > 0.8);
        c.update(1, 0.0, 0.0);
        assert!(c.excursion().is_none());
    }
}
