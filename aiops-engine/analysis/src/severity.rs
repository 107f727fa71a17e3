//! How bad an incident is, from its signals: a service down or crashing,
//! errors a user sees, or a critical alert make it critical; any other
//! strong signal a warning; context alone is information. An incident's
//! severity only rises: the worst it has been is what people triage by.

use serde::{Deserialize, Serialize};

use crate::incident::Incident;
use crate::signal::{SignalKind, Weight};

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What makes an incident critical (`severity:` in `rules/detectors.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeverityConfig {
    /// A service's own error ratio at which users clearly see failures.
    pub critical_error_ratio: f64,
    /// Services whose role makes any strong signal of theirs critical
    /// (the entry point, the payment path).
    pub critical_services: Vec<String>,
}

impl Default for SeverityConfig {
    fn default() -> Self {
        SeverityConfig {
            critical_error_ratio: 0.05,
            critical_services: Vec::new(),
        }
    }
}

/// The severity the incident's signals call for now (not counting what it
/// was before), with the reason.
pub fn assess(incident: &Incident, config: &SeverityConfig) -> (Severity, String) {
    let mut best = (Severity::Info, "only context signals".to_owned());
    for member in &incident.signals {
        let s = &member.signal;
        if s.weight != Weight::Strong {
            continue;
        }
        let critical = match s.kind {
            SignalKind::Restart => Some(format!("{} restarted: {}", s.service, s.why)),
            SignalKind::Alert => s
                .labels
                .get("severity")
                .filter(|v| matches!(v.as_str(), "critical" | "page"))
                .map(|v| format!("alert {} is {v}", s.metric)),
            SignalKind::MetricAnomaly if s.metric == "up" => Some(format!("{} is down", s.service)),
            SignalKind::MetricAnomaly
                if s.peer.is_none()
                    && s.metric == "error_ratio"
                    && s.value.is_some_and(|v| v >= config.critical_error_ratio) =>
            {
                Some(format!(
                    "{} fails {:.0}% of its requests",
                    s.service,
                    s.value.unwrap_or(0.0) * 100.0
                ))
            }
            _ if config.critical_services.contains(&s.service) => Some(format!(
                "{} is a critical service and {} is anomalous",
                s.service,
                s.metric.replace('_', " ")
            )),
            _ => None,
        };
        match critical {
            Some(why) => return (Severity::Critical, why),
            None if best.0 < Severity::Warning => {
                best = (
                    Severity::Warning,
                    format!(
                        "{}: {} (strong signal)",
                        s.service,
                        s.metric.replace('_', " ")
                    ),
                );
            }
            None => {}
        }
    }
    best
}
