//! One detector per derived value (per service, metric and peer), turning
//! verdicts into signals when an anomaly starts and when it ends.

use std::collections::HashMap;

use aiops_detect::{DetectorConfig, SeriesDetector, SignalKind as DetectKind};

use crate::derive::{Derived, DerivedValue};
use crate::signal::{Direction, Signal, SignalKind, Weight};

/// Detector settings per signal kind; `rules/detectors.yaml` overrides them.
#[derive(Debug, Clone)]
pub struct DetectorPolicy {
    configs: HashMap<DetectKind, DetectorConfig>,
}

/// Points learned before judging: a minute at a 5 s interval. The detector
/// crate's own default (30) is made for unknown data; the derived service
/// signals are smooth enough to start sooner, which matters after a restart.
pub const DEFAULT_WARMUP_POINTS: usize = 12;

impl Default for DetectorPolicy {
    fn default() -> Self {
        let kinds = [
            DetectKind::RequestRate,
            DetectKind::ErrorRatio,
            DetectKind::Latency,
            DetectKind::Cpu,
            DetectKind::Memory,
            DetectKind::OpenFds,
            DetectKind::PeerErrorRatio,
            DetectKind::PeerLatency,
            DetectKind::Up,
        ];
        let configs = kinds
            .into_iter()
            .map(|kind| {
                let mut config = DetectorConfig::default_for(kind);
                config.warmup = config.warmup.min(DEFAULT_WARMUP_POINTS);
                (kind, config)
            })
            .collect();
        DetectorPolicy { configs }
    }
}

impl DetectorPolicy {
    pub fn set(&mut self, config: DetectorConfig) {
        self.configs.insert(config.signal, config);
    }

    pub fn get(&self, kind: DetectKind) -> DetectorConfig {
        self.configs
            .get(&kind)
            .cloned()
            .unwrap_or_else(|| DetectorConfig::default_for(kind))
    }
}

struct Watched {
    detector: SeriesDetector,
    active: Option<Signal>,
    last_seen_ms: i64,
}

/// Detectors keyed by what they watch, bounded in number; a key not seen
/// for `forget_after_ms` is dropped with its state.
pub struct MetricWatch {
    policy: DetectorPolicy,
    watched: HashMap<String, Watched>,
    max_keys: usize,
    forget_after_ms: i64,
    /// Keys refused because `max_keys` was reached.
    pub refused_keys: u64,
}

impl MetricWatch {
    pub fn new(policy: DetectorPolicy, max_keys: usize) -> Self {
        MetricWatch {
            policy,
            watched: HashMap::new(),
            max_keys,
            forget_after_ms: 30 * 60_000,
            refused_keys: 0,
        }
    }

    /// Feeds one evaluation's values; appends started and ended signals.
    pub fn observe(&mut self, derived: &Derived, out: &mut Vec<Signal>) {
        for value in &derived.values {
            // `up` is judged by change detection, which reacts on the first
            // failed scrape; request rate is context only.
            if value.kind == DetectKind::Up {
                continue;
            }
            self.observe_value(value, derived.ts_ms, out);
        }
        let forget_before = derived.ts_ms - self.forget_after_ms;
        self.watched.retain(|_, w| w.last_seen_ms >= forget_before);
    }

    fn observe_value(&mut self, value: &DerivedValue, ts_ms: i64, out: &mut Vec<Signal>) {
        let key = value.key();
        if !self.watched.contains_key(&key) {
            if self.watched.len() >= self.max_keys {
                self.refused_keys += 1;
                return;
            }
            let Ok(detector) = SeriesDetector::new(&self.policy.get(value.kind)) else {
                return;
            };
            self.watched.insert(
                key.clone(),
                Watched {
                    detector,
                    active: None,
                    last_seen_ms: ts_ms,
                },
            );
        }
        let Some(watched) = self.watched.get_mut(&key) else {
            return;
        };
        watched.last_seen_ms = ts_ms;
        let verdict = aiops_detect::Detector::observe(&mut watched.detector, ts_ms, value.value);
        if let Some(ended) = verdict.ended
            && let Some(mut signal) = watched.active.take()
        {
            signal.ended_ms = Some(ended.ended_ms);
            signal.why = format!("{}; ended: {}", signal.why, ended.why);
            out.push(signal);
        }
        if let Some(anomaly) = verdict.started {
            let signal = Signal {
                key,
                kind: SignalKind::MetricAnomaly,
                service: value.service.clone(),
                peer: value.peer.clone(),
                labels: Default::default(),
                metric: value.metric.to_owned(),
                score: verdict.score.clamp(0.0, 1.0),
                direction: match anomaly.direction {
                    aiops_detect::Direction::Up => Direction::Up,
                    aiops_detect::Direction::Down => Direction::Down,
                },
                weight: weight_of(value.kind),
                onset_ms: anomaly.onset_ms,
                detected_ms: anomaly.detected_ms,
                ended_ms: None,
                value: Some(anomaly.value),
                baseline: Some(anomaly.baseline),
                deviation: Some(anomaly.deviation),
                why: describe(value, &anomaly.why),
            };
            watched.active = Some(signal.clone());
            out.push(signal);
        }
    }

    pub fn len(&self) -> usize {
        self.watched.len()
    }

    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }

    /// Keys whose anomaly is open now.
    pub fn active(&self) -> impl Iterator<Item = &Signal> {
        self.watched.values().filter_map(|w| w.active.as_ref())
    }
}

fn weight_of(kind: DetectKind) -> Weight {
    match kind {
        DetectKind::RequestRate | DetectKind::OpenFds | DetectKind::Other => Weight::Weak,
        _ => Weight::Strong,
    }
}

fn describe(value: &DerivedValue, why: &str) -> String {
    match &value.peer {
        Some(peer) => format!("{} calling {}: {why}", value.service, peer),
        None => format!(
            "{} {}: {why}",
            value.service,
            value.metric.replace('_', " ")
        ),
    }
}
