//! Writing an incident's summary with a model, safely: at most one call per
//! incident and evidence digest (a cache), no sooner than a set interval
//! after the last one for that incident, within token budgets per incident
//! and per hour; the answer checked against the evidence, one repair
//! attempt, then the deterministic summary marked with why. A model's
//! answer is text to show: nothing here or anywhere acts on it.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use aiops_analysis::Incident;
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use serde_json::{Value, json};

use crate::context::{estimate_tokens, summary_context};
use crate::digest::LogDigest;
use crate::evidence::EvidenceItem;
use crate::llm::{ChatClient, Role, Turn};
use crate::prompts::Prompt;
use crate::redact::Redactor;
use crate::summary::{PROMPT_VERSION, Summary, deterministic};
use crate::validate;

/// Limits on what summaries may cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Budgets {
    /// Tokens of the prompt's context at most (evidence trimmed to fit).
    pub context_tokens: usize,
    /// Tokens (prompt and answer) one incident may use over its life.
    pub tokens_per_incident: u64,
    /// Tokens all incidents together may use in any hour.
    pub tokens_per_hour: u64,
    /// The shortest time between two calls for one incident.
    pub min_interval: Duration,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            context_tokens: 3_000,
            tokens_per_incident: 24_000,
            tokens_per_hour: 200_000,
            min_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// llm, repaired, invalid, failed, over_budget, cached
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// prompt or completion
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// timeout, transport, status, malformed, oversized, invalid, config, other
    pub reason: &'static str,
}

/// The writer's metrics, registered under the engine's prefix as
/// `llm_*`.
#[derive(Debug, Clone)]
pub struct LlmMetrics {
    pub calls: Counter,
    pub tokens: Family<TokenLabels, Counter>,
    pub failures: Family<FailureLabels, Counter>,
    pub summaries: Family<OutcomeLabels, Counter>,
    pub cache_hits: Counter,
    pub budget_refusals: Counter,
    pub call_duration: Histogram,
}

impl Default for LlmMetrics {
    fn default() -> Self {
        Self {
            calls: Counter::default(),
            tokens: Family::default(),
            failures: Family::default(),
            summaries: Family::default(),
            cache_hits: Counter::default(),
            budget_refusals: Counter::default(),
            call_duration: Histogram::new([0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0]),
        }
    }
}

impl LlmMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "llm_calls",
            "Calls made to the model (each attempt of a repair counts)",
            self.calls.clone(),
        );
        registry.register(
            "llm_tokens",
            "Tokens the model reported, by prompt or completion",
            self.tokens.clone(),
        );
        registry.register(
            "llm_failures",
            "Calls that gave no usable answer, by reason",
            self.failures.clone(),
        );
        registry.register(
            "llm_summaries",
            "Summaries asked for, by outcome",
            self.summaries.clone(),
        );
        registry.register(
            "llm_cache_hits",
            "Summaries served from the cache (same incident, same evidence)",
            self.cache_hits.clone(),
        );
        registry.register(
            "llm_budget_refusals",
            "Calls not made because a token budget was spent",
            self.budget_refusals.clone(),
        );
        registry.register_with_unit(
            "llm_call_duration",
            "Duration of one call to the model",
            Unit::Seconds,
            self.call_duration.clone(),
        );
    }
}

/// What a summary cost, for the caller's log and the evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteReport {
    pub calls: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached: bool,
    pub latency: Duration,
}

#[derive(Debug, Clone)]
struct Written {
    hash: String,
    summary: Summary,
    at: Instant,
}

#[derive(Debug, Default)]
struct Ledger {
    /// The last summary per incident, for its evidence digest.
    last: HashMap<String, Written>,
    /// Tokens spent per incident.
    spent: HashMap<String, u64>,
    /// (when, tokens) of the last hour's calls.
    hour: VecDeque<(Instant, u64)>,
}

