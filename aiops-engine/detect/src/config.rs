//! Per-signal detector policy: what to run, how sensitive, which directions
//! matter and how large a change must be before anyone hears of it.
//!
//! In `rules/` a policy names its signal and overrides only what it must;
//! everything else comes from [`DetectorConfig::default_for`]:
//!
//! ```yaml
//! signal: latency
//! min_rel_effect: 1.0
//! season: { period: 1d, slots: 48 }
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::duration::serde_ms;
use crate::verdict::Direction;

const MIB: f64 = 1024.0 * 1024.0;
const MINUTE_MS: i64 = 60_000;

/// What a series measures; picks the defaults and the units in explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// Requests per second.
    RequestRate,
    /// Failed over all requests, 0..=1.
    ErrorRatio,
    /// A latency quantile in seconds.
    Latency,
    /// CPU in cores.
    Cpu,
    /// Resident memory in bytes.
    Memory,
    OpenFds,
    /// Restarts per interval (an increase, not the raw counter).
    Restarts,
    /// 1 when the target answers, 0 when not.
    Up,
    /// Error ratio of calls to a peer, seen by the caller.
    PeerErrorRatio,
    /// Latency of calls to a peer in seconds, seen by the caller.
    PeerLatency,
    Other,
}

impl SignalKind {
    /// How explanations name the signal.
    pub fn noun(self) -> &'static str {
        match self {
            SignalKind::RequestRate => "request rate",
            SignalKind::ErrorRatio => "error ratio",
            SignalKind::Latency => "latency",
            SignalKind::Cpu => "cpu",
            SignalKind::Memory => "resident memory",
            SignalKind::OpenFds => "open fds",
            SignalKind::Restarts => "restarts",
            SignalKind::Up => "up",
            SignalKind::PeerErrorRatio => "peer error ratio",
            SignalKind::PeerLatency => "peer latency",
            SignalKind::Other => "value",
        }
    }
}

/// Which algorithm judges the points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    /// Robust z-score against the median / MAD of a sliding window: fast on
    /// steps and spikes.
    Robust,
    /// Two-sided CUSUM of robust z-scores: small sustained shifts and ramps,
    /// with an onset estimate.
    Changepoint,
    /// Robust z-score against a per-time-of-period baseline; the plain
    /// window until two periods have been seen.
    Seasonal,
    /// Robust and changepoint together, seasonal too when `season` is set.
    Auto,
}

/// Directions of change that are worth reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Directions {
    Up,
    Down,
    Both,
}

impl Directions {
    pub fn allows(self, d: Direction) -> bool {
        matches!(
            (self, d),
            (Directions::Both, _)
                | (Directions::Up, Direction::Up)
                | (Directions::Down, Direction::Down)
        )
    }
}

/// CUSUM tuning, in robust sigmas.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CusumConfig {
    /// Slack per point: shifts smaller than this many sigmas never add up.
    pub drift: f64,
    /// Decision interval: accumulated sigmas that make a change point.
    pub limit: f64,
}

impl Default for CusumConfig {
    fn default() -> Self {
        // drift 1 / limit 10: a 3-sigma shift is found in 5 points, while
        // on pure noise the false-alarm run length is astronomically long
        // (k=0.5, h=5, the textbook pair, alarms every ~500 points).
        CusumConfig {
            drift: 1.0,
            limit: 10.0,
        }
    }
}

/// The seasonal baseline's shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonConfig {
    /// Length of one season, e.g. `1d` or `7d`.
    #[serde(with = "serde_ms")]
    pub period: i64,
    /// Phase slots per period; each slot keeps one summary per period.
    #[serde(default = "default_slots")]
    pub slots: usize,
    /// Periods of history kept per slot (2..=16).
    #[serde(default = "default_periods")]
    pub periods: usize,
}

fn default_slots() -> usize {
    48
}

fn default_periods() -> usize {
    4
}

impl SeasonConfig {
    /// A daily season of 30-minute slots, four days of memory.
    pub fn daily() -> Self {
        SeasonConfig {
            period: 86_400_000,
            slots: default_slots(),
            periods: default_periods(),
        }
    }
}

