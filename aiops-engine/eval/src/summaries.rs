//! `aiops eval summaries`: the summaries of recorded chaos incidents (the
//! `incident-<service>_<fault>.at-clear.json` files `aiops eval chaos`
//! saves, each the incident API's answer when the fault was cleared),
//! written by the deterministic writer and, with `--model-url`, by a model
//! through the engine's own writer: validation, one repair, fallback. Each
//! is judged on grounding (every cited id is evidence of the incident) and
//! on naming the faulted service as the probable cause.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aiops_analysis::Incident;
use aiops_summarise::{
    Api, Budgets, ChatClient, EvidenceItem, ModelEndpoint, Redactor, Summary, SummaryWriter,
};
use anyhow::{Context, bail};
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct SummariesArgs {
    /// Folders searched (recursively) for `incident-*.at-clear.json`.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The model server (Ollama's API unless `--api openai`); without it
    /// only the deterministic summaries are judged.
    #[arg(long)]
    pub model_url: Option<String>,
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    #[arg(long, default_value = "ollama", value_parser = ["ollama", "openai"])]
    pub api: String,
    /// Per call.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    #[arg(long, default_value_t = 400)]
    pub max_output_tokens: u32,
}

/// One recorded incident and the service its fault was injected into.
pub(crate) struct Case {
    /// `<service>_<fault>`, the fault's label.
    pub name: String,
    pub faulted: String,
    pub incident: Incident,
    pub evidence: Vec<EvidenceItem>,
}

/// The `incident-*.at-clear.json` files under `dir`, at any depth.
pub(crate) fn find(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            find(&path, out)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("incident-") && n.ends_with(".at-clear.json"))
        {
            out.push(path);
        }
    }
    Ok(())
}

pub(crate) fn load(path: &Path) -> anyhow::Result<Case> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("incident-"))
        .and_then(|n| n.strip_suffix(".at-clear.json"))
        .context("not an incident-<fault>.at-clear.json file")?
        .to_string();
    let faulted = name.split('_').next().unwrap_or_default().to_string();
    let text = std::fs::read_to_string(path)?;
    let value: Value = serde_json::from_str(&text).context("not JSON")?;
    let data = value.get("data").unwrap_or(&value);
    let incident: Incident = serde_json::from_value(data.clone()).context("not an incident")?;
    let evidence: Vec<EvidenceItem> = serde_json::from_value(
        data.get("evidence")
            .cloned()
            .unwrap_or(Value::Array(vec![])),
    )
    .context("its evidence is not a list of items")?;
    Ok(Case {
        name,
        faulted,
        incident,
        evidence,
    })
}

fn grounded(summary: &Summary, evidence: &[EvidenceItem]) -> bool {
    !summary.evidence_ids.is_empty()
        && summary
            .evidence_ids
            .iter()
            .all(|id| evidence.iter().any(|e| &e.id == id))
}

fn names(summary: &Summary, service: &str) -> bool {
    summary.probable_cause.to_lowercase().contains(service)
}

fn share(n: usize, of: usize) -> Value {
    if of == 0 {
        Value::Null
    } else {
        json!((n as f64 / of as f64 * 1000.0).round() / 1000.0)
    }
}

