//! Similar past incidents: every incident reduced to a fingerprint (the
//! top-ranked cause and what went wrong with it, what was measured going
//! wrong anywhere and in which direction, the kinds of signal per service,
//! the log templates, the services touched),
//! and the resolved incidents kept in a bounded index searched by cosine
//! similarity of those fingerprints.
//!
//! An exact nearest-neighbour scan rather than clustering (linfa's k-means
//! or DBSCAN): incidents arrive one at a time, the feature space is open
//! (every service, metric and log template is a dimension) and sparse, and
//! the number of families is not known in advance. Scanning a few thousand
//! fingerprints of a few dozen features each costs about a millisecond
//! (`aiops eval similar` measures it), gives the same answer as any index
//! would, and needs no refit when an incident resolves. Families (`group`) follow from the scan:
//! an incident joins the family of its nearest past incident when they are
//! similar enough, else starts its own.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::incident::{Incident, IncidentState};
use crate::signal::{Direction, SignalKind, Weight};

/// From this cosine similarity on, two incidents are the same kind of
/// failure: they share a family and are shown as similar.
pub const SIMILAR_FROM: f64 = 0.5;

/// Resolved incidents an index holds by default (the oldest dropped first).
pub const INDEX_CAPACITY: usize = 2_000;

/// The top-ranked service.
const CAUSE_WEIGHT: f64 = 1.0;
/// Each of the top-ranked service's own signals, as what broke there: two
/// faults of one service (a leak, an error burst) share the culprit, not
/// what went wrong with it.
const CAUSE_SIGNAL_WEIGHT: f64 = 2.0;
/// A strong signal's measured thing and direction, a weak one's.
const SIGNAL_WEIGHT: [f64; 2] = [1.0, 0.4];
/// The coarser "this kind of signal on this service", beside it.
const KIND_WEIGHT: f64 = 0.5;
/// A service the incident touched.
const SERVICE_WEIGHT: f64 = 0.3;
/// Features kept per fingerprint (an incident holding hundreds of signals
/// is summarised by its heaviest ones).
const MAX_FEATURES: usize = 64;

/// An incident as a weighted set of named features, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub features: Vec<(String, f64)>,
}

fn kind_name(kind: SignalKind) -> &'static str {
    match kind {
        SignalKind::MetricAnomaly => "metric",
        SignalKind::NewLogTemplate => "new_template",
        SignalKind::LogRateShift => "template_rate",
        SignalKind::LogErrorBurst => "error_burst",
        SignalKind::Alert => "alert",
        SignalKind::Deploy => "deploy",
        SignalKind::Restart => "restart",
    }
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "up",
        Direction::Down => "down",
        Direction::None => "any",
    }
}

