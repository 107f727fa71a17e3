//! The evidence of an incident: every item a summary may cite, each with a
//! stable id (the same signal has the same id on every read, across
//! restarts), redacted, and ordered by how much it matters so that a
//! budget trims from the end, never mid-item.

use aiops_analysis::{Incident, SignalKind, Weight};
use aiops_playbooks::ActionRecord;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::redact::Redactor;

/// One thing a summary may cite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceItem {
    /// `ev-` and 12 hex digits of what it is about.
    pub id: String,
    /// `ranking`, `signal`, `change`, `log`, `action`.
    pub kind: String,
    pub service: String,
    /// One line, redacted.
    pub text: String,
    /// Unix ms it happened (or was ranked).
    pub at_ms: i64,
    /// Example log lines (redacted), for log evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    /// Higher first.
    #[serde(skip)]
    pub priority: u32,
}

/// Example lines of a log template the incident holds, keyed by its signal.
#[derive(Debug, Clone, Default)]
pub struct LogExamples {
    /// (signal key, example lines).
    pub by_signal: Vec<(String, Vec<String>)>,
}

/// Items kept at most.
pub const MAX_EVIDENCE: usize = 60;
/// Characters of one item's text at most.
const MAX_TEXT: usize = 400;

pub fn id_of(what: &str) -> String {
    let d = Sha256::digest(what.as_bytes());
    let hex: String = d.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("ev-{hex}")
}

fn clip(text: &str) -> String {
    text_clip::clip(text, MAX_TEXT)
}

/// The incident's evidence, most important first, redacted.
pub fn gather(
    incident: &Incident,
    actions: &[ActionRecord],
    logs: &LogExamples,
    redactor: &Redactor,
) -> Vec<EvidenceItem> {
    let clean = |t: &str| clip(&redactor.redact(t));
    let mut out = Vec::new();
    let top: Vec<&str> = incident
        .root_cause
        .iter()
        .map(|c| c.service.as_str())
        .collect();
    for (rank, cause) in incident.root_cause.iter().enumerate() {
        out.push(EvidenceItem {
            id: id_of(&format!("{}/rank/{}", incident.id, cause.service)),
            kind: "ranking".into(),
            service: cause.service.clone(),
            text: clean(&format!(
                "ranked #{} as the likely root cause (score {:.2}): {}",
                rank + 1,
                cause.score,
                cause.reasons.join("; ")
            )),
            at_ms: incident.updated_at_ms,
            lines: Vec::new(),
            priority: 1_000 - u32::try_from(rank).unwrap_or(99) * 100,
        });
    }
    for member in &incident.signals {
        let s = &member.signal;
        let kind = match s.kind {
            SignalKind::Deploy | SignalKind::Restart => "change",
            SignalKind::NewLogTemplate | SignalKind::LogRateShift | SignalKind::LogErrorBurst => {
                "log"
            }
            _ => "signal",
        };
        let rank_bonus = top
            .iter()
            .position(|t| *t == s.service)
            .map_or(0, |r| 300 - 100 * r.min(2) as u32);
        let lines = logs
            .by_signal
            .iter()
            .find(|(key, _)| *key == s.key)
            .map(|(_, lines)| lines.iter().take(3).map(|l| clean(l)).collect())
            .unwrap_or_default();
        out.push(EvidenceItem {
            id: id_of(&format!("{}/{}/{}", incident.id, s.key, s.onset_ms)),
            kind: kind.into(),
            service: s.service.clone(),
            text: clean(&s.why),
            at_ms: s.onset_ms,
            lines,
            priority: rank_bonus
                + if s.weight == Weight::Strong { 200 } else { 0 }
                + if s.is_change() { 150 } else { 0 }
                + (s.score * 100.0) as u32,
        });
    }
    for a in actions {
        out.push(EvidenceItem {
            id: id_of(&format!("{}/action/{}", incident.id, a.id)),
            kind: "action".into(),
            service: a.service.clone().unwrap_or_default(),
            text: clean(&format!(
                "{} {} {} ({}): {}",
                a.playbook,
                a.action,
                a.state.as_str(),
                a.service.as_deref().unwrap_or("-"),
                a.reason
            )),
            at_ms: a.updated_ms,
            lines: Vec::new(),
            priority: 250,
        });
    }
    // the same signal reported twice (a flap) is one item
    out.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.at_ms.cmp(&b.at_ms))
            .then(a.id.cmp(&b.id))
    });
    let mut seen = std::collections::HashSet::new();
    out.retain(|e| seen.insert(e.id.clone()));
    out.truncate(MAX_EVIDENCE);
    out
}

/// A digest of what matters in the evidence: a summary is written again
/// only when it changed materially (new items, a new ranking), not when
/// numbers in the same items move.
pub fn material_hash(items: &[EvidenceItem]) -> String {
    let mut ids: Vec<&str> = items
        .iter()
        .filter(|e| e.kind != "action")
        .map(|e| e.id.as_str())
        .collect();
    ids.sort_unstable();
    let ranking: Vec<String> = items
        .iter()
        .filter(|e| e.kind == "ranking")
        .take(3)
        .map(|e| e.service.clone())
        .collect();
    let d = Sha256::digest(format!("{}|{}", ids.join(","), ranking.join(",")).as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
