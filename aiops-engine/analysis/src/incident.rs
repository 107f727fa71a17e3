//! Incidents: a group of signals with a lifecycle, a timeline that records
//! why each signal joined, and a root-cause ranking.

use serde::{Deserialize, Serialize};

use crate::signal::Signal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    Open,
    Acknowledged,
    Mitigated,
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Acknowledged => "acknowledged",
            IncidentState::Mitigated => "mitigated",
            IncidentState::Resolved => "resolved",
        }
    }
}

/// A signal as part of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub signal: Signal,
    pub joined_at_ms: i64,
    /// Why it was grouped here.
    pub reason: String,
    /// Times this signal started within the incident (flapping shows as > 1).
    pub starts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub ts_ms: i64,
    /// `opened`, `signal`, `flap`, `acknowledged`, `mitigated`, `resolved`, `reopened`, `ranked`.
    pub event: String,
    pub detail: String,
}

/// One ranked candidate for the root cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    pub service: String,
    /// Share of the total score, 0..=1.
    pub score: f64,
    pub reasons: Vec<String>,
    /// The service's strongest signals (metrics, templates), best first.
    pub evidence: Vec<String>,
}

/// A service's robust deviation over the incident window against its own
/// pre-onset window (BARO / n-sigma family), computed at the edge over the
/// recorded history and handed in: one input of the ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowCause {
    pub service: String,
    /// Relative to the most deviating service of the window, 0..=1.
    pub score: f64,
    /// The deviating metrics, strongest first, with their numbers.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub state: IncidentState,
    pub title: String,
    pub opened_at_ms: i64,
    pub updated_at_ms: i64,
    #[serde(default)]
    pub acknowledged_at_ms: Option<i64>,
    #[serde(default)]
    pub resolved_at_ms: Option<i64>,
    /// Last time a member signal was active.
    pub last_active_ms: i64,
    pub services: Vec<String>,
    pub root_cause: Vec<Cause>,
    pub signals: Vec<Member>,
    pub timeline: Vec<TimelineEntry>,
    /// Increases with every change, so a stale write never wins.
    pub revision: i64,
    /// Signals not kept because the incident held its maximum.
    #[serde(default)]
    pub signals_dropped: u64,
    /// The window ranking the edge last computed, best first.
    #[serde(default)]
    pub window_causes: Vec<WindowCause>,
    /// The worst the incident has been (it only rises).
    #[serde(default)]
    pub severity: crate::severity::Severity,
}

impl Incident {
    pub fn is_resolved(&self) -> bool {
        self.state == IncidentState::Resolved
    }

    pub fn active_signals(&self) -> impl Iterator<Item = &Signal> {
        self.signals
            .iter()
            .map(|m| &m.signal)
            .filter(|s| s.is_active())
    }

    /// A service's own signals (not those naming it as a peer).
    pub fn own_signals<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a Signal> + 'a {
        self.signals
            .iter()
            .map(|m| &m.signal)
            .filter(move |s| s.service == service)
    }

    pub(crate) fn note(&mut self, ts_ms: i64, event: &str, detail: impl Into<String>) {
        // bounded: a long flapping incident keeps its first and latest entries
        const MAX_TIMELINE: usize = 500;
        if self.timeline.len() >= MAX_TIMELINE {
            self.timeline.remove(1);
        }
        self.timeline.push(TimelineEntry {
            ts_ms,
            event: event.to_owned(),
            detail: detail.into(),
        });
    }

    pub(crate) fn touch(&mut self, now_ms: i64) {
        self.updated_at_ms = self.updated_at_ms.max(now_ms);
        self.revision += 1;
    }

    pub(crate) fn add_service(&mut self, service: &str) {
        if !self.services.iter().any(|s| s == service) {
            self.services.push(service.to_owned());
            self.services.sort();
        }
    }
}
