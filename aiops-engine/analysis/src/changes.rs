//! Changes as signals: a new build version (deploy), a process restart
//! (its start time moved), a scrape target going down and coming back.

use std::collections::HashMap;

use crate::derive::Derived;
use crate::signal::{Direction, Signal, SignalKind, Weight};

#[derive(Default, Clone)]
struct Seen {
    start_time: Option<f64>,
    version: Option<String>,
    down_since_ms: Option<i64>,
}

#[derive(Default)]
pub struct ChangeWatch {
    seen: HashMap<(String, String), Seen>,
}

impl ChangeWatch {
    pub fn observe(&mut self, derived: &Derived, out: &mut Vec<Signal>) {
        let now = derived.ts_ms;
        for fact in &derived.instances {
            let key = (fact.service.clone(), fact.instance.clone());
            let first_sight = !self.seen.contains_key(&key);
            let seen = self.seen.entry(key).or_default();
            if let Some(start) = fact.start_time {
                if let Some(before) = seen.start_time
                    && (start - before).abs() > 0.5
                {
                    out.push(change(
                        SignalKind::Restart,
                        &fact.service,
                        "restart",
                        now,
                        (start * 1000.0) as i64,
                        Weight::Strong,
                        format!(
                            "{} ({}) restarted: process start time moved from {:.0} to {:.0}",
                            fact.service, fact.instance, before, start
                        ),
                    ));
                }
                seen.start_time = Some(start);
            }
            if let Some(version) = &fact.version {
                if let Some(before) = &seen.version
                    && before != version
                {
                    out.push(change(
                        SignalKind::Deploy,
                        &fact.service,
                        "version",
                        now,
                        now,
                        Weight::Weak,
                        format!(
                            "{} ({}) now runs version {version}, was {before}",
                            fact.service, fact.instance
                        ),
                    ));
                }
                seen.version = Some(version.clone());
            }
            match (fact.up, seen.down_since_ms) {
                (Some(up), None) if up < 0.5 && !first_sight => {
                    seen.down_since_ms = Some(now);
                    let mut signal = change(
                        SignalKind::MetricAnomaly,
                        &fact.service,
                        "up",
                        now,
                        now,
                        Weight::Strong,
                        format!(
                            "{} ({}) is down: its /metrics could not be scraped (up = 0)",
                            fact.service, fact.instance
                        ),
                    );
                    signal.key = format!("{}/up/{}", fact.service, fact.instance);
                    signal.ended_ms = None;
                    signal.direction = Direction::Down;
                    signal.value = Some(0.0);
                    signal.baseline = Some(1.0);
                    out.push(signal);
                }
                (Some(up), Some(since)) if up >= 0.5 => {
                    seen.down_since_ms = None;
                    let mut signal = change(
                        SignalKind::MetricAnomaly,
                        &fact.service,
                        "up",
                        since,
                        since,
                        Weight::Strong,
                        format!(
                            "{} ({}) was down (up = 0); scraped again after {} s",
                            fact.service,
                            fact.instance,
                            (now - since) / 1000
                        ),
                    );
                    signal.key = format!("{}/up/{}", fact.service, fact.instance);
                    signal.ended_ms = Some(now);
                    signal.direction = Direction::Down;
                    out.push(signal);
                }
                _ => {}
            }
        }
    }
}

fn change(
    kind: SignalKind,
    service: &str,
    metric: &str,
    detected_ms: i64,
    onset_ms: i64,
    weight: Weight,
    why: String,
) -> Signal {
    Signal {
        key: format!("{service}/{metric}"),
        kind,
        service: service.to_owned(),
        peer: None,
        metric: metric.to_owned(),
        score: 1.0,
        direction: Direction::None,
        weight,
        onset_ms: onset_ms.min(detected_ms),
        detected_ms,
        // a change is a moment, not a state
        ended_ms: Some(detected_ms),
        value: None,
        baseline: None,
        deviation: None,
        why,
    }
}
