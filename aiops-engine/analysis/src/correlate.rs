//! Grouping signals into incidents, by time and by the dependency graph,
//! with dedup, flap suppression and the lifecycle; every join records why.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::graph::Graph;
use crate::incident::{Incident, IncidentState, Member};
use crate::rank;
use crate::signal::{Signal, Weight};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelatorConfig {
    /// A signal joins an unresolved incident whose last activity is at most
    /// this far before the signal's onset.
    pub group_window_ms: i64,
    /// No active signal for this long resolves an incident.
    pub resolve_after_ms: i64,
    /// A strong signal that comes back this soon after its incident resolved
    /// reopens it instead of opening a new one (flap suppression).
    pub reopen_within_ms: i64,
    /// Changes and weak signals this long before an incident opens join it.
    pub lookback_ms: i64,
    pub max_signals_per_incident: usize,
    /// Resolved incidents kept in memory for reopening and the API.
    pub max_resolved_kept: usize,
    /// What makes an incident critical.
    pub severity: crate::severity::SeverityConfig,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        CorrelatorConfig {
            group_window_ms: 5 * 60_000,
            resolve_after_ms: 5 * 60_000,
            reopen_within_ms: 10 * 60_000,
            lookback_ms: 15 * 60_000,
            max_signals_per_incident: 200,
            max_resolved_kept: 200,
            severity: crate::severity::SeverityConfig::default(),
        }
    }
}

pub struct Correlator {
    config: CorrelatorConfig,
    incidents: Vec<Incident>,
    /// Recent weak signals and changes that opened nothing, for context.
    recent: VecDeque<Signal>,
    changed: BTreeSet<String>,
}

const MAX_RECENT: usize = 1_000;

impl Correlator {
    pub fn new(config: CorrelatorConfig) -> Self {
        Correlator {
            config,
            incidents: Vec::new(),
            recent: VecDeque::new(),
            changed: BTreeSet::new(),
        }
    }

    pub fn config(&self) -> &CorrelatorConfig {
        &self.config
    }

    /// Takes back incidents a previous run persisted (a restart): new
    /// signals join them instead of opening duplicates.
    /// Signals that were active are closed as of `now_ms`: the detectors of
    /// this run start afresh, and an incident waiting on a signal that no
    /// one will ever end would never resolve. A signal still firing joins
    /// again as a new start.
    pub fn restore(&mut self, incidents: Vec<Incident>, now_ms: i64) {
        self.restore_as(incidents, now_ms, "the engine restarted");
    }

    /// Takes over the incidents another engine kept (this engine became
    /// the leader of several sharing one database): they are the record,
    /// so this engine's own incidents, which only it saw, give way, and
    /// their active signals join the taken-over incidents again (or open
    /// new ones where nothing taken over matches). Ids, states and actions
    /// then continue where the other engine left them.
    pub fn adopt(&mut self, incidents: Vec<Incident>, graph: &Graph, now_ms: i64) {
        let mut still_active: Vec<Signal> = Vec::new();
        for own in self.incidents.drain(..) {
            still_active.extend(own.active_signals().cloned());
        }
        self.changed.clear();
        self.restore_as(incidents, now_ms, "this engine took over as leader");
        for signal in still_active {
            self.ingest(signal, graph, now_ms);
        }
    }

    fn restore_as(&mut self, incidents: Vec<Incident>, now_ms: i64, why: &str) {
        for mut incident in incidents {
            if !incident.is_resolved() {
                let mut closed = 0;
                for member in &mut incident.signals {
                    if member.signal.ended_ms.is_none() {
                        member.signal.ended_ms = Some(now_ms);
                        closed += 1;
                    }
                }
                if closed > 0 {
                    incident.last_active_ms = now_ms;
                    incident.note(
                        now_ms,
                        "restored",
                        format!("{why}: {closed} active signal(s) closed; still-firing ones will join again"),
                    );
                }
            }
            if !self.incidents.iter().any(|i| i.id == incident.id) {
                self.incidents.push(incident);
            }
        }
        self.incidents.sort_by_key(|i| i.opened_at_ms);
    }

    pub fn incidents(&self) -> &[Incident] {
        &self.incidents
    }

    pub fn get(&self, id: &str) -> Option<&Incident> {
        self.incidents.iter().find(|i| i.id == id)
    }

