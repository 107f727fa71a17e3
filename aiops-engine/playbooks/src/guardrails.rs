//! What stops a matching playbook from acting. Each guardrail is checked in
//! the order below and the first that holds is recorded as the reason, so
//! the ledger says exactly which one stopped an action and why.

use aiops_analysis::Incident;

use crate::ledger::{ActionRecord, ActionState};
use crate::model::{Executor, Playbook};

/// What the configured remediation target can and cannot do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    pub executor: Executor,
    /// Actions it refuses, each with the reason it gives.
    pub refuses: Vec<(String, String)>,
}

impl Capability {
    pub fn refusal(&self, action: &str) -> Option<&str> {
        self.refuses
            .iter()
            .find(|(a, _)| a == action)
            .map(|(_, why)| why.as_str())
    }
}

/// Engine-wide limits (`remediation:` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// A pending approval expires after this.
    pub approval_ttl_ms: i64,
    /// No action when the newest telemetry is older than this.
    pub stale_after_ms: i64,
    /// Services being acted on (running or verifying) at once, at most.
    pub max_concurrent_actions: usize,
    /// Actions carried out on one incident, over all playbooks, at most.
    pub max_actions_per_incident: u32,
    /// Only these services may be acted on (empty: any).
    pub allowed_targets: Vec<String>,
    /// A verification does not pass sooner than this after the action: the
    /// detectors need a few evaluations to see the effect.
    pub verify_settle_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            approval_ttl_ms: 15 * 60_000,
            stale_after_ms: 30_000,
            max_concurrent_actions: 1,
            max_actions_per_incident: 3,
            allowed_targets: Vec::new(),
            verify_settle_ms: 15_000,
        }
    }
}

/// The world a decision is made in, handed in by the edge.
#[derive(Debug, Clone, Copy)]
pub struct World<'a> {
    pub now_ms: i64,
    pub incidents: &'a [Incident],
    /// The current state of every record the edge keeps in memory.
    pub ledger: &'a [ActionRecord],
    /// `Some(why)` while remediation is switched off (config or API).
    pub switched_off: Option<&'a str>,
    /// Since the newest scrape round or pushed sample; `None`: none yet.
    pub telemetry_age_ms: Option<i64>,
    /// The configured target; `None`: nothing to act with.
    pub executor: Option<&'a Capability>,
}

/// A guardrail that held, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// `kill_switch`, `executor`, `stale_telemetry`, `allow_list`,
    /// `blast_radius`, `busy`, `concurrency`, `cooldown`, `rate_limit`,
    /// `loop_breaker`.
    pub guardrail: &'static str,
    pub why: String,
}

fn blocked(guardrail: &'static str, why: String) -> Result<(), Blocked> {
    Err(Blocked { guardrail, why })
}

/// Whether a record holds its target busy: handed to the executor, or
/// carried out and not yet verified.
pub fn in_flight(r: &ActionRecord) -> bool {
    r.acts()
        && (r.state == ActionState::Running
            || r.state == ActionState::Approved
            || (r.state == ActionState::Succeeded && !r.is_final()))
}

/// The checks that must pass at the moment of acting (again at execution
/// time for an approved action, since the world may have changed).
pub fn may_act_now(
    world: &World<'_>,
    settings: &Settings,
    action: &str,
    service: &str,
    own_id: &str,
) -> Result<(), Blocked> {
    if let Some(why) = world.switched_off {
        return blocked("kill_switch", format!("remediation is switched off: {why}"));
    }
    let Some(executor) = world.executor else {
        return blocked(
            "executor",
            "no remediation target is configured (remediation.executor)".into(),
        );
    };
    if let Some(why) = executor.refusal(action) {
        return blocked(
            "executor",
            format!(
                "the {} target refuses {action}: {why}",
                executor.executor.as_str()
            ),
        );
    }
    match world.telemetry_age_ms {
        None => {
            return blocked(
                "stale_telemetry",
                "no telemetry has arrived yet: a blind engine does not act".into(),
            );
        }
        Some(age) if age > settings.stale_after_ms => {
            return blocked(
                "stale_telemetry",
                format!(
                    "the newest telemetry is {}s old (limit {}s): a blind engine does not act",
                    age / 1000,
                    settings.stale_after_ms / 1000
                ),
            );
        }
        Some(_) => {}
    }
    let others: Vec<&ActionRecord> = world
        .ledger
        .iter()
        .filter(|r| r.id != own_id && in_flight(r))
        .collect();
    if let Some(busy) = others
        .iter()
        .find(|r| r.service.as_deref() == Some(service))
    {
        return blocked(
            "busy",
            format!(
                "{service} is already being acted on ({} {}, {})",
                busy.action,
                busy.id,
                busy.state.as_str()
            ),
        );
    }
    let touched: std::collections::BTreeSet<&str> =
        others.iter().filter_map(|r| r.service.as_deref()).collect();
    if touched.len() >= settings.max_concurrent_actions {
        return blocked(
            "concurrency",
            format!(
                "{} service(s) already being acted on ({}); at most {} at once",
                touched.len(),
                touched.into_iter().collect::<Vec<_>>().join(", "),
                settings.max_concurrent_actions
            ),
        );
    }
    Ok(())
}