/// Incidents remembered at most (the oldest written are forgotten first).
const MAX_INCIDENTS: usize = 2_000;

/// The JSON schema of the answer, sent as the structured-output format.
/// The evidence ids are an enum: a server that follows the schema (Ollama
/// does, through a grammar) cannot cite what does not exist; the answer is
/// still checked, as other servers may not follow it.
///
/// The cause must open with one of the incident's services, most likely
/// first (a pattern, which a grammar follows too): the reader sees at once
/// which service is blamed, and a small model is kept on the evidence.
pub fn answer_schema(incident: &Incident, evidence: &[EvidenceItem]) -> Value {
    let mut services: Vec<&str> = incident
        .root_cause
        .iter()
        .map(|c| c.service.as_str())
        .collect();
    for s in &incident.services {
        if !services.contains(&s.as_str()) {
            services.push(s);
        }
    }
    let cause = if services.is_empty() {
        json!({"type": "string", "maxLength": 160})
    } else {
        let names: Vec<String> = services.iter().map(|s| regex::escape(s)).collect();
        json!({"type": "string", "pattern": format!("^({}) [^\"\\\\]{{0,150}}$", names.join("|"))})
    };
    let id = if evidence.is_empty() {
        json!({"type": "string"})
    } else {
        json!({"type": "string", "enum": evidence.iter().map(|e| e.id.as_str()).collect::<Vec<_>>()})
    };
    // bounded lengths: a small model otherwise repeats an item until it
    // runs out of tokens, and no reader wants more
    json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string", "maxLength": 400},
            "probable_cause": cause,
            "evidence_ids": {"type": "array", "items": id, "minItems": 1, "maxItems": 6},
            "next_steps": {"type": "array", "items": {"type": "string", "maxLength": 160}, "maxItems": 4},
            // a grid a grammar can follow (it cannot bound a number)
            "confidence": {"enum": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]}
        },
        "required": ["summary", "probable_cause", "evidence_ids", "next_steps", "confidence"]
    })
}

pub struct SummaryWriter {
    client: Option<ChatClient>,
    budgets: Budgets,
    redactor: Redactor,
    ledger: Mutex<Ledger>,
    pub metrics: LlmMetrics,
}

impl SummaryWriter {
    /// A writer; with no client every summary is the deterministic one.
    pub fn new(client: Option<ChatClient>, budgets: Budgets, redactor: Redactor) -> Self {
        Self {
            client,
            budgets,
            redactor,
            ledger: Mutex::default(),
            metrics: LlmMetrics::default(),
        }
    }

    pub fn configured(&self) -> bool {
        self.client.is_some()
    }

    /// The summary written for this incident and evidence digest, if any.
    pub fn cached(&self, incident_id: &str, hash: &str) -> Option<Summary> {
        self.ledger
            .lock()
            .last
            .get(incident_id)
            .filter(|w| w.hash == hash)
            .map(|w| w.summary.clone())
    }

    /// True when a call for this incident would be made now: a model is
    /// configured, the digest is new to it and the interval has passed.
    pub fn wants(&self, incident_id: &str, hash: &str) -> bool {
        if self.client.is_none() {
            return false;
        }
        match self.ledger.lock().last.get(incident_id) {
            None => true,
            Some(w) => w.hash != hash && w.at.elapsed() >= self.budgets.min_interval,
        }
    }

