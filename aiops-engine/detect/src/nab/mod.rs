//! A streaming anomaly score in [0, 1) for one series, built for the
//! Numenta Anomaly Benchmark's way of judging: one threshold for many
//! unrelated series, the earliest detection in a labelled window rewarded,
//! every detection outside a window charged.
//!
//! Five kinds of evidence are computed for each point from the points
//! before it (constant work, bounded memory, no wall clock):
//!
//! - level: distance from the median of the last 250 points, in robust
//!   spread units;
//! - shift: the same for the median of the last nine points, in standard
//!   errors ([`shift`]);
//! - band: how many of the last sixteen points left the 20-80% band
//!   ([`band`]);
//! - season: distance from what this time of day usually brings ([`daily`]);
//! - novelty: whether the recent sequence of coarse levels is new
//!   ([`novelty`]).
//!
//! Each is clipped, then judged against its own history in this series
//! ([`likelihood`]), so evidence that is routine here counts for little.
//! The strongest judgement goes through [`alarm`], which reports one point
//! per event. The output is `e / (e + 10)` for reported evidence `e`
//! (deviations), so an alarm (4 deviations) scores about 0.286.

mod alarm;
mod band;
mod daily;
mod likelihood;
mod novelty;
mod shift;

use crate::window::RollingWindow;

use alarm::Refractory;
use band::BandExits;
use daily::DailyProfile;
use likelihood::Likelihood;
use novelty::SequenceNovelty;
use shift::RecentMedian;

/// Points in the window the level, band and novelty are judged against,
/// by default.
const WINDOW: usize = 250;
/// Points before the first output.
const WARMUP: usize = 50;
/// Span of the long-run averages (points).
const SPAN: f64 = 3000.0;
/// Evidence beyond this many units is all alike: a spike of 18 spreads
/// and one of 2000 are both "far" (the default).
const CLIP: f64 = 18.0;
/// Maps reported evidence into [0, 1).
const OUTPUT_SCALE: f64 = 10.0;
/// The points the band needs before it means anything.
const BAND_MIN: usize = 20;

/// Index of each kind of evidence in [`NabDetector::judges`].
const LEVEL: usize = 0;
const SEASON: usize = 1;
const NOVELTY: usize = 2;
const BAND: usize = 3;
const SHIFT: usize = 4;
const KINDS: usize = 5;

/// The detector's settings: one set for every series (never per file or
/// per category). `aiops eval nab --cross-validate` chooses them by
/// leave-one-category-out on NAB's dev subset and shows what they score
/// on the category left out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NabSettings {
    /// Points the level, band and novelty are judged against.
    pub window: usize,
    /// Evidence beyond this many units is all alike.
    pub clip: f64,
    /// Points of quiet after an alarm.
    pub quiet: usize,
    /// Per point, how fast the memory of earlier evidence fades.
    pub fade: f64,
}

impl Default for NabSettings {
    fn default() -> Self {
        NabSettings {
            window: WINDOW,
            clip: CLIP,
            quiet: alarm::QUIET,
            fade: alarm::FADE,
        }
    }
}

impl std::fmt::Display for NabSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "window {}, clip {}, quiet {}, fade {}",
            self.window, self.clip, self.quiet, self.fade
        )
    }
}

#[derive(Debug, Clone)]
pub struct NabDetector {
    clip: f64,
    window: RollingWindow,
    seen: usize,
    /// Long-run mean distance from the window's median: the spread floor
    /// for series whose median absolute deviation is zero.
    mean_distance: f64,
    recent: RecentMedian,
    daily: DailyProfile,
    novelty: SequenceNovelty,
    band: BandExits,
    judges: [Likelihood; KINDS],
    alarm: Refractory,
}

impl Default for NabDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl NabDetector {
    pub fn new() -> Self {
        Self::with_settings(NabSettings::default())
    }

    pub fn with_settings(settings: NabSettings) -> Self {
        let mut judges = [(); KINDS].map(|_| Likelihood::new(1));
        // single points of level, season and novelty are noisy: judge the
        // mean of the last three
        for kind in [LEVEL, SEASON, NOVELTY] {
            judges[kind] = Likelihood::new(3);
        }
        NabDetector {
            clip: settings.clip.max(1.0),
            window: RollingWindow::new(settings.window.max(BAND_MIN)),
            seen: 0,
            mean_distance: 0.0,
            recent: RecentMedian::default(),
            daily: DailyProfile::default(),
            novelty: SequenceNovelty::default(),
            band: BandExits::default(),
            judges,
            alarm: Refractory::new(settings.quiet, settings.fade),
        }
    }

    /// The anomaly score of `value` at `ts_ms`, from it and the points
    /// before it; then the point is learned. A non-finite value scores 0
    /// and is not learned.
    pub fn observe(&mut self, ts_ms: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let alpha = 1.0 / ((self.seen + 1) as f64).min(SPAN);
        let mut evidence = [0.0f64; KINDS];

        if self.seen > 0 {
            let median = self.window.median().unwrap_or(value);
            let mad = self.window.mad(median).unwrap_or(0.0);
            let tiny = (1e-9 * median.abs()).max(1e-12);
            let sigma = (1.4826 * mad).max(tiny);
            let distance = (value - median).abs();
            evidence[LEVEL] = distance / sigma.max(self.mean_distance);
            if let Some(recent) = self.recent.update(value) {
                evidence[SHIFT] = RecentMedian::standard_errors(recent, median, sigma);
            }
            self.mean_distance += alpha * (distance - self.mean_distance);
        }
        evidence[SEASON] = self.daily.update(ts_ms, value, alpha);
        if let Some((low, high)) = self.window.range() {
            evidence[NOVELTY] = self.novelty.update(value, low, high);
        }
        if self.window.len() >= BAND_MIN {
            let low = self.window.quantile(band::QUANTILE).unwrap_or(value);
            let high = self.window.quantile(1.0 - band::QUANTILE).unwrap_or(value);
            evidence[BAND] = self.clip * self.band.update(value, low, high);
        } else {
            self.band.skip();
        }
        self.window.push(value);
        self.seen += 1;

        let mut strongest = 0.0f64;
        for (judge, e) in self.judges.iter_mut().zip(evidence) {
            strongest = strongest.max(judge.update(e.min(self.clip) / self.clip, alpha));
        }
        if self.seen < WARMUP {
            return 0.0;
        }
        let reported = self.alarm.update(strongest);
        reported / (reported + OUTPUT_SCALE)
    }

    /// Memory held on the heap by this series' state.
    pub fn heap_bytes(&self) -> usize {
        self.window.heap_bytes() + self.daily.heap_bytes() + self.novelty.heap_bytes()
    }
}

#[cfg(test)]
mod tests;
