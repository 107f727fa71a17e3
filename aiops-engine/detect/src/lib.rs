//! Streaming metric anomaly detectors. Pure and deterministic: time is an
//! argument, never the wall clock, and there is no randomness, so a
//! recording replays to the same verdicts.
//!
//! Each series gets a [`SeriesDetector`] (or a `Box<dyn Detector>` from
//! [`build`]) made from a per-signal [`DetectorConfig`]. A point is judged
//! with the past only, in constant work and bounded memory:
//!
//! - `window`: sliding median / MAD in a fixed-size window.
//! - `robust`: the reference a point is judged against, with a scale floor.
//! - `changepoint`: two-sided CUSUM with an onset estimate.
//! - `seasonal`: a per-time-of-period baseline.
//! - [`detector`]: confirm / clear / freeze / re-baseline around them.
//! - [`config`]: the policy per signal, its defaults and validation.
//! - [`nab`]: a score in [0, 1) per point, for benchmarks scored the way
//!   the Numenta Anomaly Benchmark scores (`aiops eval nab`).

pub mod config;
pub mod detector;
pub mod duration;
pub mod nab;
pub mod verdict;

mod changepoint;
mod recent;
mod robust;
mod seasonal;
mod why;
mod window;

pub use config::{
    ConfigError, CusumConfig, DetectorConfig, DetectorKind, Directions, SeasonConfig, SignalKind,
};
pub use detector::{Detector, SeriesDetector, build};
pub use verdict::{Anomaly, Direction, EndReason, Ended, State, Verdict};

#[cfg(test)]
mod tests;
