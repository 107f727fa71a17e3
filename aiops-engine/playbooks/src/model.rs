//! The playbook format: what operators write in `rules/playbooks/*.yaml`.
//! The doc comments here are the descriptions in the JSON Schema that
//! editors use to complete and check a file, so they are written for the
//! person authoring a playbook.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use aiops_analysis::{Direction, IncidentState, Severity, SignalKind};

use crate::at::At;
use crate::schema;
use crate::span::Span;

/// A remediation playbook: when an incident looks like this, do these
/// steps, within these limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// Unique among the loaded playbooks: 1-64 of `a-z`, `0-9`, `-`.
    pub name: At<String>,
    /// What it is for, for the person reading the ledger.
    #[serde(default)]
    pub description: String,
    /// `auto` acts at once; `approve` waits for a responder's approval;
    /// `dry-run` only records what it would do.
    #[serde(default)]
    pub mode: Mode,
    /// When this playbook applies. Every condition given must hold.
    pub when: At<Trigger>,
    /// What to do, in order. Every action is verified after it ran.
    pub steps: At<Vec<At<Step>>>,
    /// Limits that stop a matching playbook from acting.
    #[serde(default)]
    pub guardrails: Guardrails,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Act without asking.
    Auto,
    /// Plan, then wait for an authenticated responder to approve (it
    /// expires unapproved after `remediation.approval_ttl`).
    #[default]
    Approve,
    /// Only record the plan; never act.
    DryRun,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Approve => "approve",
            Mode::DryRun => "dry-run",
        }
    }
}

/// The conditions on an incident; those left out do not restrict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The incident's state is one of these (default: open, acknowledged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<schema::State>>")]
    pub state: Option<Vec<IncidentState>>,
    /// At least this severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<schema::Severity>")]
    pub severity: Option<Severity>,
    /// Open for at least this long (`30s`, `2m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_for: Option<At<Span>>,
    /// Conditions on the service ranked first as the root cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_service: Option<TopService>,
    /// The top-ranked service has an active signal of its own matching
    /// at least one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<At<SignalMatch>>,
    /// ...and one matching each of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all_signals: Vec<At<SignalMatch>>,
    /// ...and none matching any of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub without_signals: Vec<At<SignalMatch>>,
    /// The incident holds an alert (Alertmanager) matching at least one of
    /// these label sets: `{alertname: ShopMemoryGrowth}`. A value starting
    /// with `~` is a regular expression over the whole value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<At<std::collections::BTreeMap<String, String>>>,
    /// The top-ranked service was deployed (a new version seen) within this
    /// long before the incident's onset (or up to a minute after it: a new
    /// version is seen at the next scrape, the symptoms may come first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_within: Option<At<Span>>,
    /// The top-ranked service was not deployed within this long before the
    /// onset, nor after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_deployed_within: Option<At<Span>>,
}

/// Conditions on the top-ranked service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopService {
    /// Its share of the ranking's score is at least this (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<At<f64>>,
    /// It is one of these services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any_of: Vec<String>,
    /// It is none of these services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub none_of: Vec<String>,
}

/// A signal of the top-ranked service; the fields given must all match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<schema::SignalKind>")]
    pub kind: Option<SignalKind>,
    /// The measured thing: `error_ratio`, `latency_p99`, `cpu`, `memory`,
    /// `up`, `restart`, `peer_error_ratio`, an alert's name...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<schema::Direction>")]
    pub direction: Option<Direction>,
    /// For client-side signals: the callee as the service calls it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// At least this score (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f64>,
}

/// What an action is aimed at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The service ranked first as the root cause (the default).
    #[default]
    TopService,
    /// A named service.
    #[serde(untagged)]
    Service(String),
}

/// Where an action can run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Executor {
    /// The process supervisor (`aiops demo`, `shop up`).
    Process,
    /// The Docker Engine (the compose stack).
    Docker,
    /// The Kubernetes API (a cluster, EKS).
    Kubernetes,
}

impl Executor {
    pub fn as_str(self) -> &'static str {
        match self {
            Executor::Process => "process",
            Executor::Docker => "docker",
            Executor::Kubernetes => "kubernetes",
        }
    }
}

/// One step of a playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Stop the target and start it again, same release.
    Restart {
        #[serde(default)]
        target: Target,
        /// The executors this step may run on (default: any).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        executors: Vec<Executor>,
    },
    /// Start the target's previous release again (version and settings).
    Rollback {
        #[serde(default)]
        target: Target,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        executors: Vec<Executor>,
    },
    /// Change the target's replicas by `by` (`+1`, `-1`) or to `to`,
    /// within the guardrails' bounds; never to zero.
    Scale {
        #[serde(default)]
        target: Target,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<At<i32>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<At<u32>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        executors: Vec<Executor>,
    },
    /// Write a note on the incident's timeline.
    Annotate { text: At<String> },
    /// Wait this long before the next step (`30s`).
    Wait { duration: At<Span> },
    /// Hand the incident to people: a note on its timeline, and, where
    /// notifications are set up, a page. The playbook stops here.
    Escalate { text: At<String> },
}

impl Step {
    /// The action's name as the ledger records it.
    pub fn action(&self) -> &'static str {
        match self {
            Step::Restart { .. } => "restart",
            Step::Rollback { .. } => "rollback",
            Step::Scale { .. } => "scale",
            Step::Annotate { .. } => "annotate",
            Step::Wait { .. } => "wait",
            Step::Escalate { .. } => "escalate",
        }
    }

    /// The target of an action that changes a service.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Step::Restart { target, .. }
            | Step::Rollback { target, .. }
            | Step::Scale { target, .. } => Some(target),
            _ => None,
        }
    }

    pub fn executors(&self) -> &[Executor] {
        match self {
            Step::Restart { executors, .. }
            | Step::Rollback { executors, .. }
            | Step::Scale { executors, .. } => executors,
            _ => &[],
        }
    }
}

/// What happens when an action's verification fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Stop and hand the incident to people.
    #[default]
    Escalate,
    /// Undo the action where it can be undone (roll back a roll-back, scale
    /// back), then escalate; a restart cannot be undone and escalates.
    Undo,
}

/// Limits on one playbook. Defaults in brackets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Guardrails {
    /// After acting on a target, do not act on it again for this long
    /// [10m].
    pub cooldown: At<Span>,
    /// At most this many runs in `window` over all targets [3].
    pub max_runs: u32,
    /// The window of `max_runs` [1h].
    pub window: At<Span>,
    /// Loop breaker: at most this many actions on one incident; when they
    /// did not help, stop and escalate [1].
    pub max_attempts_per_incident: u32,
    /// After an action, the target's own signals must be healthy within
    /// this long [60s].
    pub verify_within: At<Span>,
    /// What to do when verification fails [escalate].
    pub on_failure: OnFailure,
    /// Only these services may be acted on (empty: any).
    pub targets: Vec<String>,
    /// Scaling never goes beyond these bounds [1, 10]; never to zero.
    pub min_replicas: u32,
    pub max_replicas: u32,
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            cooldown: At::new(Span::from_ms(10 * 60_000)),
            max_runs: 3,
            window: At::new(Span::from_ms(3_600_000)),
            max_attempts_per_incident: 1,
            verify_within: At::new(Span::from_ms(60_000)),
            on_failure: OnFailure::Escalate,
            targets: Vec::new(),
            min_replicas: 1,
            max_replicas: 10,
        }
    }
}