/// The smallest number of periods a slot must have seen before its seasonal
/// baseline is trusted.
pub const MIN_SEASON_PERIODS: usize = 2;
pub const MAX_SEASON_PERIODS: usize = 16;
pub const MAX_WINDOW: usize = 4096;
pub const MIN_WINDOW: usize = 8;

/// The policy for one signal. Build with [`DetectorConfig::default_for`] and
/// adjust, or deserialize (the missing fields take the signal's defaults and
/// the result is validated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawDetectorConfig")]
pub struct DetectorConfig {
    pub signal: SignalKind,
    pub kind: DetectorKind,
    /// Points in the sliding baseline window.
    pub window: usize,
    /// Robust sigmas a point must deviate to count.
    pub threshold: f64,
    /// Points learned before anything is judged.
    pub warmup: usize,
    pub directions: Directions,
    /// Smallest |value - baseline| worth reporting, in the signal's unit.
    pub min_abs_effect: f64,
    /// Smallest |value - baseline| / |baseline| worth reporting; 0.8 with
    /// direction down means "dropped by 80% or more".
    pub min_rel_effect: f64,
    /// Added to 1.4826 x MAD so a flat series (an error ratio that is 0 for
    /// an hour) does not make every wiggle infinitely many sigmas.
    pub scale_floor: f64,
    /// Also added: this fraction of |baseline|, for signals whose noise
    /// grows with their level.
    pub scale_floor_rel: f64,
    /// Consecutive deviating points that open an anomaly.
    pub confirm: usize,
    /// Consecutive points back near the baseline that close it.
    pub clear: usize,
    /// After an anomaly has lasted this long (from its onset) its level is
    /// accepted as the new baseline; `0s` never gives up.
    #[serde(with = "serde_ms")]
    pub rebaseline_after: i64,
    pub cusum: CusumConfig,
    /// Required for `kind: seasonal`; with `kind: auto` it adds the
    /// seasonal baseline.
    pub season: Option<SeasonConfig>,
}

