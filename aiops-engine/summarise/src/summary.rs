//! The summary a responder reads first: what is broken, since when, the
//! likely cause, the evidence (by id), what to try. An LLM writes it when
//! one is configured; this deterministic one is always there, from the same
//! evidence, and marked as such.

use aiops_analysis::{Incident, IncidentState};
use serde::{Deserialize, Serialize};

use crate::evidence::EvidenceItem;

/// The prompts' version: every summary records the one behind it.
pub const PROMPT_VERSION: &str = "incident-summary/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub text: String,
    pub probable_cause: String,
    /// Ids of the incident's evidence it rests on; each exists.
    pub evidence_ids: Vec<String>,
    pub next_steps: Vec<String>,
    /// `llm` or `deterministic`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub prompt_version: String,
    /// 0 to 1, as the writer judged it.
    pub confidence: f64,
    /// Unix ms written.
    pub at_ms: i64,
    /// The evidence digest it was written from.
    pub evidence_hash: String,
    /// Why this deterministic summary stands in for the model's (timeout,
    /// refused answer, budget); absent when no model is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

fn hhmm(ms: i64) -> String {
    let s = ms.div_euclid(1000);
    let day = s.rem_euclid(86_400);
    format!("{:02}:{:02} UTC", day / 3600, day % 3600 / 60)
}

/// The summary from the evidence alone, citing only items that exist.
pub fn deterministic(
    incident: &Incident,
    evidence: &[EvidenceItem],
    evidence_hash: &str,
    now_ms: i64,
) -> Summary {
    let top = incident.root_cause.first();
    let cause_service = top.map_or("", |c| c.service.as_str());
    let own: Vec<&EvidenceItem> = evidence
        .iter()
        .filter(|e| e.service == cause_service && e.kind != "ranking" && e.kind != "action")
        .take(3)
        .collect();
    let ranking = evidence
        .iter()
        .find(|e| e.kind == "ranking" && e.service == cause_service);
    let changes: Vec<&EvidenceItem> = evidence
        .iter()
        .filter(|e| e.kind == "change")
        .take(2)
        .collect();
    let mut cited: Vec<String> = ranking.iter().map(|e| e.id.clone()).collect();
    cited.extend(own.iter().map(|e| e.id.clone()));
    for c in &changes {
        if !cited.contains(&c.id) {
            cited.push(c.id.clone());
        }
    }
    let state = match incident.state {
        IncidentState::Open => "open",
        IncidentState::Acknowledged => "acknowledged",
        IncidentState::Mitigated => "mitigated",
        IncidentState::Resolved => "resolved",
    };
    let (probable_cause, mut text) = match top {
        Some(c) => (
            format!("{} (score {:.2})", c.service, c.score),
            format!(
                "{} incident ({}, since {}): {} is the likely root cause.",
                incident.severity.as_str(),
                state,
                hhmm(incident.opened_at_ms),
                c.service
            ),
        ),
        None => (
            "not ranked yet".to_owned(),
            format!(
                "{} incident ({}, since {}) across {}; no root cause ranked yet.",
                incident.severity.as_str(),
                state,
                hhmm(incident.opened_at_ms),
                incident.services.join(", ")
            ),
        ),
    };
    for e in &own {
        text.push_str(&format!(" {}.", e.text.trim_end_matches('.')));
    }
    if let Some(c) = top
        && let Some(reason) = c.reasons.get(1)
    {
        text.push_str(&format!(" Also: {}.", reason.trim_end_matches('.')));
    }
    for c in &changes {
        text.push_str(&format!(" Change: {}.", c.text.trim_end_matches('.')));
    }
    let affected: Vec<&str> = incident
        .services
        .iter()
        .map(String::as_str)
        .filter(|s| *s != cause_service)
        .collect();
    if !affected.is_empty() {
        text.push_str(&format!(" Also affected: {}.", affected.join(", ")));
    }
    let mut next_steps = Vec::new();
    if !cause_service.is_empty() {
        if changes.iter().any(|c| c.service == cause_service) {
            next_steps.push(format!("Compare {cause_service}'s new release with the one before, and roll back if it is the cause."));
        }
        next_steps.push(format!(
            "Look at {cause_service}'s error and latency panels and its recent log templates."
        ));
        if incident.services.len() > 1 {
            next_steps.push(format!(
                "Check whether the callers of {cause_service} recover once it does."
            ));
        }
    }
    next_steps.push("Acknowledge the incident so others know it is being worked.".into());
    Summary {
        text,
        probable_cause,
        evidence_ids: cited,
        next_steps,
        source: "deterministic".into(),
        model: None,
        prompt_version: PROMPT_VERSION.into(),
        confidence: top.map_or(0.0, |c| c.score.clamp(0.0, 1.0)),
        at_ms: now_ms,
        evidence_hash: evidence_hash.to_owned(),
        fallback: None,
    }
}