    /// The summary of the incident for this evidence: the model's when it
    /// answers well within budget, else the deterministic one with the
    /// reason in `fallback`.
    pub async fn write(
        &self,
        incident: &Incident,
        evidence: &[EvidenceItem],
        hash: &str,
        now_ms: i64,
    ) -> (Summary, WriteReport) {
        let started = Instant::now();
        let mut report = WriteReport::default();
        if let Some(summary) = self.cached(&incident.id, hash) {
            self.metrics.cache_hits.inc();
            self.count("cached");
            report.cached = true;
            return (summary, report);
        }
        let fallback = |reason: String| {
            let mut s = deterministic(incident, evidence, hash, now_ms);
            s.fallback = Some(reason);
            s
        };
        let Some(client) = &self.client else {
            return (deterministic(incident, evidence, hash, now_ms), report);
        };
        let context = summary_context(incident, evidence, self.budgets.context_tokens);
        let prompt = match crate::prompts::render("incident-summary", &context) {
            Ok(p) => p,
            Err(e) => {
                self.metrics
                    .failures
                    .get_or_create(&FailureLabels { reason: "config" })
                    .inc();
                return self.remember(incident, hash, fallback(e), report);
            }
        };
        let schema = answer_schema(incident, evidence);
        let services = &incident.services;
        let outcome = self
            .ask(
                client,
                Some(&incident.id),
                &prompt,
                &schema,
                |answer| validate::check(answer, evidence, services),
                &mut report,
            )
            .await;
        report.latency = started.elapsed();
        let summary = match outcome {
            Ok((parsed, how)) => {
                self.count(how);
                let model = client.endpoint().model.clone();
                self.summary_of_answer(parsed, model, hash, now_ms)
            }
            Err((how, why)) => {
                self.count(how);
                fallback(why)
            }
        };
        self.remember(incident, hash, summary, report)
    }

    /// The digest as the model writes it when one is configured and the
    /// digest names changes, citing them by id; else as it came, with the
    /// reason in `fallback` when the model's answer was not used. Digests
    /// are not cached (each window is written once) and spend at most half
    /// the hour's tokens.
    pub async fn write_digest(&self, mut digest: LogDigest) -> (LogDigest, WriteReport) {
        let started = Instant::now();
        let mut report = WriteReport::default();
        let Some(client) = &self.client else {
            return (digest, report);
        };
        if !digest.has_changes() {
            return (digest, report);
        }
        let context = json!({
            "service": digest.service,
            "window": format!("{} s", (digest.to_ms - digest.from_ms).max(0) / 1000),
            "templates": digest.changes,
        });
        let prompt = match crate::prompts::render("log-digest", &context) {
            Ok(p) => p,
            Err(e) => {
                digest.fallback = Some(e);
                return (digest, report);
            }
        };
        let ids: Vec<&str> = digest.changes.iter().map(|c| c.id.as_str()).collect();
        let schema = json!({
            "type": "object",
            "properties": {
                "summary": {"type": "string", "maxLength": 400},
                "evidence_ids": {"type": "array", "items": {"type": "string", "enum": ids}, "minItems": 1, "maxItems": 6}
            },
            "required": ["summary", "evidence_ids"]
        });
        let outcome = self
            .ask(
                client,
                None,
                &prompt,
                &schema,
                |answer| crate::digest::check_digest(answer, &digest),
                &mut report,
            )
            .await;
        report.latency = started.elapsed();
        match outcome {
            Ok((parsed, how)) => {
                self.count(how);
                digest.text = self.redactor.redact(&parsed.summary).into_owned();
                let mut cited = Vec::new();
                for id in parsed.evidence_ids {
                    if !cited.contains(&id) {
                        cited.push(id);
                    }
                }
                digest.evidence_ids = cited;
                digest.source = "llm".into();
                digest.model = Some(client.endpoint().model.clone());
            }
            Err((how, why)) => {
                self.count(how);
                digest.fallback = Some(why);
            }
        }
        (digest, report)
    }

