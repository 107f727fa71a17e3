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
//! - closeness to a change (a deploy or restart shortly before the onset).

use std::collections::{BTreeMap, BTreeSet};

use crate::graph::Graph;
use crate::incident::{Cause, Incident};
use crate::signal::{Signal, SignalKind, Weight};

const TOP: usize = 5;
/// Onsets this close count as simultaneous (one evaluation apart).
const ONSET_TIE_MS: i64 = 6_000;
const CHANGE_WINDOW_MS: i64 = 15 * 60_000;

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
            reasons.push(format!(
                "{} of its own signals are anomalous (strongest {:.2})",
                candidate.own.len(),
                own_best
            ));
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
                evidence: evidence.iter().take(3).map(|s| s.why.clone()).collect(),
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
