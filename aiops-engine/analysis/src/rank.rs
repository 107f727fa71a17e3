//! Root-cause ranking of an incident's services, with reasons.
//!
//! Each candidate's score adds up evidence an SRE would weigh:
//! - how strongly its own signals deviate (the detectors' robust sigmas
//!   against the pre-onset window: the n-sigma / BARO family);
//! - callers seeing errors or latency when calling it, if its own metrics
//!   agree (or it is down) — or, when its own metrics are healthy, the
//!   caller's side of the call is the suspect instead;
//! - whether its own dependencies are anomalous too (then its symptoms may
//!   be theirs: discounted) or healthy (then they are its own);
//! - onset order: the first to show symptoms;
//! - closeness to a change (a deploy or restart shortly before the onset);
//! - how far its recorded metrics moved from their own pre-onset window
//!   over the incident window (robust z-scores, computed at the edge and
//!   handed in as [`crate::incident::WindowCause`]s).

use std::collections::{BTreeMap, BTreeSet};

use crate::graph::Graph;
use crate::incident::{Cause, Incident};
use crate::signal::{Signal, SignalKind, Weight};

const TOP: usize = 5;
/// Onsets this close count as simultaneous (one evaluation apart).
const ONSET_TIE_MS: i64 = 6_000;
const CHANGE_WINDOW_MS: i64 = 15 * 60_000;
/// Weight of the window ranking's relative score (1 for the most deviating).
const WINDOW_WEIGHT: f64 = 0.5;
/// A service only the window ranking names (no detector signal of its own)
/// counts for less: nothing streaming confirmed it.
const WINDOW_ONLY_DISCOUNT: f64 = 0.5;

fn strength(signal: &Signal) -> f64 {
    let by_deviation = signal
        .deviation
        .map(|d| (d.abs() / 20.0).min(1.0))
        .unwrap_or(signal.score);
    (0.5 * signal.score + 0.5 * by_deviation).clamp(0.05, 1.0)
}

#[derive(Default)]
struct Candidate<'a> {
    own: Vec<&'a Signal>,
    changes: Vec<&'a Signal>,
    /// Strong client-side signals of callers about this service.
    blamed_by: Vec<&'a Signal>,
    /// Its own strong client-side signals about its callees.
    blames: Vec<&'a Signal>,
}