    /// One answer of the model, checked by `check`: the call within the
    /// hour's budget and the incident's (`None` for calls about no
    /// incident), one repair with what was
    /// wrong, the tokens and failures counted. `Err` holds the outcome
    /// label (`over_budget`, `failed`, `invalid`) and why.
    async fn ask<T>(
        &self,
        client: &ChatClient,
        budget_key: Option<&str>,
        prompt: &Prompt,
        schema: &Value,
        check: impl Fn(&str) -> Result<T, Vec<String>>,
        report: &mut WriteReport,
    ) -> Result<(T, &'static str), (&'static str, String)> {
        let max_out = u64::from(client.endpoint().max_output_tokens);
        let estimate =
            (estimate_tokens(&prompt.system) + estimate_tokens(&prompt.user)) as u64 + max_out;
        if let Err(why) = self.reserve(budget_key, estimate) {
            self.metrics.budget_refusals.inc();
            return Err(("over_budget", why));
        }
        let mut reserved = estimate;
        let mut turns = vec![
            Turn {
                role: Role::System,
                content: prompt.system.clone(),
            },
            Turn {
                role: Role::User,
                content: prompt.user.clone(),
            },
        ];
        let mut outcome: Result<(T, &'static str), (&'static str, String)> =
            Err(("failed", "no answer".into()));
        for attempt in 0..2 {
            let call_started = Instant::now();
            self.metrics.calls.inc();
            report.calls += 1;
            let answer = client.chat(&turns, schema).await;
            self.metrics
                .call_duration
                .observe(call_started.elapsed().as_secs_f64());
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    self.metrics
                        .failures
                        .get_or_create(&FailureLabels { reason: e.reason })
                        .inc();
                    outcome = Err(("failed", format!("the model gave no answer ({e})")));
                    break;
                }
            };
            let prompt_tokens = if answer.prompt_tokens > 0 {
                answer.prompt_tokens
            } else {
                turns
                    .iter()
                    .map(|t| estimate_tokens(&t.content) as u64)
                    .sum()
            };
            let completion_tokens = if answer.completion_tokens > 0 {
                answer.completion_tokens
            } else {
                estimate_tokens(&answer.content) as u64
            };
            report.prompt_tokens += prompt_tokens;
            report.completion_tokens += completion_tokens;
            self.metrics
                .tokens
                .get_or_create(&TokenLabels { kind: "prompt" })
                .inc_by(prompt_tokens);
            self.metrics
                .tokens
                .get_or_create(&TokenLabels { kind: "completion" })
                .inc_by(completion_tokens);
            match check(&answer.content) {
                Ok(parsed) => {
                    outcome = Ok((parsed, if attempt == 0 { "llm" } else { "repaired" }));
                    break;
                }
                Err(problems) => {
                    self.metrics
                        .failures
                        .get_or_create(&FailureLabels { reason: "invalid" })
                        .inc();
                    outcome = Err((
                        "invalid",
                        format!("the model's answer was refused: {}", problems.join("; ")),
                    ));
                    if attempt > 0 {
                        break;
                    }
                    // one repair, within budget: the answer and what was
                    // wrong with it
                    let repair_estimate = estimate + estimate_tokens(&answer.content) as u64 + 60;
                    if let Err(why) = self.reserve(budget_key, repair_estimate) {
                        self.metrics.budget_refusals.inc();
                        outcome = Err((
                            "invalid",
                            format!(
                                "the model's answer was refused ({}) and a repair is {why}",
                                problems.join("; ")
                            ),
                        ));
                        break;
                    }
                    reserved += repair_estimate;
                    turns.push(Turn {
                        role: Role::Assistant,
                        content: answer.content.chars().take(4_000).collect(),
                    });
                    turns.push(Turn {
                        role: Role::User,
                        content: format!(
                            "That answer was refused: {}. Answer again with the JSON only, citing only ids from the list you were given.",
                            problems.join("; ")
                        ),
                    });
                }
            }
        }
        // the reservation becomes what was spent
        self.settle(
            budget_key,
            reserved,
            report.prompt_tokens + report.completion_tokens,
        );
        outcome
    }

    fn summary_of_answer(
        &self,
        parsed: validate::ModelSummary,
        model: String,
        hash: &str,
        now_ms: i64,
    ) -> Summary {
        // what the model wrote is shown and sent on: redact it as well, in
        // case it repeated something the evidence did not hold
        let clean = |s: &str| self.redactor.redact(s).into_owned();
        let mut ids = Vec::new();
        for id in parsed.evidence_ids {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Summary {
            text: clean(&parsed.summary),
            probable_cause: clean(&parsed.probable_cause),
            evidence_ids: ids,
            next_steps: parsed.next_steps.iter().map(|s| clean(s)).collect(),
            source: "llm".into(),
            model: Some(model),
            prompt_version: PROMPT_VERSION.into(),
            confidence: parsed.confidence,
            at_ms: now_ms,
            evidence_hash: hash.to_owned(),
            fallback: None,
        }
    }

    fn count(&self, outcome: &'static str) {
        self.metrics
            .summaries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    fn remember(
        &self,
        incident: &Incident,
        hash: &str,
        summary: Summary,
        report: WriteReport,
    ) -> (Summary, WriteReport) {
        let mut ledger = self.ledger.lock();
        if ledger.last.len() >= MAX_INCIDENTS && !ledger.last.contains_key(&incident.id) {
            let oldest = ledger
                .last
                .iter()
                .min_by_key(|(_, w)| w.at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                ledger.last.remove(&k);
                ledger.spent.remove(&k);
            }
        }
        ledger.last.insert(
            incident.id.clone(),
            Written {
                hash: hash.to_owned(),
                summary: summary.clone(),
                at: Instant::now(),
            },
        );
        (summary, report)
    }

    /// Holds `tokens` of the hour's budget and of the incident's (when the
    /// call is for one), or says which is spent.
    fn reserve(&self, incident_id: Option<&str>, tokens: u64) -> Result<(), String> {
        let mut ledger = self.ledger.lock();
        let hour_ago = Instant::now().checked_sub(Duration::from_secs(3600));
        while let (Some((at, _)), Some(cut)) = (ledger.hour.front(), hour_ago) {
            if *at >= cut {
                break;
            }
            ledger.hour.pop_front();
        }
        let this_hour: u64 = ledger.hour.iter().map(|(_, t)| t).sum();
        let spent = incident_id
            .and_then(|id| ledger.spent.get(id))
            .copied()
            .unwrap_or(0);
        if incident_id.is_some() && spent + tokens > self.budgets.tokens_per_incident {
            return Err(format!(
                "over budget: this incident has used {spent} of its {} tokens",
                self.budgets.tokens_per_incident
            ));
        }
        // calls about no incident (log digests) may use half the hour's
        // tokens: incidents always keep the rest
        let hour_limit = match incident_id {
            Some(_) => self.budgets.tokens_per_hour,
            None => self.budgets.tokens_per_hour / 2,
        };
        if this_hour + tokens > hour_limit {
            return Err(format!(
                "over budget: {this_hour} of {hour_limit} tokens used in the last hour"
            ));
        }
        if let Some(id) = incident_id {
            *ledger.spent.entry(id.to_owned()).or_default() += tokens;
        }
        ledger.hour.push_back((Instant::now(), tokens));
        Ok(())
    }

    /// Replaces a reservation with what was spent: what was reserved and
    /// not used goes back to both budgets.
    fn settle(&self, incident_id: Option<&str>, reserved: u64, used: u64) {
        let mut ledger = self.ledger.lock();
        if let Some(s) = incident_id.and_then(|id| ledger.spent.get_mut(id)) {
            *s = s.saturating_sub(reserved) + used;
        }
        // the hour's record: this call's reservations are the newest
        // entries unless another call reserved since, in which case they
        // stay as reserved (erring on the safe side)
        let mut unused = reserved.saturating_sub(used);
        for entry in ledger.hour.iter_mut().rev() {
            if unused == 0 {
                break;
            }
            let back = unused.min(entry.1);
            entry.1 -= back;
            unused -= back;
        }
        if used > reserved
            && let Some(last) = ledger.hour.back_mut()
        {
            last.1 += used - reserved;
        }
    }
}