impl Fingerprint {
    /// The fingerprint of an incident as it stands.
    pub fn of(incident: &Incident) -> Fingerprint {
        let mut weights: BTreeMap<String, f64> = BTreeMap::new();
        let mut put = |name: String, weight: f64| {
            let w = weights.entry(name).or_insert(0.0);
            *w = w.max(weight);
        };
        let cause = incident.root_cause.first().map(|c| c.service.as_str());
        if let Some(cause) = cause {
            put(format!("cause:{cause}"), CAUSE_WEIGHT);
        }
        for signal in incident.signals.iter().map(|m| &m.signal) {
            let weight = match signal.weight {
                Weight::Strong => SIGNAL_WEIGHT[0],
                Weight::Weak => SIGNAL_WEIGHT[1],
            };
            // an alert is keyed by its label set's hash; what went wrong
            // is its name, whichever instance fired it
            let measured = match signal.kind {
                SignalKind::Alert => format!("{}/alert/{}", signal.service, signal.metric),
                _ => signal.key.clone(),
            };
            let what = format!("{measured}:{}", direction_name(signal.direction));
            if cause == Some(signal.service.as_str()) {
                put(format!("cause-signal:{what}"), CAUSE_SIGNAL_WEIGHT * weight);
            }
            put(format!("signal:{what}"), weight);
            put(
                format!("kind:{}:{}", signal.service, kind_name(signal.kind)),
                KIND_WEIGHT * weight,
            );
        }
        for service in &incident.services {
            put(format!("service:{service}"), SERVICE_WEIGHT);
        }
        let mut features: Vec<(String, f64)> = weights.into_iter().collect();
        if features.len() > MAX_FEATURES {
            // the culprit, then the heaviest, names breaking ties; then
            // back in name order
            let culprit = |name: &str| name.starts_with("cause:");
            features.sort_by(|a, b| {
                culprit(&b.0)
                    .cmp(&culprit(&a.0))
                    .then_with(|| b.1.total_cmp(&a.1))
                    .then_with(|| a.0.cmp(&b.0))
            });
            features.truncate(MAX_FEATURES);
            features.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Fingerprint { features }
    }

    fn norm(&self) -> f64 {
        self.features.iter().map(|(_, w)| w * w).sum::<f64>().sqrt()
    }

    /// Walks the features both hold, in name order.
    fn each_shared<'a>(&'a self, other: &'a Fingerprint, mut f: impl FnMut(&'a str, f64, f64)) {
        let (mut i, mut j) = (0, 0);
        while i < self.features.len() && j < other.features.len() {
            let (a, wa) = &self.features[i];
            let (b, wb) = &other.features[j];
            match a.cmp(b) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    f(a, *wa, *wb);
                    i += 1;
                    j += 1;
                }
            }
        }
    }

    /// Cosine similarity, 0 (nothing shared) to 1 (the same).
    pub fn similarity(&self, other: &Fingerprint) -> f64 {
        let mut dot = 0.0;
        self.each_shared(other, |_, wa, wb| dot += wa * wb);
        let norms = self.norm() * other.norm();
        if norms > 0.0 {
            (dot / norms).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// The similarity and the features both hold, heaviest shared weight
    /// first: why they are alike.
    pub fn compare(&self, other: &Fingerprint) -> (f64, Vec<String>) {
        let mut shared: Vec<(f64, &str)> = Vec::new();
        self.each_shared(other, |name, wa, wb| shared.push((wa * wb, name)));
        shared.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        (
            self.similarity(other),
            shared.into_iter().map(|(_, n)| n.to_owned()).collect(),
        )
    }
}

/// An action taken on a past incident, and whether it worked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastAction {
    pub playbook: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The action's final state (`succeeded`, `failed`, `skipped`...).
    pub state: String,
    /// True when it succeeded and its verification passed: it worked.
    pub worked: bool,
}

/// A resolved incident as the index keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastIncident {
    pub id: String,
    pub title: String,
    pub opened_at_ms: i64,
    pub resolved_at_ms: i64,
    /// The cause it ranked first, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// How it ended: the resolving timeline entry (`resolved by alice`, or
    /// quiet for `resolve_after`).
    pub resolution: String,
    pub actions: Vec<PastAction>,
    pub fingerprint: Fingerprint,
    /// Its family: the id of the first incident of its kind.
    pub group: String,
}

impl PastIncident {
    /// The entry for a resolved incident and the actions taken on it;
    /// `None` while it is not resolved.
    pub fn of(incident: &Incident, actions: Vec<PastAction>) -> Option<PastIncident> {
        if incident.state != IncidentState::Resolved {
            return None;
        }
        let resolution = incident
            .timeline
            .iter()
            .rev()
            .find(|t| t.event == "resolved")
            .map_or_else(|| "resolved".to_owned(), |t| t.detail.clone());
        Some(PastIncident {
            id: incident.id.clone(),
            title: incident.title.clone(),
            opened_at_ms: incident.opened_at_ms,
            resolved_at_ms: incident.resolved_at_ms.unwrap_or(incident.updated_at_ms),
            cause: incident.root_cause.first().map(|c| c.service.clone()),
            resolution,
            actions,
            fingerprint: Fingerprint::of(incident),
            group: incident.id.clone(),
        })
    }
}