    /// Ids of incidents changed since the last call: what to persist.
    pub fn take_changed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.changed).into_iter().collect()
    }

    pub fn ingest(&mut self, signal: Signal, graph: &Graph, now_ms: i64) {
        // 1. The same signal again (an update, its end, or a new start).
        if let Some(index) = self
            .incidents
            .iter()
            .position(|i| !i.is_resolved() && i.signals.iter().any(|m| m.signal.key == signal.key))
        {
            self.update_member(index, signal, graph, now_ms);
            return;
        }
        // 2. Related to an unresolved incident in time and in the graph.
        if let Some((index, reason)) = self.related(&signal, graph) {
            self.join(index, signal, reason, graph, now_ms);
            return;
        }
        if signal.weight < Weight::Strong {
            self.remember(signal);
            return;
        }
        // 3. A flap of a recently resolved incident.
        if let Some(index) = self.incidents.iter().rposition(|i| {
            i.is_resolved()
                && i.resolved_at_ms
                    .is_some_and(|r| signal.onset_ms - r <= self.config.reopen_within_ms)
                && i.signals.iter().any(|m| m.signal.key == signal.key)
        }) {
            let incident = &mut self.incidents[index];
            let since = incident.resolved_at_ms.unwrap_or(now_ms);
            incident.state = IncidentState::Open;
            incident.resolved_at_ms = None;
            incident.note(
                now_ms,
                "reopened",
                format!(
                    "{} came back {} s after the incident resolved; reopened rather than opening a new incident (flap suppression)",
                    signal.key,
                    (signal.onset_ms - since).max(0) / 1000
                ),
            );
            self.update_member(index, signal, graph, now_ms);
            return;
        }
        self.open(signal, graph, now_ms);
    }

    /// Resolves incidents that have been quiet long enough.
    pub fn tick(&mut self, graph: &Graph, now_ms: i64) {
        let resolve_after = self.config.resolve_after_ms;
        for incident in &mut self.incidents {
            if incident.is_resolved() {
                continue;
            }
            if incident.active_signals().next().is_some() {
                incident.last_active_ms = now_ms;
                continue;
            }
            if now_ms - incident.last_active_ms >= resolve_after {
                incident.state = IncidentState::Resolved;
                incident.resolved_at_ms = Some(now_ms);
                incident.note(
                    now_ms,
                    "resolved",
                    format!(
                        "no active signal for {} s (resolve_after)",
                        (now_ms - incident.last_active_ms) / 1000
                    ),
                );
                incident.touch(now_ms);
                self.changed.insert(incident.id.clone());
            }
        }
        let _ = graph;
        self.forget_old_resolved();
    }

    pub fn acknowledge(
        &mut self,
        id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<&Incident, LifecycleError> {
        self.transition(id, now_ms, |incident| match incident.state {
            IncidentState::Open => {
                incident.state = IncidentState::Acknowledged;
                incident.acknowledged_at_ms = Some(now_ms);
                incident.note(now_ms, "acknowledged", format!("acknowledged by {by}"));
                Ok(())
            }
            IncidentState::Acknowledged => Ok(()),
            other => Err(LifecycleError::InvalidTransition {
                from: other.as_str(),
                to: "acknowledged",
            }),
        })
    }

    pub fn mitigate(
        &mut self,
        id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<&Incident, LifecycleError> {
        self.transition(id, now_ms, |incident| match incident.state {
            IncidentState::Open | IncidentState::Acknowledged => {
                incident.state = IncidentState::Mitigated;
                incident.note(now_ms, "mitigated", format!("marked mitigated by {by}"));
                Ok(())
            }
            IncidentState::Mitigated => Ok(()),
            other => Err(LifecycleError::InvalidTransition {
                from: other.as_str(),
                to: "mitigated",
            }),
        })
    }

    pub fn resolve(
        &mut self,
        id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<&Incident, LifecycleError> {
        self.transition(id, now_ms, |incident| {
            if incident.is_resolved() {
                return Ok(());
            }
            incident.state = IncidentState::Resolved;
            incident.resolved_at_ms = Some(now_ms);
            incident.last_active_ms = now_ms;
            incident.note(now_ms, "resolved", format!("resolved by {by}"));
            Ok(())
        })
    }

    fn transition(
        &mut self,
        id: &str,
        now_ms: i64,
        change: impl FnOnce(&mut Incident) -> Result<(), LifecycleError>,
    ) -> Result<&Incident, LifecycleError> {
        let index = self
            .incidents
            .iter()
            .position(|i| i.id == id)
            .ok_or(LifecycleError::NotFound)?;
        let before = self.incidents[index].state;
        change(&mut self.incidents[index])?;
        if self.incidents[index].state != before {
            self.incidents[index].touch(now_ms);
            self.changed.insert(id.to_owned());
        }
        Ok(&self.incidents[index])
    }

    fn related(&self, signal: &Signal, graph: &Graph) -> Option<(usize, String)> {
        let involved: Vec<&str> = std::iter::once(signal.service.as_str())
            .chain(signal.peer.as_deref())
            .collect();
        let mut best: Option<(usize, String)> = None;
        for (index, incident) in self.incidents.iter().enumerate().rev() {
            if incident.is_resolved()
                || signal.onset_ms > incident.last_active_ms + self.config.group_window_ms
            {
                continue;
            }
            for service in &involved {
                if incident.services.iter().any(|s| s == service) {
                    return Some((index, format!("{service} is already part of this incident")));
                }
            }
            if best.is_none()
                && let Some((member, neighbour)) = involved.iter().find_map(|service| {
                    incident
                        .services
                        .iter()
                        .find(|s| graph.adjacent(service, s))
                        .map(|s| (*service, s.as_str()))
                })
            {
                let how = if graph.calls(member, neighbour) {
                    format!("{member} calls {neighbour}, which is part of this incident")
                } else {
                    format!("{member} is called by {neighbour}, which is part of this incident")
                };
                best = Some((index, how));
            }
        }
        best
    }

    fn open(&mut self, signal: Signal, graph: &Graph, now_ms: i64) {
        let id = incident_id(&signal);
        let title = format!("{}: {}", signal.service, headline(&signal));
        let mut incident = Incident {
            id: id.clone(),
            state: IncidentState::Open,
            title,
            opened_at_ms: now_ms,
            updated_at_ms: now_ms,
            acknowledged_at_ms: None,
            resolved_at_ms: None,
            last_active_ms: now_ms,
            services: vec![signal.service.clone()],
            root_cause: Vec::new(),
            signals: Vec::new(),
            timeline: Vec::new(),
            revision: 0,
            signals_dropped: 0,
            window_causes: Vec::new(),
            severity: Default::default(),
        };
        incident.note(
            now_ms,
            "opened",
            format!("opened by a strong signal: {}", signal.why),
        );
        incident.signals.push(Member {
            joined_at_ms: now_ms,
            reason: "opened the incident".into(),
            starts: 1,
            signal,
        });
        self.incidents.push(incident);
        let index = self.incidents.len() - 1;
        self.pull_recent_context(index, graph, now_ms);
        self.rerank(index, graph, now_ms);
    }

    /// Changes and weak signals shortly before the opening join as context.
    fn pull_recent_context(&mut self, index: usize, graph: &Graph, now_ms: i64) {
        let since = self.incidents[index].opened_at_ms - self.config.lookback_ms;
        let mut kept = VecDeque::new();
        while let Some(signal) = self.recent.pop_front() {
            let incident = &self.incidents[index];
            let related = incident
                .services
                .iter()
                .any(|s| *s == signal.service || graph.adjacent(s, &signal.service));
            if related && signal.detected_ms >= since {
                let reason = format!(
                    "{} {} s before the incident opened, on {} (related by the dependency graph or the same service)",
                    if signal.is_change() {
                        "a change"
                    } else {
                        "a weak signal"
                    },
                    (incident.opened_at_ms - signal.detected_ms).max(0) / 1000,
                    signal.service
                );
                let incident = &mut self.incidents[index];
                incident.add_service(&signal.service);
                incident.note(now_ms, "signal", format!("{}: {}", reason, signal.why));
                incident.signals.push(Member {
                    joined_at_ms: now_ms,
                    reason,
                    starts: 1,
                    signal,
                });
            } else {
                kept.push_back(signal);
            }
        }
        self.recent = kept;
    }

    fn join(&mut self, index: usize, signal: Signal, reason: String, graph: &Graph, now_ms: i64) {
        let max = self.config.max_signals_per_incident;
        let incident = &mut self.incidents[index];
        if incident.signals.len() >= max {
            incident.signals_dropped += 1;
            incident.touch(now_ms);
            self.changed.insert(incident.id.clone());
            return;
        }
        incident.add_service(&signal.service);
        if let Some(peer) = &signal.peer
            && signal.weight == Weight::Strong
        {
            incident.add_service(peer);
        }
        if signal.is_active() {
            incident.last_active_ms = now_ms;
        }
        incident.note(now_ms, "signal", format!("{reason}: {}", signal.why));
        incident.signals.push(Member {
            signal,
            joined_at_ms: now_ms,
            reason,
            starts: 1,
        });
        self.rerank(index, graph, now_ms);
    }

    fn update_member(&mut self, index: usize, signal: Signal, graph: &Graph, now_ms: i64) {
        let incident = &mut self.incidents[index];
        let Some(position) = incident
            .signals
            .iter()
            .position(|m| m.signal.key == signal.key)
        else {
            return;
        };
        let member = &mut incident.signals[position];
        let was_active = member.signal.is_active();
        let note = match (was_active, signal.is_active()) {
            (false, true) => {
                member.starts += 1;
                Some((
                    "flap",
                    format!(
                        "{} started again ({} times in this incident); kept here instead of opening another incident",
                        signal.key, member.starts
                    ),
                ))
            }
            (true, false) => Some(("signal", format!("ended: {}", signal.why))),
            (false, false) if signal.detected_ms > member.signal.detected_ms => {
                // a point event (a restart, a log signal) happening again
                member.starts += 1;
                Some(("signal", format!("again: {}", signal.why)))
            }
            _ => None,
        };
        // a new start or a repeated point event is activity; an end is not
        let activity = match (was_active, signal.is_active()) {
            (_, true) => true,
            (true, false) => false,
            (false, false) => note.is_some(),
        };
        member.signal = signal;
        if activity {
            incident.last_active_ms = now_ms;
        }
        if let Some((event, detail)) = note {
            incident.note(now_ms, event, detail);
        }
        self.rerank(index, graph, now_ms);
    }

    /// Hands in the window ranking computed at the edge for an unresolved
    /// incident, and ranks again with it. Unknown or resolved: ignored.
    pub fn set_window_causes(
        &mut self,
        id: &str,
        causes: Vec<crate::incident::WindowCause>,
        graph: &Graph,
        now_ms: i64,
    ) {
        let Some(index) = self
            .incidents
            .iter()
            .position(|i| i.id == id && !i.is_resolved())
        else {
            return;
        };
        if self.incidents[index].window_causes == causes {
            return;
        }
        self.incidents[index].window_causes = causes;
        self.rerank(index, graph, now_ms);
    }

    fn rerank(&mut self, index: usize, graph: &Graph, now_ms: i64) {
        let incident = &mut self.incidents[index];
        let ranking = rank::rank(incident, graph);
        if ranking.first().map(|c| &c.service) != incident.root_cause.first().map(|c| &c.service)
            && let Some(top) = ranking.first()
        {
            incident.note(
                now_ms,
                "ranked",
                format!(
                    "most likely root cause now {} (score {:.2})",
                    top.service, top.score
                ),
            );
        }
        incident.root_cause = ranking;
        let (severity, why) = crate::severity::assess(incident, &self.config.severity);
        if severity > incident.severity {
            incident.severity = severity;
            incident.note(
                now_ms,
                "severity",
                format!("severity {}: {why}", severity.as_str()),
            );
        }
        if let Some(title) = title(incident) {
            incident.title = title;
        }
        incident.touch(now_ms);
        self.changed.insert(incident.id.clone());
    }

    /// Writes a note on an incident's timeline (`event` says what kind:
    /// `action`, `escalated`, ...), from outside the analysis.
    pub fn annotate(
        &mut self,
        id: &str,
        event: &str,
        detail: &str,
        now_ms: i64,
    ) -> Result<&Incident, LifecycleError> {
        let index = self
            .incidents
            .iter()
            .position(|i| i.id == id)
            .ok_or(LifecycleError::NotFound)?;
        let incident = &mut self.incidents[index];
        incident.note(now_ms, event, detail.to_owned());
        incident.touch(now_ms);
        self.changed.insert(id.to_owned());
        Ok(&self.incidents[index])
    }

    fn remember(&mut self, signal: Signal) {
        if self.recent.len() >= MAX_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(signal);
    }

    fn forget_old_resolved(&mut self) {
        let resolved = self.incidents.iter().filter(|i| i.is_resolved()).count();
        let mut excess = resolved.saturating_sub(self.config.max_resolved_kept);
        if excess == 0 {
            return;
        }
        self.incidents.retain(|i| {
            if excess > 0 && i.is_resolved() {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("no such incident")]
    NotFound,
    #[error("an incident that is {from} cannot become {to}")]
    InvalidTransition {
        from: &'static str,
        to: &'static str,
    },
}

/// Unique across restarts: the opening time and the opening signal.
fn incident_id(signal: &Signal) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in signal.key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("inc-{:x}-{:06x}", signal.detected_ms, hash & 0xff_ffff)
}

/// The top-ranked service and its strongest own signal: the title follows
/// the ranking, so it names the likely cause rather than the first symptom.
fn title(incident: &Incident) -> Option<String> {
    let top = &incident.root_cause.first()?.service;
    let strongest = incident
        .own_signals(top)
        .filter(|s| !s.is_change())
        .max_by(|a, b| {
            (a.weight, a.is_active(), a.score)
                .partial_cmp(&(b.weight, b.is_active(), b.score))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .or_else(|| incident.own_signals(top).next())?;
    Some(format!("{top}: {}", headline(strongest)))
}

fn headline(signal: &Signal) -> String {
    let metric = signal.metric.replace('_', " ");
    match (&signal.peer, signal.kind) {
        (Some(peer), _) => format!("calls to {peer}: {metric} anomaly"),
        (None, crate::signal::SignalKind::MetricAnomaly) => format!("{metric} anomaly"),
        (None, kind) => serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default(),
    }
}