fn quantile(sorted: &[f64], q: f64) -> Value {
    if sorted.is_empty() {
        return Value::Null;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    json!((sorted[i] * 1000.0).round() / 1000.0)
}

pub fn run(args: SummariesArgs) -> anyhow::Result<()> {
    let mut files = Vec::new();
    for dir in &args.runs {
        find(dir, &mut files)?;
    }
    files.sort();
    if files.is_empty() {
        bail!("no incident-*.at-clear.json under {:?}", args.runs);
    }
    let mut cases = Vec::new();
    for f in &files {
        match load(f) {
            Ok(c) => cases.push(c),
            Err(e) => eprintln!("skipping {}: {e:#}", f.display()),
        }
    }
    let writer = match &args.model_url {
        None => None,
        Some(url) => {
            let client = ChatClient::new(ModelEndpoint {
                api: if args.api == "openai" {
                    Api::Openai
                } else {
                    Api::Ollama
                },
                url: url.clone(),
                model: args.model.clone(),
                api_key: None,
                timeout: args.timeout,
                attempts: 1,
                max_output_tokens: args.max_output_tokens,
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            // one summary per incident here: no budget stands in the way
            let budgets = Budgets {
                tokens_per_incident: 10_000_000,
                tokens_per_hour: 100_000_000,
                min_interval: Duration::ZERO,
                ..Budgets::default()
            };
            Some(SummaryWriter::new(
                Some(client),
                budgets,
                Redactor::default(),
            ))
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut det_named, mut det_grounded) = (0, 0);
    let (mut llm_source, mut llm_grounded, mut llm_named, mut final_named, mut final_grounded) =
        (0, 0, 0, 0, 0);
    let mut latencies = Vec::new();
    let (mut prompt_tokens, mut completion_tokens, mut calls) = (0u64, 0u64, 0u32);
    for case in &cases {
        let hash = aiops_summarise::material_hash(&case.evidence);
        let det = aiops_summarise::deterministic(&case.incident, &case.evidence, &hash, 0);
        det_named += usize::from(names(&det, &case.faulted));
        det_grounded += usize::from(grounded(&det, &case.evidence));
        let mut line = json!({
            "case": case.name, "faulted": case.faulted, "evidence": case.evidence.len(),
            "deterministic": {"cause": det.probable_cause, "names_faulted": names(&det, &case.faulted),
                              "grounded": grounded(&det, &case.evidence)},
        });
        if let Some(writer) = &writer {
            let started = Instant::now();
            let (summary, report) =
                runtime.block_on(writer.write(&case.incident, &case.evidence, &hash, 0));
            let secs = started.elapsed().as_secs_f64();
            latencies.push(secs);
            prompt_tokens += report.prompt_tokens;
            completion_tokens += report.completion_tokens;
            calls += report.calls;
            let from_model = summary.source == "llm";
            let ok = grounded(&summary, &case.evidence);
            let named = names(&summary, &case.faulted);
            llm_source += usize::from(from_model);
            llm_grounded += usize::from(from_model && ok);
            llm_named += usize::from(from_model && named);
            final_named += usize::from(named);
            final_grounded += usize::from(ok);
            line["model"] = json!({
                "source": summary.source, "fallback": summary.fallback, "cause": summary.probable_cause,
                "names_faulted": named, "grounded": ok, "calls": report.calls,
                "prompt_tokens": report.prompt_tokens, "completion_tokens": report.completion_tokens,
                "seconds": (secs * 1000.0).round() / 1000.0,
            });
        }
        println!("{line}");
    }
    let n = cases.len();
    let mut summary = json!({
        "incidents": n,
        "deterministic": {"names_faulted": share(det_named, n), "grounded": share(det_grounded, n)},
    });
    if writer.is_some() {
        latencies.sort_by(f64::total_cmp);
        summary["model"] = json!({
            "name": args.model,
            "written_by_model": share(llm_source, n),
            "grounded_of_model_written": share(llm_grounded, llm_source),
            "names_faulted_of_model_written": share(llm_named, llm_source),
            "names_faulted_final": share(final_named, n),
            "grounded_final": share(final_grounded, n),
            "calls": calls,
            "seconds_p50": quantile(&latencies, 0.5),
            "seconds_p90": quantile(&latencies, 0.9),
            "prompt_tokens_per_summary": if n > 0 { json!(prompt_tokens / n as u64) } else { Value::Null },
            "completion_tokens_per_summary": if n > 0 { json!(completion_tokens / n as u64) } else { Value::Null },
        });
    }
    println!("{summary}");
    Ok(())
}
