//! Summaries at the edge: each incident's evidence (with the example lines
//! of its log templates), redacted, and the summary of it: the LLM's when
//! one wrote it for this evidence, else the deterministic one.

use std::time::Duration;

use aiops_analysis::{Incident, IncidentState, SignalKind};
use aiops_summarise::{Budgets, ChatClient, EvidenceItem, LogExamples, Summary, SummaryWriter};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::state::AppState;
use crate::telemetry::EngineMetrics;

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
        .summary_writer
        .cached(&incident.id, &hash)
        .unwrap_or_else(|| aiops_summarise::deterministic(incident, &evidence, &hash, now));
    (evidence, summary)
}

/// The writer the configuration asks for, its metrics registered.
pub fn writer(config: &Config, metrics: &EngineMetrics) -> SummaryWriter {
    let redactor = aiops_summarise::Redactor {
        ip_addresses: config.redact_ip_addresses,
    };
    let (client, budgets) = match &config.llm {
        None => (None, Budgets::default()),
        Some(llm) => match ChatClient::new(llm.endpoint.clone()) {
            Ok(c) => (Some(c), llm.budgets.clone()),
            Err(e) => {
                // the URL was checked when the config was read; an HTTP
                // client that cannot be built leaves deterministic summaries
                tracing::error!(error = %e, "no llm client; summaries stay deterministic");
                (None, llm.budgets.clone())
            }
        },
    };
    let writer = SummaryWriter::new(client, budgets, redactor);
    metrics.register(|r| writer.metrics.register(r));
    writer
}

/// How often unresolved incidents are looked at even without a change.
const SWEEP_EVERY: Duration = Duration::from_secs(15);

/// With a model configured: writes the summary of every unresolved
/// incident whose evidence changed, one call at a time, woken by incident
/// changes. The summaries are only shown and sent; nothing acts on them.
pub fn spawn(state: &AppState, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    if !state.summary_writer.configured() {
        return None;
    }
    let state = state.clone();
    let mut changes = state.events.subscribe();
    Some(tokio::spawn(async move {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = sweep.tick() => {}
                changed = changes.recv() => {
                    if let Err(tokio::sync::broadcast::error::RecvError::Closed) = changed {
                        return;
                    }
                }
                _ = stop.changed() => return,
            }
            write_due(&state).await;
        }
    }))
}

/// Writes the summaries that are due; returns how many were written.
pub async fn write_due(state: &AppState) -> usize {
    let incidents: Vec<Incident> = state
        .analysis
        .lock()
        .correlator()
        .incidents()
        .iter()
        .filter(|i| i.state != IncidentState::Resolved)
        .cloned()
        .collect();
    let mut written = 0;
    for incident in incidents {
        let actions = state.remediation.records(Some(&incident.id), 50);
        let logs = log_examples(state, &incident);
        let evidence = aiops_summarise::gather(&incident, &actions, &logs, &state.redactor);
        let hash = aiops_summarise::material_hash(&evidence);
        if !state.summary_writer.wants(&incident.id, &hash) {
            continue;
        }
        let now = state.clock.now_ms();
        let (summary, report) = state
            .summary_writer
            .write(&incident, &evidence, &hash, now)
            .await;
        tracing::info!(
            incident = %incident.id,
            source = %summary.source,
            fallback = summary.fallback.as_deref().unwrap_or(""),
            calls = report.calls,
            prompt_tokens = report.prompt_tokens,
            completion_tokens = report.completion_tokens,
            "summary written"
        );
        written += 1;
        let _ = state.events.send(incident.id.clone());
    }
    written
}