/// One answer of a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarIncident {
    pub similarity: f64,
    /// The features both incidents hold (at most a handful), heaviest first:
    /// why they are similar.
    pub shared: Vec<String>,
    #[serde(flatten)]
    pub past: PastIncident,
}

/// Resolved incidents, oldest first, at most `capacity` of them.
#[derive(Debug, Clone)]
pub struct SimilarIndex {
    entries: VecDeque<PastIncident>,
    capacity: usize,
}

/// Shared features named per answer.
const MAX_SHARED_SHOWN: usize = 6;

impl SimilarIndex {
    pub fn new(capacity: usize) -> SimilarIndex {
        SimilarIndex {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds (or, for an id already held, replaces) a resolved incident,
    /// placing it in the family of its nearest earlier incident when that
    /// one is similar enough. The oldest entry goes when full.
    pub fn insert(&mut self, mut past: PastIncident) {
        self.entries.retain(|e| e.id != past.id);
        let nearest = self
            .entries
            .iter()
            .filter(|e| e.opened_at_ms <= past.opened_at_ms)
            .map(|e| (e.fingerprint.similarity(&past.fingerprint), e))
            .filter(|(s, _)| *s >= SIMILAR_FROM)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, e)) = nearest {
            past.group = e.group.clone();
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        // kept in order of resolution, so the oldest is dropped first
        let at = self
            .entries
            .iter()
            .rposition(|e| e.resolved_at_ms <= past.resolved_at_ms)
            .map_or(0, |i| i + 1);
        self.entries.insert(at, past);
    }

    /// The `k` past incidents most similar to `incident` (from
    /// [`SIMILAR_FROM`] on), most similar first: only incidents resolved
    /// before it was last updated, never itself.
    pub fn nearest(&self, incident: &Incident, k: usize) -> Vec<SimilarIncident> {
        let fingerprint = Fingerprint::of(incident);
        // scored without allocating; only the k answers are built
        let mut scored: Vec<(f64, &PastIncident)> = self
            .entries
            .iter()
            .filter(|e| e.id != incident.id && e.opened_at_ms < incident.opened_at_ms)
            .map(|e| (fingerprint.similarity(&e.fingerprint), e))
            .filter(|(s, _)| *s >= SIMILAR_FROM)
            .collect();
        scored.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| b.1.resolved_at_ms.cmp(&a.1.resolved_at_ms))
        });
        scored
            .into_iter()
            .take(k)
            .map(|(similarity, e)| {
                let (_, mut shared) = fingerprint.compare(&e.fingerprint);
                shared.truncate(MAX_SHARED_SHOWN);
                SimilarIncident {
                    similarity,
                    shared,
                    past: e.clone(),
                }
            })
            .collect()
    }

    /// The entry held for an incident id.
    pub fn entry(&self, id: &str) -> Option<&PastIncident> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The family an incident belongs to: that of its most similar past
    /// incident, or its own id.
    pub fn group_of(&self, incident: &Incident) -> String {
        self.nearest(incident, 1)
            .first()
            .map_or_else(|| incident.id.clone(), |s| s.past.group.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Cause, Member, TimelineEntry};
    use crate::signal::Signal;

    fn signal(service: &str, key: &str, kind: SignalKind, weight: Weight) -> Member {
        Member {
            signal: Signal {
                key: key.into(),
                kind,
                service: service.into(),
                peer: None,
                labels: BTreeMap::new(),
                metric: key.rsplit('/').next().unwrap_or(key).into(),
                score: 0.9,
                direction: Direction::Up,
                weight,
                onset_ms: 0,
                detected_ms: 0,
                ended_ms: Some(1),
                value: None,
                baseline: None,
                deviation: None,
                why: String::new(),
            },
            joined_at_ms: 0,
            reason: "test".into(),
            starts: 1,
        }
    }

    fn incident(id: &str, opened: i64, cause: &[&str], members: Vec<Member>) -> Incident {
        let mut services: Vec<String> = members.iter().map(|m| m.signal.service.clone()).collect();
        services.sort();
        services.dedup();
        Incident {
            id: id.into(),
            state: IncidentState::Resolved,
            title: format!("{id} title"),
            opened_at_ms: opened,
            updated_at_ms: opened + 100,
            acknowledged_at_ms: None,
            resolved_at_ms: Some(opened + 100),
            last_active_ms: opened + 50,
            services,
            root_cause: cause
                .iter()
                .map(|s| Cause {
                    service: (*s).into(),
                    score: 0.5,
                    reasons: vec![],
                    evidence: vec![],
                })
                .collect(),
            signals: members,
            timeline: vec![TimelineEntry {
                ts_ms: opened + 100,
                event: "resolved".into(),
                detail: "no active signal for 120 s (resolve_after)".into(),
            }],
            revision: 1,
            signals_dropped: 0,
            window_causes: vec![],
            severity: Default::default(),
        }
    }

    fn payments_errors(id: &str, opened: i64) -> Incident {
        incident(
            id,
            opened,
            &["payments", "checkout"],
            vec![
                signal(
                    "payments",
                    "payments/error_ratio",
                    SignalKind::MetricAnomaly,
                    Weight::Strong,
                ),
                signal(
                    "checkout",
                    "checkout->payments/peer_error_ratio",
                    SignalKind::MetricAnomaly,
                    Weight::Strong,
                ),
                signal(
                    "payments",
                    "payments/template/ab12",
                    SignalKind::NewLogTemplate,
                    Weight::Strong,
                ),
            ],
        )
    }

    fn cart_latency(id: &str, opened: i64) -> Incident {
        incident(
            id,
            opened,
            &["cart", "frontend"],
            vec![
                signal(
                    "cart",
                    "cart/latency_p99",
                    SignalKind::MetricAnomaly,
                    Weight::Strong,
                ),
                signal(
                    "frontend",
                    "frontend->cart/peer_latency_p99",
                    SignalKind::MetricAnomaly,
                    Weight::Strong,
                ),
                signal(
                    "frontend",
                    "frontend/request_rate",
                    SignalKind::MetricAnomaly,
                    Weight::Weak,
                ),
            ],
        )
    }

    fn indexed(incidents: &[Incident]) -> SimilarIndex {
        let mut index = SimilarIndex::new(100);
        for i in incidents {
            index.insert(PastIncident::of(i, vec![]).expect("resolved"));
        }
        index
    }

    #[test]
    fn the_same_fault_again_is_found_and_another_fault_is_not() {
        let index = indexed(&[
            payments_errors("inc-1", 1_000),
            cart_latency("inc-2", 2_000),
        ]);
        let found = index.nearest(&payments_errors("inc-3", 3_000), 3);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].past.id, "inc-1");
        assert!(found[0].similarity > 0.99, "{}", found[0].similarity);
        assert!(found[0].shared.contains(&"cause:payments".to_owned()));
        assert_eq!(
            found[0].past.resolution,
            "no active signal for 120 s (resolve_after)"
        );
        let (cross, _) = Fingerprint::of(&payments_errors("a", 0))
            .compare(&Fingerprint::of(&cart_latency("b", 0)));
        assert!(cross < SIMILAR_FROM, "{cross}");
    }

    #[test]
    fn a_fault_of_the_same_kind_on_another_service_is_not_similar() {
        let mut recommendation = payments_errors("inc-2", 2_000);
        for m in &mut recommendation.signals {
            m.signal.key = m.signal.key.replace("payments", "recommendation");
            m.signal.service = m.signal.service.replace("payments", "recommendation");
        }
        recommendation.root_cause[0].service = "recommendation".into();
        recommendation.services = vec!["checkout".into(), "recommendation".into()];
        let index = indexed(&[recommendation]);
        assert!(
            index
                .nearest(&payments_errors("inc-3", 3_000), 3)
                .is_empty()
        );
    }

    #[test]
    fn two_faults_of_one_service_are_not_similar() {
        // the chaos tuning runs' case: a leak and an error burst in one
        // service share the culprit, not what broke
        let leak = incident(
            "inc-1",
            1_000,
            &["payments", "frontend"],
            vec![signal(
                "payments",
                "payments/memory",
                SignalKind::MetricAnomaly,
                Weight::Strong,
            )],
        );
        let errors = payments_errors("inc-2", 2_000);
        let (similarity, shared) = Fingerprint::of(&leak).compare(&Fingerprint::of(&errors));
        assert!(similarity < SIMILAR_FROM, "{similarity} {shared:?}");
        assert!(shared.contains(&"cause:payments".to_owned()));
    }

    #[test]
    fn only_earlier_incidents_and_never_itself_are_answers() {
        let index = indexed(&[
            payments_errors("inc-1", 1_000),
            payments_errors("inc-5", 5_000),
        ]);
        let found = index.nearest(&payments_errors("inc-5", 5_000), 3);
        assert_eq!(
            found.iter().map(|f| f.past.id.as_str()).collect::<Vec<_>>(),
            ["inc-1"]
        );
        assert!(index.nearest(&payments_errors("inc-0", 500), 3).is_empty());
    }

    #[test]
    fn families_follow_the_first_incident_of_their_kind() {
        let index = indexed(&[
            payments_errors("inc-1", 1_000),
            cart_latency("inc-2", 2_000),
            payments_errors("inc-3", 3_000),
            cart_latency("inc-4", 4_000),
        ]);
        assert_eq!(index.group_of(&payments_errors("inc-9", 9_000)), "inc-1");
        assert_eq!(index.group_of(&cart_latency("inc-9", 9_000)), "inc-2");
        let unknown = incident(
            "inc-9",
            9_000,
            &["orders"],
            vec![signal(
                "orders",
                "orders/cpu",
                SignalKind::MetricAnomaly,
                Weight::Strong,
            )],
        );
        assert_eq!(index.group_of(&unknown), "inc-9");
    }

    #[test]
    fn the_index_is_bounded_and_drops_the_oldest() {
        let mut index = SimilarIndex::new(2);
        for (n, opened) in [1_000, 2_000, 3_000].iter().enumerate() {
            let i = payments_errors(&format!("inc-{n}"), *opened);
            index.insert(PastIncident::of(&i, vec![]).expect("resolved"));
        }
        assert_eq!(index.len(), 2);
        let found = index.nearest(&payments_errors("inc-9", 9_000), 5);
        assert_eq!(
            found.iter().map(|f| f.past.id.as_str()).collect::<Vec<_>>(),
            ["inc-2", "inc-1"]
        );
    }

    #[test]
    fn an_unresolved_incident_is_not_indexed_and_a_huge_one_is_bounded() {
        let mut open = payments_errors("inc-1", 1_000);
        open.state = IncidentState::Open;
        assert!(PastIncident::of(&open, vec![]).is_none());
        let members = (0..500)
            .map(|n| {
                signal(
                    "payments",
                    &format!("payments/template/{n:04x}"),
                    SignalKind::NewLogTemplate,
                    Weight::Strong,
                )
            })
            .collect();
        let huge = incident("inc-2", 2_000, &["payments"], members);
        let fingerprint = Fingerprint::of(&huge);
        assert_eq!(fingerprint.features.len(), MAX_FEATURES);
        assert!(
            fingerprint
                .features
                .iter()
                .any(|(n, _)| n == "cause:payments")
        );
        assert!(fingerprint.features.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
