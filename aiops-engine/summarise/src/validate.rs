//! The model's answer, checked: JSON of the asked shape, every cited id in
//! the evidence it was given, a cause naming a service of the incident, a
//! confidence between 0 and 1. Anything else is refused with the reasons,
//! which a repair attempt sends back to the model.

use serde::Deserialize;

use crate::evidence::EvidenceItem;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelSummary {
    pub summary: String,
    pub probable_cause: String,
    #[serde(default)]
    pub evidence_ids: Vec<String>,
    #[serde(default)]
    pub next_steps: Vec<String>,
    #[serde(default)]
    pub confidence: f64,
}

/// Text lengths the answer may have at most.
const MAX_SUMMARY: usize = 4_000;
const MAX_STEP: usize = 500;
const MAX_STEPS: usize = 10;

/// The JSON object in the answer: models sometimes wrap it in prose or a
/// code fence; the first `{` to the last `}` is what is read.
pub(crate) fn json_part(answer: &str) -> &str {
    match (answer.find('{'), answer.rfind('}')) {
        (Some(a), Some(b)) if b > a => &answer[a..=b],
        _ => answer,
    }
}

/// The answer, if it holds; the reasons otherwise.
pub fn check(
    answer: &str,
    evidence: &[EvidenceItem],
    services: &[String],
) -> Result<ModelSummary, Vec<String>> {
    let parsed: ModelSummary = serde_json::from_str(json_part(answer))
        .map_err(|e| vec![format!("the answer is not the JSON asked for: {e}")])?;
    let mut problems = Vec::new();
    if parsed.summary.trim().is_empty() || parsed.summary.len() > MAX_SUMMARY {
        problems.push(format!("\"summary\" must be 1 to {MAX_SUMMARY} characters"));
    }
    let unknown: Vec<&String> = parsed
        .evidence_ids
        .iter()
        .filter(|id| !evidence.iter().any(|e| &e.id == *id))
        .collect();
    if !unknown.is_empty() {
        problems.push(format!(
            "evidence_ids not in the evidence: {}",
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if parsed.evidence_ids.is_empty() {
        problems.push("cite at least one evidence id".into());
    }
    let cause = parsed.probable_cause.to_lowercase();
    if !services.iter().any(|s| cause.contains(&s.to_lowercase())) {
        problems.push(format!(
            "\"probable_cause\" names none of the incident's services ({})",
            services.join(", ")
        ));
    }
    if !(0.0..=1.0).contains(&parsed.confidence) || parsed.confidence.is_nan() {
        problems.push("\"confidence\" must be between 0 and 1".into());
    }
    if parsed.next_steps.len() > MAX_STEPS || parsed.next_steps.iter().any(|s| s.len() > MAX_STEP) {
        problems.push(format!(
            "at most {MAX_STEPS} next steps of at most {MAX_STEP} characters"
        ));
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(problems)
    }
}
