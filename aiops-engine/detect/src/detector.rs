//! One series' detector: judges each point against a robust reference
//! (sliding window or seasonal), optionally accumulates evidence of a
//! change point, and turns per-point evidence into anomalies that open after
//! `confirm` points, close after `clear` points and freeze the baseline in
//! between.

use crate::changepoint::{Cusum, Excursion};
use crate::config::{ConfigError, DetectorConfig, DetectorKind, Directions, SignalKind};
use crate::duration::{describe_duration_ms, format_duration_ms};
use crate::recent::{Point, RecentPoints};
use crate::robust::{self, Reference, Source};
use crate::seasonal::{Lookup, SeasonalProfile};
use crate::verdict::{Anomaly, Direction, EndReason, Ended, State, Verdict};
use crate::why;
use crate::window::RollingWindow;

/// A streaming detector for one series. Time is an argument: feed points in
/// timestamp order; older or repeated timestamps and non-finite values are
/// skipped without touching the state.
pub trait Detector: Send {
    fn observe(&mut self, ts_ms: i64, value: f64) -> Verdict;
    fn state(&self) -> State;
    /// Bytes held by this detector, heap included. Fixed at construction.
    fn memory_bytes(&self) -> usize;
}

/// Validates `cfg` and builds its detector behind the trait.
pub fn build(cfg: &DetectorConfig) -> Result<Box<dyn Detector>, ConfigError> {
    Ok(Box::new(SeriesDetector::new(cfg)?))
}

/// Within one robust sigma of the baseline (or under half the minimum
/// effect) a point counts as recovered.
const RECOVERED_SIGMAS: f64 = 1.0;

/// The detector every [`DetectorKind`] is built from; use it directly to
/// avoid the virtual call.
#[derive(Debug, Clone)]
pub struct SeriesDetector {
    signal: SignalKind,
    threshold: f64,
    directions: Directions,
    min_abs_effect: f64,
    min_rel_effect: f64,
    scale_floor: f64,
    scale_floor_rel: f64,
    confirm: u32,
    clear: u32,
    warmup: u64,
    rebaseline_after_ms: i64,
    /// Judge single points by their robust z-score.
    spike: bool,
    window: RollingWindow,
    season: Option<SeasonalProfile>,
    cusum: Option<Cusum>,
    recent: RecentPoints,
    last_ts: Option<i64>,
    /// Points in the baseline since the start or the last re-baseline.
    learned: u64,
    phase: Phase,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Normal(Pending),
    Anomalous(Open),
}

/// Consecutive deviating points not yet confirmed.
#[derive(Debug, Clone, Copy)]
struct Pending {
    streak: u32,
    onset_ms: i64,
    direction: Direction,
}

const NOT_PENDING: Pending = Pending {
    streak: 0,
    onset_ms: 0,
    direction: Direction::Up,
};

#[derive(Debug, Clone, Copy)]
struct Open {
    onset_ms: i64,
    direction: Direction,
    /// The baseline when it opened; frozen with the window.
    baseline: f64,
    recovered: u32,
}

/// What one point shows before the state machine acts on it.
struct Evidence {
    reference: Reference,
    z: f64,
    deviation: f64,
    needed: f64,
    spike: bool,
    change: Option<Excursion>,
    /// Onset of a change point too small to report yet: the baseline holds
    /// still so it doesn't drift along with, say, a slow ramp.
    hold_since: Option<i64>,
}

impl SeriesDetector {
    pub fn new(cfg: &DetectorConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let (spike, cusum, season) = match cfg.kind {
            DetectorKind::Robust => (true, false, false),
            DetectorKind::Changepoint => (false, true, false),
            DetectorKind::Seasonal => (true, false, true),
            DetectorKind::Auto => (true, true, cfg.season.is_some()),
        };
        Ok(SeriesDetector {
            signal: cfg.signal,
            threshold: cfg.threshold,
            directions: cfg.directions,
            min_abs_effect: cfg.min_abs_effect,
            min_rel_effect: cfg.min_rel_effect,
            scale_floor: cfg.scale_floor,
            scale_floor_rel: cfg.scale_floor_rel,
            confirm: cfg.confirm as u32,
            clear: cfg.clear as u32,
            warmup: cfg.warmup as u64,
            rebaseline_after_ms: cfg.rebaseline_after,
            spike,
            window: RollingWindow::new(cfg.window),
            season: cfg
                .season
                .as_ref()
                .filter(|_| season)
                .map(|s| SeasonalProfile::new(s, cfg.window)),
            cusum: cusum.then(|| Cusum::new(cfg.cusum)),
            recent: RecentPoints::new(cfg.window),
            last_ts: None,
            learned: 0,
            phase: Phase::Normal(NOT_PENDING),
        })
    }

