//! `aiops playbook validate|test|schema`: what an operator runs while
//! writing playbooks, and what CI runs on them.

use std::path::{Path, PathBuf};

use aiops_analysis::Incident;
use aiops_playbooks::{Capability, Executor, Playbook, Rehearsal, Settings, rehearse};
use serde_json::Value;

#[derive(clap::Subcommand)]
pub enum PlaybookCommand {
    /// Checks playbook files (or folders of them): every error with
    /// file:line:column, what was expected and a hint; exit 1 on any error.
    Validate {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Runs matching, planning and every guardrail of one playbook against
    /// a recorded incident (the JSON the incident API returns), with no side
    /// effects, and prints the decision.
    Test {
        /// The playbook file.
        playbook: PathBuf,
        /// An incident as `GET /api/v1/incidents/{id}` answers (or the bare
        /// incident object).
        #[arg(long)]
        incident: PathBuf,
        /// When to judge it: unix milliseconds or RFC 3339 (default: the
        /// incident's last update, so the verdict is the same every time).
        #[arg(long)]
        at: Option<String>,
        /// The target it would act through.
        #[arg(long, default_value = "process", value_parser = ["process", "docker", "kubernetes"])]
        executor: String,
    },
    /// Prints the JSON Schema of the playbook format (committed as
    /// rules/playbooks/playbook.schema.json).
    Schema,
}

/// Runs a playbook command; returns the exit status.
pub fn run(command: PlaybookCommand) -> i32 {
    match command {
        PlaybookCommand::Validate { paths } => validate(&paths),
        PlaybookCommand::Test {
            playbook,
            incident,
            at,
            executor,
        } => match test(&playbook, &incident, at.as_deref(), &executor) {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(e) => {
                eprintln!("aiops playbook test: {e}");
                1
            }
        },
        PlaybookCommand::Schema => {
            print!("{}", aiops_playbooks::schema::schema_json());
            0
        }
    }
}

fn validate(paths: &[PathBuf]) -> i32 {
    let (playbooks, errors) = aiops_playbooks::load::load_all(paths);
    for e in &errors {
        eprintln!("{e}");
    }
    if errors.is_empty() {
        println!("{} playbook(s) valid", playbooks.len());
        0
    } else {
        let problems: usize = errors.iter().map(|e| e.problems.len()).sum();
        eprintln!("{problems} problem(s) in {} file(s)", errors.len());
        1
    }
}

/// The capability each executor has, as the engine's own executors say.
pub fn capability(kind: &str) -> Capability {
    match kind {
        "docker" => Capability {
            executor: Executor::Docker,
            refuses: vec![(
                "scale".into(),
                "a compose service runs the containers its file says; the engine does not add any (scaling needs Kubernetes)".into(),
            )],
        },
        "kubernetes" => Capability {
            executor: Executor::Kubernetes,
            refuses: Vec::new(),
        },
        _ => Capability {
            executor: Executor::Process,
            refuses: vec![(
                "scale".into(),
                "the process supervisor runs one process per service; scaling needs Kubernetes".into(),
            )],
        },
    }
}

/// Reads an incident from the API's answer or a bare incident document.
pub fn read_incident(text: &str) -> Result<Incident, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let inner = match value.get("data") {
        Some(Value::Array(list)) => list
            .first()
            .cloned()
            .ok_or("the answer's data list is empty")?,
        Some(one) => one.clone(),
        None => value,
    };
    serde_json::from_value(inner).map_err(|e| format!("not an incident: {e}"))
}

fn parse_at(raw: &str) -> Result<i64, String> {
    if let Ok(ms) = raw.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("--at {raw:?} is neither unix milliseconds nor RFC 3339: {e}"))
}

/// The decision in words.
pub fn test(
    playbook: &Path,
    incident: &Path,
    at: Option<&str>,
    executor: &str,
) -> Result<String, String> {
    let playbook: Playbook =
        aiops_playbooks::load::load_file(playbook).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(incident)
        .map_err(|e| format!("cannot read {}: {e}", incident.display()))?;
    let incident = read_incident(&text).map_err(|e| format!("{}: {e}", incident_name(incident)))?;
    let now = match at {
        Some(raw) => parse_at(raw)?,
        None => incident.updated_at_ms,
    };
    let cap = capability(executor);
    let r = rehearse(&playbook, &incident, now, Some(&cap), &Settings::default());
    Ok(report(&playbook, &incident, now, &r))
}

fn incident_name(path: &Path) -> String {
    path.display().to_string()
}

pub fn report(playbook: &Playbook, incident: &Incident, now: i64, r: &Rehearsal) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "playbook {} (mode {})",
        playbook.name.value,
        playbook.mode.as_str()
    ));
    line(format!(
        "incident {} ({}, {}): {:?}, judged at {}",
        incident.id,
        incident.state.as_str(),
        incident.severity.as_str(),
        incident.title,
        crate::routes::incidents::rfc3339(now)
    ));
    line(format!(
        "matched: {}",
        if r.report.matched { "yes" } else { "no" }
    ));
    for reason in &r.report.reasons {
        line(format!("  {reason}"));
    }
    if !r.report.matched {
        line("decision: nothing to do (it does not match); nothing was done".into());
        return out;
    }
    if let Some(plan) = &r.plan {
        line(format!("plan: {plan}"));
    }
    line(format!(
        "targets: {}",
        if r.targets.is_empty() {
            "none".into()
        } else {
            r.targets.join(", ")
        }
    ));
    let last = r.records.last();
    let decision = match last {
        None => "nothing new (an earlier decision stands)".to_owned(),
        Some(rec) if r.would_act => format!(
            "would carry out {} {} now ({}); nothing was done",
            rec.action,
            rec.service.as_deref().unwrap_or(""),
            rec.mode
        ),
        Some(rec) => match rec.state {
            aiops_playbooks::ActionState::Skipped => {
                format!("stopped by a guardrail: {}", rec.reason)
            }
            aiops_playbooks::ActionState::PendingApproval => {
                format!("would wait for a responder's approval: {}", rec.reason)
            }
            aiops_playbooks::ActionState::Planned => {
                "dry run: the plan is recorded, nothing is carried out".to_owned()
            }
            other => format!("would record it as {}: {}", other.as_str(), rec.reason),
        },
    };
    line(format!("decision: {decision}"));
    out
}