impl DetectorConfig {
    /// Defaults that fit what each signal means to an SRE: errors and
    /// latency matter in the up direction with a minimum effect, traffic
    /// only when it collapses, `up` only when it drops.
    pub fn default_for(signal: SignalKind) -> Self {
        let base = DetectorConfig {
            signal,
            kind: DetectorKind::Auto,
            window: 120,
            threshold: 5.0,
            warmup: 30,
            directions: Directions::Up,
            min_abs_effect: 0.0,
            min_rel_effect: 0.0,
            scale_floor: 1e-9,
            scale_floor_rel: 0.01,
            confirm: 2,
            clear: 3,
            rebaseline_after: 30 * MINUTE_MS,
            cusum: CusumConfig::default(),
            season: None,
        };
        match signal {
            // Traffic moves with users; only a collapse says something broke.
            SignalKind::RequestRate => DetectorConfig {
                kind: DetectorKind::Robust,
                directions: Directions::Down,
                min_abs_effect: 0.2,
                min_rel_effect: 0.8,
                scale_floor: 0.01,
                scale_floor_rel: 0.05,
                ..base
            },
            SignalKind::ErrorRatio | SignalKind::PeerErrorRatio => DetectorConfig {
                min_abs_effect: 0.02,
                scale_floor: 0.005,
                scale_floor_rel: 0.0,
                ..base
            },
            // +50 ms: what a person notices on a page, and above the
            // jitter a busy host adds to a fast service (+20-30 ms seen)
            SignalKind::Latency | SignalKind::PeerLatency => DetectorConfig {
                min_abs_effect: 0.050,
                min_rel_effect: 0.5,
                scale_floor: 0.002,
                scale_floor_rel: 0.05,
                ..base
            },
            SignalKind::Cpu => DetectorConfig {
                min_abs_effect: 0.2,
                scale_floor: 0.02,
                scale_floor_rel: 0.05,
                ..base
            },
            SignalKind::Memory => DetectorConfig {
                min_abs_effect: 32.0 * MIB,
                min_rel_effect: 0.2,
                scale_floor: MIB,
                scale_floor_rel: 0.01,
                ..base
            },
            SignalKind::OpenFds => DetectorConfig {
                min_abs_effect: 20.0,
                min_rel_effect: 0.5,
                scale_floor: 1.0,
                scale_floor_rel: 0.02,
                ..base
            },
            // Any restart is news: one point is enough and it clears at once.
            SignalKind::Restarts => DetectorConfig {
                kind: DetectorKind::Robust,
                threshold: 3.0,
                warmup: 10,
                min_abs_effect: 1.0,
                scale_floor: 0.1,
                scale_floor_rel: 0.0,
                confirm: 1,
                clear: 1,
                ..base
            },
            SignalKind::Up => DetectorConfig {
                kind: DetectorKind::Robust,
                threshold: 3.0,
                warmup: 10,
                directions: Directions::Down,
                min_abs_effect: 0.5,
                scale_floor: 0.05,
                scale_floor_rel: 0.0,
                ..base
            },
            SignalKind::Other => DetectorConfig {
                directions: Directions::Both,
                ..base
            },
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: String| Err(ConfigError { field, reason });
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&self.window) {
            return bad(
                "window",
                format!(
                    "must be between {MIN_WINDOW} and {MAX_WINDOW} points, got {}",
                    self.window
                ),
            );
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return bad("threshold", format!("must be > 0, got {}", self.threshold));
        }
        if !(3..=1_000_000).contains(&self.warmup) {
            return bad(
                "warmup",
                format!("must be between 3 and 1000000 points, got {}", self.warmup),
            );
        }
        for (field, v) in [
            ("min_abs_effect", self.min_abs_effect),
            ("min_rel_effect", self.min_rel_effect),
            ("scale_floor_rel", self.scale_floor_rel),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(field, format!("must be a number >= 0, got {v}"));
            }
        }
        if !(self.scale_floor.is_finite() && self.scale_floor > 0.0) {
            return bad(
                "scale_floor",
                format!(
                    "must be > 0 so a flat series has a scale, got {}",
                    self.scale_floor
                ),
            );
        }
        if !(1..=100).contains(&self.confirm) {
            return bad(
                "confirm",
                format!("must be between 1 and 100 points, got {}", self.confirm),
            );
        }
        if !(1..=10_000).contains(&self.clear) {
            return bad(
                "clear",
                format!("must be between 1 and 10000 points, got {}", self.clear),
            );
        }
        if self.rebaseline_after < 0 {
            return bad(
                "rebaseline_after",
                format!("must not be negative, got {}ms", self.rebaseline_after),
            );
        }
        if !(self.cusum.drift.is_finite() && self.cusum.drift >= 0.0) {
            return bad(
                "cusum.drift",
                format!("must be a number >= 0, got {}", self.cusum.drift),
            );
        }
        if !(self.cusum.limit.is_finite() && self.cusum.limit > 0.0) {
            return bad(
                "cusum.limit",
                format!("must be > 0, got {}", self.cusum.limit),
            );
        }
        match &self.season {
            None if self.kind == DetectorKind::Seasonal => {
                return bad(
                    "season",
                    "is required with kind seasonal (e.g. season: { period: 1d })".to_owned(),
                );
            }
            None => {}
            Some(s) => {
                if !(2..=10_000).contains(&s.slots) {
                    return bad(
                        "season.slots",
                        format!("must be between 2 and 10000, got {}", s.slots),
                    );
                }
                if !(MIN_SEASON_PERIODS..=MAX_SEASON_PERIODS).contains(&s.periods) {
                    return bad(
                        "season.periods",
                        format!(
                            "must be between {MIN_SEASON_PERIODS} and {MAX_SEASON_PERIODS}, got {}",
                            s.periods
                        ),
                    );
                }
                // a slot shorter than a second can't hold a scrape
                if s.period < 1_000 * s.slots as i64 {
                    return bad(
                        "season.period",
                        format!(
                            "must give each of the {} slots at least 1s, got {}ms",
                            s.slots, s.period
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}

/// A config field that can't be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: &'static str,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "detector config field `{}` {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// What `rules/` may say: the signal, and overrides of its defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetectorConfig {
    signal: SignalKind,
    kind: Option<DetectorKind>,
    window: Option<usize>,
    threshold: Option<f64>,
    warmup: Option<usize>,
    directions: Option<Directions>,
    min_abs_effect: Option<f64>,
    min_rel_effect: Option<f64>,
    scale_floor: Option<f64>,
    scale_floor_rel: Option<f64>,
    confirm: Option<usize>,
    clear: Option<usize>,
    #[serde(default, deserialize_with = "optional_duration")]
    rebaseline_after: Option<i64>,
    cusum: Option<CusumConfig>,
    season: Option<SeasonConfig>,
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    serde_ms::deserialize(d).map(Some)
}

impl TryFrom<RawDetectorConfig> for DetectorConfig {
    type Error = ConfigError;

    fn try_from(raw: RawDetectorConfig) -> Result<Self, ConfigError> {
        let d = DetectorConfig::default_for(raw.signal);
        let cfg = DetectorConfig {
            signal: raw.signal,
            kind: raw.kind.unwrap_or(d.kind),
            window: raw.window.unwrap_or(d.window),
            threshold: raw.threshold.unwrap_or(d.threshold),
            warmup: raw.warmup.unwrap_or(d.warmup),
            directions: raw.directions.unwrap_or(d.directions),
            min_abs_effect: raw.min_abs_effect.unwrap_or(d.min_abs_effect),
            min_rel_effect: raw.min_rel_effect.unwrap_or(d.min_rel_effect),
            scale_floor: raw.scale_floor.unwrap_or(d.scale_floor),
            scale_floor_rel: raw.scale_floor_rel.unwrap_or(d.scale_floor_rel),
            confirm: raw.confirm.unwrap_or(d.confirm),
            clear: raw.clear.unwrap_or(d.clear),
            rebaseline_after: raw.rebaseline_after.unwrap_or(d.rebaseline_after),
            cusum: raw.cusum.unwrap_or(d.cusum),
            season: raw.season.or(d.season),
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [SignalKind; 11] = [
        SignalKind::RequestRate,
        SignalKind::ErrorRatio,
        SignalKind::Latency,
        SignalKind::Cpu,
        SignalKind::Memory,
        SignalKind::OpenFds,
        SignalKind::Restarts,
        SignalKind::Up,
        SignalKind::PeerErrorRatio,
        SignalKind::PeerLatency,
        SignalKind::Other,
    ];

    #[test]
    fn every_default_is_valid() {
        for kind in ALL {
            DetectorConfig::default_for(kind)
                .validate()
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        }
    }

    #[test]
    fn json_overrides_only_what_it_names_and_round_trips() {
        let cfg: DetectorConfig = serde_json::from_str(
            r#"{"signal":"latency","threshold":6,"rebaseline_after":"1h",
                "season":{"period":"1d","slots":24}}"#,
        )
        .unwrap();
        let mut want = DetectorConfig::default_for(SignalKind::Latency);
        want.threshold = 6.0;
        want.rebaseline_after = 3_600_000;
        want.season = Some(SeasonConfig {
            period: 86_400_000,
            slots: 24,
            periods: 4,
        });
        assert_eq!(cfg, want);
        let text = serde_json::to_string(&cfg).unwrap();
        assert!(text.contains(r#""rebaseline_after":"1h""#), "{text}");
        let back: DetectorConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn bad_values_name_their_field() {
        for (json, field) in [
            (r#"{"signal":"cpu","window":2}"#, "`window`"),
            (r#"{"signal":"cpu","threshold":-1}"#, "`threshold`"),
            (
                r#"{"signal":"cpu","min_rel_effect":-0.5}"#,
                "`min_rel_effect`",
            ),
            (r#"{"signal":"cpu","confirm":0}"#, "`confirm`"),
            (r#"{"signal":"cpu","kind":"seasonal"}"#, "`season`"),
            (
                r#"{"signal":"cpu","season":{"period":"1d","periods":1}}"#,
                "`season.periods`",
            ),
            (
                r#"{"signal":"cpu","cusum":{"drift":1,"limit":0}}"#,
                "`cusum.limit`",
            ),
        ] {
            let err = serde_json::from_str::<DetectorConfig>(json).unwrap_err();
            assert!(err.to_string().contains(field), "{json}: {err}");
        }
        let err =
            serde_json::from_str::<DetectorConfig>(r#"{"signal":"cpu","treshold":4}"#).unwrap_err();
        assert!(err.to_string().contains("treshold"), "{err}");
        let err =
            serde_json::from_str::<DetectorConfig>(r#"{"signal":"cpu","rebaseline_after":"30"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("unit"), "{err}");
    }
}