    /// The reference for a point, or `None` while warming up.
    fn reference(&self, lookup: Option<&Lookup>) -> Option<Reference> {
        if self.learned < self.warmup {
            return None;
        }
        if let (Some(season), Some(l)) = (&self.season, lookup) {
            let residuals = season.residuals();
            let enough = self.warmup.min(residuals.capacity() as u64) as usize;
            if let (true, Some(level)) = (l.ready() && residuals.len() >= enough, l.level) {
                let source = Source::Seasonal {
                    slot: l.slot,
                    slots: season.slots(),
                    periods: l.periods,
                    period_ms: season.period_ms(),
                };
                if let Some(r) = robust::reference(
                    residuals,
                    level,
                    self.scale_floor,
                    self.scale_floor_rel,
                    source,
                ) {
                    return Some(r);
                }
            }
        }
        robust::reference(
            &self.window,
            0.0,
            self.scale_floor,
            self.scale_floor_rel,
            Source::Window {
                points: self.window.len(),
            },
        )
    }

    /// The smallest |effect| worth reporting against `baseline`.
    fn needed(&self, baseline: f64) -> f64 {
        self.min_abs_effect
            .max(self.min_rel_effect * baseline.abs())
    }

    fn learn(&mut self, lookup: Option<&Lookup>, value: f64) {
        self.window.push(value);
        self.learned = self.learned.saturating_add(1);
        if let (Some(season), Some(l)) = (&mut self.season, lookup) {
            season.learn(l, value);
        }
    }

    fn evidence(&mut self, ts_ms: i64, value: f64, reference: Reference) -> Evidence {
        let deviation = (value - reference.baseline).clamp(-f64::MAX, f64::MAX);
        let z = reference.z(value);
        let needed = self.needed(reference.baseline);
        let direction = Direction::of(deviation);
        let spike = self.spike
            && self.directions.allows(direction)
            && z.abs() >= self.threshold
            && deviation.abs() >= needed;
        let mut change = None;
        let mut hold_since = None;
        if let (Some(cusum), Phase::Normal(_)) = (&mut self.cusum, self.phase) {
            cusum.update(ts_ms, z, value);
            if let Some(e) = cusum.excursion() {
                let s = e.direction.sign();
                let level_effect = s * (e.mean - reference.baseline);
                let point_effect = s * deviation;
                if !self.directions.allows(e.direction) {
                    cusum.reset_side(e.direction);
                } else if point_effect >= needed
                    && point_effect > 0.0
                    && level_effect >= 0.5 * needed
                {
                    // the latest point meets the minimum effect and the
                    // shift since the onset (half of it for a ramp) about so
                    change = Some(e);
                } else {
                    // real but too small to report: keep the onset, stop
                    // the sum from running away
                    cusum.cap(e.direction);
                    hold_since = Some(e.onset_ms);
                }
            }
        }
        Evidence {
            reference,
            z,
            deviation,
            needed,
            spike,
            change,
            hold_since,
        }
    }

    /// 0..=1: 0.5 where a point just meets both the sigma threshold (or the
    /// CUSUM limit) and the minimum effect.
    fn score(&self, e: &Evidence) -> f64 {
        let direction = Direction::of(e.deviation);
        if !self.directions.allows(direction) {
            return 0.0;
        }
        let mut strength: f64 = 0.0;
        if self.spike {
            strength = e.z.abs() / self.threshold;
        }
        if let Some(c) = &self.cusum {
            strength = strength.max(c.level(direction));
        }
        let effect = if e.needed > 0.0 {
            e.deviation.abs() / e.needed
        } else {
            f64::INFINITY
        };
        let s = strength.min(effect);
        if s.is_nan() || s <= 0.0 {
            0.0
        } else if s.is_infinite() {
            1.0
        } else {
            s * s / (1.0 + s * s)
        }
    }

