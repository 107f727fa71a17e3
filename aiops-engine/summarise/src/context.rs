//! What the model is told: the incident's facts and its evidence, bounded
//! by a token estimate and trimmed by priority, whole items only.

use aiops_analysis::Incident;
use serde::Serialize;

use crate::evidence::EvidenceItem;

/// Characters per token, the usual estimate for English text and JSON.
const CHARS_PER_TOKEN: usize = 4;

/// A rough token count of a text (the budget's unit).
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(CHARS_PER_TOKEN)
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentFacts {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub state: String,
    pub opened: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RankedService {
    pub service: String,
    pub score: String,
}

/// The context of the incident summary prompt.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryContext {
    pub incident: IncidentFacts,
    pub services: Vec<String>,
    pub ranking: Vec<RankedService>,
    pub evidence: Vec<EvidenceItem>,
    /// Items left out for the budget.
    pub trimmed: usize,
}

fn utc(ms: i64) -> String {
    let s = ms.div_euclid(1000);
    let day = s.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02} UTC",
        day / 3600,
        day % 3600 / 60,
        day % 60
    )
}

/// The context, with as much evidence as `max_tokens` allows: the items
/// come most important first, and whole items are dropped from the end.
pub fn summary_context(
    incident: &Incident,
    evidence: &[EvidenceItem],
    max_tokens: usize,
) -> SummaryContext {
    let facts = IncidentFacts {
        id: incident.id.clone(),
        title: incident.title.clone(),
        severity: incident.severity.as_str().to_owned(),
        state: incident.state.as_str().to_owned(),
        opened: utc(incident.opened_at_ms),
    };
    let ranking: Vec<RankedService> = incident
        .root_cause
        .iter()
        .map(|c| RankedService {
            service: c.service.clone(),
            score: format!("{:.2}", c.score),
        })
        .collect();
    // what every prompt spends before the evidence (instructions, facts)
    let mut used = 400 + estimate_tokens(&incident.title) + 10 * ranking.len();
    let mut kept = Vec::new();
    for item in evidence {
        let cost = estimate_tokens(&item.text)
            + item
                .lines
                .iter()
                .map(|l| estimate_tokens(l) + 4)
                .sum::<usize>()
            + 12;
        // by priority: once one does not fit, the rest (less important) go too
        if used + cost > max_tokens {
            break;
        }
        used += cost;
        kept.push(item.clone());
    }
    SummaryContext {
        trimmed: evidence.len() - kept.len(),
        incident: facts,
        services: incident.services.clone(),
        ranking,
        evidence: kept,
    }
}