/// Every guardrail for `playbook`'s action on `service` for `incident`
/// (before it is planned); `this_run` is the attempt the action belongs
/// to once its run has started, which the rate limit does not count again.
#[allow(clippy::too_many_arguments)]
pub fn may_start(
    world: &World<'_>,
    settings: &Settings,
    playbook: &Playbook,
    incident: &Incident,
    action: &str,
    service: &str,
    replicas: Option<(u32, u32)>,
    this_run: Option<u32>,
) -> Result<(), Blocked> {
    let now = world.now_ms;
    let g = &playbook.guardrails;
    // the switch, the target, the telemetry and what is in flight first:
    // they say most about why nothing happened
    may_act_now(world, settings, action, service, "")?;
    if !settings.allowed_targets.is_empty()
        && !settings.allowed_targets.iter().any(|s| s == service)
    {
        return blocked(
            "allow_list",
            format!(
                "{service} is not among the engine's allowed targets ({})",
                settings.allowed_targets.join(", ")
            ),
        );
    }
    if !g.targets.is_empty() && !g.targets.iter().any(|s| s == service) {
        return blocked(
            "allow_list",
            format!(
                "{service} is not among this playbook's targets ({})",
                g.targets.join(", ")
            ),
        );
    }
    if let Some((from, to)) = replicas {
        if to == 0 {
            return blocked(
                "blast_radius",
                format!("scaling {service} to zero is never allowed"),
            );
        }
        if to < g.min_replicas || to > g.max_replicas {
            return blocked(
                "blast_radius",
                format!(
                    "scaling {service} from {from} to {to} leaves the bounds {}..={}",
                    g.min_replicas, g.max_replicas
                ),
            );
        }
    }
    let executed_here = world
        .ledger
        .iter()
        .filter(|r| r.incident_id == incident.id && r.acts() && r.executed())
        .count();
    if executed_here >= settings.max_actions_per_incident as usize {
        return blocked(
            "loop_breaker",
            format!(
                "{executed_here} action(s) already carried out on this incident without resolving it (at most {}): stopping and escalating",
                settings.max_actions_per_incident
            ),
        );
    }
    let mine = || {
        world
            .ledger
            .iter()
            .filter(|r| r.playbook == playbook.name.value && r.acts() && r.executed())
    };
    if let Some(last) = mine()
        .filter(|r| r.service.as_deref() == Some(service))
        .max_by_key(|r| r.created_ms)
        && now - last.created_ms < g.cooldown.ms()
    {
        return blocked(
            "cooldown",
            format!(
                "{} acted on {service} {}s ago ({}); cooldown {}",
                playbook.name.value,
                (now - last.created_ms) / 1000,
                last.id,
                g.cooldown.value
            ),
        );
    }
    let runs: std::collections::BTreeSet<(&str, u32)> = mine()
        .filter(|r| now - r.created_ms < g.window.ms())
        .map(|r| (r.incident_id.as_str(), r.attempt))
        .filter(|run| this_run.is_none_or(|a| *run != (incident.id.as_str(), a)))
        .collect();
    if runs.len() >= g.max_runs as usize {
        return blocked(
            "rate_limit",
            format!(
                "{} ran {} time(s) in the last {} (at most {})",
                playbook.name.value,
                runs.len(),
                g.window.value,
                g.max_runs
            ),
        );
    }
    Ok(())
}