    fn source_text(source: Source) -> String {
        match source {
            Source::Window { points } => format!("median of last {points} points"),
            Source::Seasonal {
                slot,
                slots,
                periods,
                period_ms,
            } => format!(
                "seasonal median for slot {} of {slots} over the last {periods} periods of {}",
                slot + 1,
                format_duration_ms(period_ms)
            ),
        }
    }

    fn open(&self, ts_ms: i64, value: f64, e: &Evidence, pending: Pending) -> Anomaly {
        let r = &e.reference;
        let noun = self.signal.noun();
        let by_change = e.change.filter(|_| !e.spike);
        let detector = match (by_change, r.source) {
            (Some(_), _) => "changepoint",
            (None, Source::Seasonal { .. }) => "seasonal",
            (None, Source::Window { .. }) => "robust",
        };
        let mut why = format!(
            "{noun} {} vs baseline {} ({}), {}{}, {:.1} robust sigmas {}",
            why::value(self.signal, value),
            why::value(self.signal, r.baseline),
            Self::source_text(r.source),
            why::change(self.signal, e.deviation),
            why::relative(e.deviation, r.baseline),
            e.z.abs(),
            pending.direction.word(),
        );
        match by_change {
            Some(c) => why.push_str(&format!(
                ", level shift since {} before (mean {} over {} points), cusum {:.1} over limit {:.1}",
                describe_duration_ms(ts_ms.saturating_sub(c.onset_ms)),
                why::value(self.signal, c.mean),
                c.points,
                c.sum,
                self.cusum.as_ref().map_or(0.0, Cusum::limit),
            )),
            None => why.push_str(&format!(", {} consecutive points", pending.streak)),
        }
        Anomaly {
            detected_ms: ts_ms,
            onset_ms: pending.onset_ms.min(ts_ms),
            value,
            baseline: r.baseline,
            deviation: e.z,
            effect: e.deviation,
            direction: pending.direction,
            detector,
            why,
        }
    }

    /// Rebuilds the baseline from the points since `from_ms` (those of the
    /// shift); returns how many it kept.
    fn rebaseline(&mut self, from_ms: i64) -> usize {
        self.window.clear();
        let mut kept = 0;
        for p in self.recent.since(from_ms) {
            self.window.push(p.value);
            kept += 1;
        }
        if let Some(season) = &mut self.season {
            let residuals = season.residuals_mut();
            residuals.clear();
            for p in self.recent.since(from_ms) {
                residuals.push(p.residual);
            }
        }
        if let Some(c) = &mut self.cusum {
            c.reset();
        }
        self.learned = kept as u64;
        kept
    }

    fn rebaseline_why(&self, open: &Open, duration_ms: i64, kept: usize) -> String {
        let noun = self.signal.noun();
        let new_level = self.window.median().unwrap_or(open.baseline);
        let mut why = format!(
            "accepted {noun} {} as the new baseline after {} of persistent shift (was {}), relearned from the last {kept} points",
            why::value(self.signal, new_level),
            describe_duration_ms(duration_ms),
            why::value(self.signal, open.baseline),
        );
        let kept = kept as u64;
        if kept < self.warmup {
            why.push_str(&format!(
                ", judging again after {} more points",
                self.warmup - kept
            ));
        }
        why
    }
}

