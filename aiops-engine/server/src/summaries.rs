//! Summaries at the edge: each incident's evidence (with the example lines
//! of its log templates), redacted, and the summary of it: the LLM's when
//! one wrote it for this evidence, else the deterministic one.

use aiops_analysis::{Incident, SignalKind};
use aiops_summarise::{EvidenceItem, LogExamples, Summary};

use crate::state::AppState;

/// Example lines kept per log template in the evidence.
const LINES_PER_TEMPLATE: usize = 3;

/// The example lines of the log templates the incident holds.
pub fn log_examples(state: &AppState, incident: &Incident) -> LogExamples {
    let analysis = state.analysis.lock();
    let templates = analysis.templates();
    let mut by_signal = Vec::new();
    for s in incident.signals.iter().map(|m| &m.signal) {
        if !matches!(
            s.kind,
            SignalKind::NewLogTemplate | SignalKind::LogRateShift
        ) {
            continue;
        }
        let (Some(id), Some(miner)) = (s.key.split('/').nth(2), templates.miner(&s.service)) else {
            continue;
        };
        if let Some(info) = miner
            .templates()
            .find(|t| t.id.to_string().to_lowercase() == id)
        {
            by_signal.push((
                s.key.clone(),
                info.exemplars
                    .iter()
                    .take(LINES_PER_TEMPLATE)
                    .map(|e| e.to_string())
                    .collect(),
            ));
        }
    }
    LogExamples { by_signal }
}

/// The incident's evidence and its summary.
pub fn of(state: &AppState, incident: &Incident) -> (Vec<EvidenceItem>, Summary) {
    let actions = state.remediation.records(Some(&incident.id), 50);
    let logs = log_examples(state, incident);
    let evidence = aiops_summarise::gather(incident, &actions, &logs, &state.redactor);
    let hash = aiops_summarise::material_hash(&evidence);
    let now = state.clock.now_ms();
    let summary = state
        .summaries
        .lock()
        .get(&incident.id)
        .filter(|s| s.evidence_hash == hash)
        .cloned()
        .unwrap_or_else(|| aiops_summarise::deterministic(incident, &evidence, &hash, now));
    (evidence, summary)
}