pub fn rank(incident: &Incident, graph: &Graph) -> Vec<Cause> {
    let mut candidates: BTreeMap<&str, Candidate<'_>> = BTreeMap::new();
    for member in &incident.signals {
        let signal = &member.signal;
        if signal.is_change() {
            candidates
                .entry(&signal.service)
                .or_default()
                .changes
                .push(signal);
            if signal.kind == SignalKind::Restart {
                candidates
                    .entry(&signal.service)
                    .or_default()
                    .own
                    .push(signal);
            }
            continue;
        }
        if signal.weight < Weight::Strong {
            continue;
        }
        match &signal.peer {
            Some(peer) => {
                candidates.entry(peer).or_default().blamed_by.push(signal);
                candidates
                    .entry(&signal.service)
                    .or_default()
                    .blames
                    .push(signal);
            }
            None => candidates
                .entry(&signal.service)
                .or_default()
                .own
                .push(signal),
        }
    }
    let window: BTreeMap<&str, &crate::incident::WindowCause> = incident
        .window_causes
        .iter()
        .map(|w| (w.service.as_str(), w))
        .collect();
    for service in window.keys() {
        candidates.entry(service).or_default();
    }
    let anomalous: BTreeSet<&str> = candidates
        .iter()
        .filter(|(_, c)| !c.own.is_empty())
        .map(|(s, _)| *s)
        .collect();
    let earliest = candidates
        .values()
        .flat_map(|c| c.own.iter().map(|s| s.onset_ms))
        .min();

    let mut scored: Vec<(f64, Cause)> = Vec::new();
    for (service, candidate) in &candidates {
        let mut score = 0.0;
        let mut reasons = Vec::new();
        let own_best = candidate
            .own
            .iter()
            .map(|s| strength(s))
            .fold(0.0, f64::max);
        if own_best > 0.0 {
            score += own_best;
            let n = candidate.own.len();
            reasons.push(if n == 1 {
                format!("one of its own signals is anomalous (strength {own_best:.2})")
            } else {
                format!("{n} of its own signals are anomalous (strongest {own_best:.2})")
            });
        }
        let blame = candidate
            .blamed_by
            .iter()
            .map(|s| strength(s))
            .fold(0.0, f64::max);
        if blame > 0.0 {
            let callers: BTreeSet<&str> = candidate
                .blamed_by
                .iter()
                .map(|s| s.service.as_str())
                .collect();
            let callers = callers.into_iter().collect::<Vec<_>>().join(", ");
            if own_best > 0.0 {
                score += 0.6 * blame;
                reasons.push(format!(
                    "its callers ({callers}) see failures or slowness calling it"
                ));
            } else {
                score += 0.2 * blame;
                reasons.push(format!(
                    "its callers ({callers}) see failures calling it, but its own metrics are healthy"
                ));
            }
        }
        // calls failing towards a callee that looks healthy itself: the
        // fault is on this side of the call
        let healthy_targets: BTreeSet<&str> = candidate
            .blames
            .iter()
            .filter_map(|s| s.peer.as_deref())
            .filter(|peer| !anomalous.contains(peer))
            .collect();
        if !healthy_targets.is_empty() {
            let blame = candidate
                .blames
                .iter()
                .map(|s| strength(s))
                .fold(0.0, f64::max);
            score += 0.5 * blame;
            reasons.push(format!(
                "its calls to {} fail while that side's own metrics are healthy",
                healthy_targets.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        let callees: BTreeSet<&str> = graph
            .callees(service)
            .chain(candidate.blames.iter().filter_map(|s| s.peer.as_deref()))
            .collect();
        let sick_callees: Vec<&str> = callees
            .iter()
            .copied()
            .filter(|c| anomalous.contains(c))
            .collect();
        if !sick_callees.is_empty() && own_best > 0.0 {
            score *= 0.4;
            reasons.push(format!(
                "its dependencies ({}) are anomalous too, so its symptoms may be theirs",
                sick_callees.join(", ")
            ));
        } else if own_best > 0.0 {
            score += 0.1;
            if callees.is_empty() {
                reasons.push("it has no anomalous dependency (it calls no other service)".into());
            } else {
                reasons.push(format!(
                    "its dependencies ({}) are healthy",
                    callees.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if let (Some(earliest), Some(onset)) =
            (earliest, candidate.own.iter().map(|s| s.onset_ms).min())
        {
            if onset - earliest <= ONSET_TIE_MS {
                score += 0.3;
                reasons.push("among the first to show symptoms".into());
            } else {
                reasons.push(format!(
                    "symptoms began {} s after the first",
                    (onset - earliest) / 1000
                ));
            }
        }
        if let Some(onset) = earliest
            && let Some(change) = candidate
                .changes
                .iter()
                .filter(|c| {
                    c.detected_ms <= onset + ONSET_TIE_MS
                        && onset - c.detected_ms <= CHANGE_WINDOW_MS
                })
                .max_by_key(|c| c.detected_ms)
        {
            score += 0.3;
            reasons.push(format!(
                "a change {} s before the onset: {}",
                (onset - change.detected_ms).max(0) / 1000,
                change.why
            ));
        }
        if let Some(w) = window.get(service).filter(|w| w.score > 0.0) {
            let signalled = !candidate.own.is_empty()
                || !candidate.blamed_by.is_empty()
                || !candidate.blames.is_empty();
            let weight = if signalled {
                WINDOW_WEIGHT
            } else {
                WINDOW_WEIGHT * WINDOW_ONLY_DISCOUNT
            };
            score += weight * w.score.min(1.0);
            let strongest = w.reasons.first().map(String::as_str).unwrap_or("");
            reasons.push(if w.score >= 0.999 {
                format!("its metrics moved furthest from their pre-onset window: {strongest}")
            } else {
                format!(
                    "its metrics moved from their pre-onset window ({:.0}% of the furthest): {strongest}",
                    w.score * 100.0
                )
            });
        }
        if score <= 0.0 {
            continue;
        }
        let mut evidence: Vec<&Signal> = candidate
            .own
            .iter()
            .chain(candidate.blames.iter())
            .copied()
            .collect();
        evidence.sort_by(|a, b| strength(b).total_cmp(&strength(a)));
        scored.push((
            score,
            Cause {
                service: (*service).to_owned(),
                score: 0.0,
                reasons,
                evidence: evidence
                    .iter()
                    .map(|s| s.why.clone())
                    .chain(
                        window
                            .get(service)
                            .into_iter()
                            .flat_map(|w| w.reasons.iter().cloned()),
                    )
                    .take(3)
                    .collect(),
            },
        ));
    }
    let total: f64 = scored.iter().map(|(s, _)| s).sum();
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.service.cmp(&b.1.service))
    });
    scored
        .into_iter()
        .take(TOP)
        .map(|(score, mut cause)| {
            cause.score = if total > 0.0 {
                (score / total * 1000.0).round() / 1000.0
            } else {
                0.0
            };
            cause
        })
        .collect()
}

#[cfg(test)]
mod window_tests {
    use super::*;
    use crate::incident::{IncidentState, Member, WindowCause};
    use crate::signal::{Direction, Weight};

    fn signal(service: &str, peer: Option<&str>, metric: &str, deviation: f64) -> Signal {
        Signal {
            key: format!("{service}/{metric}"),
            kind: SignalKind::MetricAnomaly,
            service: service.into(),
            peer: peer.map(Into::into),
            labels: Default::default(),
            metric: metric.into(),
            score: 0.8,
            direction: Direction::Up,
            weight: Weight::Strong,
            onset_ms: 1_000,
            detected_ms: 2_000,
            ended_ms: None,
            value: Some(1.0),
            baseline: Some(0.0),
            deviation: Some(deviation),
            why: format!("{service} {metric}"),
        }
    }

    fn incident(signals: Vec<Signal>, window: Vec<WindowCause>) -> Incident {
        Incident {
            id: "i".into(),
            state: IncidentState::Open,
            title: String::new(),
            opened_at_ms: 2_000,
            updated_at_ms: 2_000,
            acknowledged_at_ms: None,
            resolved_at_ms: None,
            last_active_ms: 2_000,
            services: vec![],
            root_cause: vec![],
            signals: signals
                .into_iter()
                .map(|signal| Member {
                    signal,
                    joined_at_ms: 2_000,
                    reason: String::new(),
                    starts: 1,
                })
                .collect(),
            timeline: vec![],
            revision: 1,
            signals_dropped: 0,
            window_causes: window,
            severity: Default::default(),
        }
    }

    fn cause(service: &str, score: f64) -> WindowCause {
        WindowCause {
            service: service.into(),
            score,
            reasons: vec![format!(
                "{service} latency_p99 12.0 IQRs above its pre-onset median"
            )],
        }
    }

    #[test]
    fn the_window_ranking_tips_a_close_call_and_explains_itself() {
        // two services with equally strong own signals, neither calling the other
        let signals = vec![
            signal("cart", None, "latency_p99", 10.0),
            signal("orders", None, "latency_p99", 10.0),
        ];
        let graph = Graph::default();
        let without = rank(&incident(signals.clone(), vec![]), &graph);
        assert_eq!(without[0].service, "cart", "ties break by name");
        let with = rank(
            &incident(signals, vec![cause("orders", 1.0), cause("cart", 0.1)]),
            &graph,
        );
        assert_eq!(with[0].service, "orders");
        assert!(
            with[0]
                .reasons
                .iter()
                .any(|r| r.contains("furthest from their pre-onset window")),
            "{:?}",
            with[0].reasons
        );
        assert!(
            with[0].evidence.iter().any(|e| e.contains("IQRs")),
            "{:?}",
            with[0].evidence
        );
    }

    #[test]
    fn a_service_only_the_window_names_is_ranked_but_discounted() {
        let signals = vec![signal("checkout", None, "error_ratio", 20.0)];
        let ranked = rank(
            &incident(
                signals,
                vec![cause("checkout", 1.0), cause("payments", 0.9)],
            ),
            &Graph::default(),
        );
        assert_eq!(ranked[0].service, "checkout");
        let payments = ranked
            .iter()
            .find(|c| c.service == "payments")
            .expect("payments");
        assert!(payments.score < ranked[0].score);
    }
}