impl Detector for SeriesDetector {
    fn observe(&mut self, ts_ms: i64, value: f64) -> Verdict {
        if !value.is_finite() || self.last_ts.is_some_and(|last| ts_ms <= last) {
            return Verdict::quiet(self.state());
        }
        self.last_ts = Some(ts_ms);
        let lookup = self.season.as_mut().map(|s| s.lookup(ts_ms));
        self.recent.push(Point {
            ts_ms,
            value,
            residual: lookup
                .and_then(|l| l.level)
                .map_or(f64::NAN, |level| value - level),
        });
        let Some(reference) = self.reference(lookup.as_ref()) else {
            self.learn(lookup.as_ref(), value);
            return Verdict::quiet(self.state());
        };
        let e = self.evidence(ts_ms, value, reference);
        let score = self.score(&e);
        let mut verdict = Verdict::quiet(State::Normal);
        verdict.score = score;

        match self.phase {
            Phase::Normal(mut pending) => {
                let candidate = if e.spike {
                    Some((Direction::of(e.deviation), ts_ms))
                } else {
                    e.change.map(|c| (c.direction, c.onset_ms.min(ts_ms)))
                };
                let Some((direction, onset_hint)) = candidate else {
                    self.phase = Phase::Normal(NOT_PENDING);
                    match e.hold_since {
                        None => self.learn(lookup.as_ref(), value),
                        // a small shift that has lasted is the new normal
                        Some(onset)
                            if self.rebaseline_after_ms > 0
                                && ts_ms.saturating_sub(onset) >= self.rebaseline_after_ms =>
                        {
                            self.rebaseline(onset);
                        }
                        Some(_) => {}
                    }
                    return verdict;
                };
                // a CUSUM excursion in the same direction knows better
                // when the shift began than the streak does
                let onset_hint = match e.change {
                    Some(c) if c.direction == direction => onset_hint.min(c.onset_ms),
                    _ => onset_hint,
                };
                if pending.streak > 0 && pending.direction == direction {
                    pending.streak = pending.streak.saturating_add(1);
                    pending.onset_ms = pending.onset_ms.min(onset_hint);
                } else {
                    pending = Pending {
                        streak: 1,
                        onset_ms: onset_hint,
                        direction,
                    };
                }
                if pending.streak < self.confirm {
                    // not learned: if it is the start of a shift, the
                    // baseline must not have moved toward it
                    self.phase = Phase::Normal(pending);
                    return verdict;
                }
                let anomaly = self.open(ts_ms, value, &e, pending);
                self.phase = Phase::Anomalous(Open {
                    onset_ms: anomaly.onset_ms,
                    direction,
                    baseline: anomaly.baseline,
                    recovered: 0,
                });
                if let Some(c) = &mut self.cusum {
                    c.reset();
                }
                verdict.state = State::Anomalous;
                verdict.started = Some(anomaly);
                verdict
            }
            Phase::Anomalous(mut open) => {
                let s = open.direction.sign();
                let still = s * e.z >= RECOVERED_SIGMAS
                    && s * e.deviation >= 0.5 * e.needed
                    && s * e.deviation > 0.0;
                open.recovered = if still {
                    0
                } else {
                    open.recovered.saturating_add(1)
                };
                let lasted = ts_ms.saturating_sub(open.onset_ms);
                if open.recovered >= self.clear {
                    self.phase = Phase::Normal(NOT_PENDING);
                    if let Some(c) = &mut self.cusum {
                        c.reset();
                    }
                    verdict.ended = Some(Ended {
                        ended_ms: ts_ms,
                        reason: EndReason::Recovered,
                        why: format!(
                            "{} {} back near baseline {} for {} points, after {}",
                            self.signal.noun(),
                            why::value(self.signal, value),
                            why::value(self.signal, e.reference.baseline),
                            open.recovered,
                            describe_duration_ms(lasted),
                        ),
                    });
                    self.learn(lookup.as_ref(), value);
                    return verdict;
                }
                if self.rebaseline_after_ms > 0 && lasted >= self.rebaseline_after_ms {
                    let kept = self.rebaseline(open.onset_ms);
                    self.phase = Phase::Normal(NOT_PENDING);
                    verdict.ended = Some(Ended {
                        ended_ms: ts_ms,
                        reason: EndReason::Rebaselined,
                        why: self.rebaseline_why(&open, lasted, kept),
                    });
                    return verdict;
                }
                self.phase = Phase::Anomalous(open);
                verdict.state = State::Anomalous;
                verdict
            }
        }
    }

    fn state(&self) -> State {
        match self.phase {
            Phase::Normal(_) => State::Normal,
            Phase::Anomalous(_) => State::Anomalous,
        }
    }

    fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + self.window.heap_bytes()
            + self.recent.heap_bytes()
            + self.season.as_ref().map_or(0, SeasonalProfile::heap_bytes)
    }
}
