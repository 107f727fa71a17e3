//! The remediation loop's decisions, pure: given the incidents, the ledger
//! and the world (switch, telemetry age, what the target can do) at a
//! time, what to record and what to carry out. The edge appends every
//! record before it carries anything out, carries out only records it
//! just appended as `running`, and hands each outcome back through
//! [`Remediator::finished`].
//!
//! A run is one playbook's steps on one incident. The first matching
//! playbook starts a run (playbooks are tried in name order); in `approve`
//! mode the run waits for an approval first, in `dry-run` it is only
//! recorded; the first playbook to run on an incident is the only one
//! that does. Every action is verified (the target's own signals healthy
//! within `verify_within`); a failed verification undoes what can be
//! undone and escalates. An incident that was escalated gets no new run.

use aiops_analysis::{Incident, Weight};

use crate::guardrails::{Blocked, Settings, World, may_act_now, may_start};
use crate::ledger::{
    ActionRecord, ActionState, ENGINE, Verification, VerificationState, id_of, step_key,
};
use crate::matching::{self, MatchReport};
use crate::model::{Mode, OnFailure, Playbook, Step, Target};

/// What the edge is to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Append this state of a record to the ledger. `event` is the state's
    /// name, or `verified` / `verification_failed`; a record takes each
    /// event at most once.
    Record { record: ActionRecord, event: String },
    /// Carry out the record's action (it was just recorded as running).
    Execute(ActionRecord),
}

fn record(record: ActionRecord) -> Effect {
    let event = record.state.as_str().to_owned();
    Effect::Record { record, event }
}

pub struct Remediator {
    playbooks: Vec<Playbook>,
    settings: Settings,
}

/// Where a run stands after looking at it.
enum Progress {
    /// Still going (these effects, maybe none).
    Going(Vec<Effect>),
    /// Over: another playbook may start.
    Over,
}

/// The action names the ledger uses for undoing.
const UNDO_PREFIX: &str = "undo-";

impl Remediator {
    pub fn new(playbooks: Vec<Playbook>, settings: Settings) -> Self {
        Remediator {
            playbooks,
            settings,
        }
    }

    pub fn playbooks(&self) -> &[Playbook] {
        &self.playbooks
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn playbook(&self, name: &str) -> Option<&Playbook> {
        self.playbooks.iter().find(|p| p.name.value == name)
    }

    /// Everything to do now.
    pub fn decide(&self, world: &World<'_>) -> Vec<Effect> {
        let mut ledger: Vec<ActionRecord> = world.ledger.to_vec();
        let mut out = Vec::new();
        for incident in world.incidents {
            let view = World {
                ledger: &ledger,
                ..*world
            };
            let effects = self.for_incident(incident, &view);
            // later incidents see this one's decisions (one target, one action)
            for effect in &effects {
                if let Effect::Record { record, .. } = effect {
                    upsert(&mut ledger, record.clone());
                }
            }
            out.extend(effects);
        }
        out
    }

    fn for_incident(&self, incident: &Incident, w: &World<'_>) -> Vec<Effect> {
        let records: Vec<&ActionRecord> = w
            .ledger
            .iter()
            .filter(|r| r.incident_id == incident.id)
            .collect();
        let current = records
            .iter()
            .filter(|r| r.attempt > 0)
            .max_by_key(|r| (r.created_ms, r.step, order_in_step(r)));
        if let Some(last) = current {
            let run: Vec<&ActionRecord> = records
                .iter()
                .filter(|r| r.playbook == last.playbook && r.attempt == last.attempt)
                .copied()
                .collect();
            if let Progress::Going(effects) = self.advance(last, &run, incident, w) {
                return effects;
            }
        }
        if incident.is_resolved() || records.iter().any(|r| r.action == "escalate") {
            return Vec::new();
        }
        self.start(incident, &records, w)
    }

    /// The first matching playbook with attempts left starts a run. Once a
    /// playbook has run on an incident, it is that incident's playbook: no
    /// other starts (a second playbook restarting what the first already
    /// handled is the loop this is meant to prevent).
    fn start(&self, incident: &Incident, records: &[&ActionRecord], w: &World<'_>) -> Vec<Effect> {
        let owner = records
            .iter()
            .filter(|r| r.attempt > 0)
            .min_by_key(|r| r.created_ms)
            .map(|r| r.playbook.as_str());
        for playbook in &self.playbooks {
            if owner.is_some_and(|o| o != playbook.name.value) {
                continue;
            }
            let report = matching::matches(playbook, incident, w.now_ms);
            if !report.matched {
                continue;
            }
            let runs: std::collections::BTreeSet<u32> = records
                .iter()
                .filter(|r| r.playbook == playbook.name.value && r.attempt > 0)
                .map(|r| r.attempt)
                .collect();
            if runs.len() >= playbook.guardrails.max_attempts_per_incident as usize {
                continue;
            }
            let attempt = runs.iter().max().copied().unwrap_or(0) + 1;
            return self.begin(playbook, incident, attempt, &report, w);
        }
        Vec::new()
    }

    /// Plans step 0 of a run, after every guardrail of its first action.
    fn begin(
        &self,
        playbook: &Playbook,
        incident: &Incident,
        attempt: u32,
        report: &MatchReport,
        w: &World<'_>,
    ) -> Vec<Effect> {
        let now = w.now_ms;
        let name = &playbook.name.value;
        let top = matching::top_service(incident);
        // the run's first action answers for the whole plan
        let first_action = playbook
            .steps
            .iter()
            .find_map(|s| s.target().map(|t| (s.value.action(), resolve(t, top))));
        if let Some((action, target)) = &first_action {
            let verdict = match target {
                None => Err(Blocked {
                    guardrail: "target",
                    why: "the incident has no ranked root cause to act on".into(),
                }),
                Some(service) => may_start(
                    w,
                    &self.settings,
                    playbook,
                    incident,
                    action,
                    service,
                    None,
                    None,
                ),
            };
            if let Err(blocked) = verdict {
                return self.skip_start(playbook, incident, attempt, report, &blocked, w);
            }
        }
        let step0 = &playbook.steps[0];
        let key = step_key(&incident.id, name, attempt, 0);
        if w.ledger.iter().any(|r| r.id == id_of(&key)) {
            return Vec::new();
        }
        let plan = describe(playbook, top, w.executor.map(|c| c.executor.as_str()));
        let mut planned = ActionRecord::new(
            key,
            &incident.id,
            name,
            0,
            attempt,
            step0.value.action(),
            playbook.mode.as_str(),
            ActionState::Planned,
            format!("{name} matched: {}", matched_reasons(report)),
            plan,
            now,
        );
        self.fill(&mut planned, &step0.value, top, w, now);
        let mut out = vec![record(planned.clone())];
        match playbook.mode {
            Mode::DryRun => {}
            Mode::Approve => {
                let expires = now + self.settings.approval_ttl_ms;
                if let Ok(mut pending) = planned.moved(
                    ActionState::PendingApproval,
                    ENGINE,
                    format!(
                        "waiting for a responder's approval (expires in {}s)",
                        self.settings.approval_ttl_ms / 1000
                    ),
                    now,
                ) {
                    pending.expires_ms = Some(expires);
                    out.push(record(pending));
                }
            }
            Mode::Auto => out.extend(self.run(&planned, "auto mode", ENGINE, now)),
        }
        out
    }

    /// A guardrail stopped a run from starting: recorded once per
    /// guardrail, and a loop breaker also escalates (once).
    fn skip_start(
        &self,
        playbook: &Playbook,
        incident: &Incident,
        attempt: u32,
        report: &MatchReport,
        blocked: &Blocked,
        w: &World<'_>,
    ) -> Vec<Effect> {
        let name = &playbook.name.value;
        let key = format!("{}/{name}/skip/{}", incident.id, blocked.guardrail);
        if w.ledger.iter().any(|r| r.id == id_of(&key)) {
            return Vec::new();
        }
        let top = matching::top_service(incident);
        let mut skipped = ActionRecord::new(
            key,
            &incident.id,
            name,
            0,
            0,
            playbook.steps[0].value.action(),
            playbook.mode.as_str(),
            ActionState::Skipped,
            format!("{}: {}", blocked.guardrail, blocked.why),
            describe(playbook, top, w.executor.map(|c| c.executor.as_str())),
            w.now_ms,
        );
        self.fill(&mut skipped, &playbook.steps[0].value, top, w, w.now_ms);
        let _ = (attempt, report);
        let mut out = vec![record(skipped)];
        if blocked.guardrail == "loop_breaker" {
            out.extend(self.escalate(
                &format!("{}/loop-breaker", incident.id),
                incident,
                name,
                0,
                0,
                &blocked.why,
                w,
            ));
        }
        out
    }

    /// Fills a record's target fields from its step.
    fn fill(&self, r: &mut ActionRecord, step: &Step, top: Option<&str>, w: &World<'_>, now: i64) {
        if let Some(target) = step.target() {
            r.service = resolve(target, top).map(str::to_owned);
            r.executor = w.executor.map(|c| c.executor.as_str().to_owned());
        }
        match step {
            Step::Scale { to, .. } => r.replicas = to.as_ref().map(|t| t.value),
            Step::Wait { duration } => r.due_ms = Some(now + duration.ms()),
            _ => {}
        }
    }

    /// Moves a planned or approved record to running and carries it out.
    fn run(&self, r: &ActionRecord, why: &str, by: &str, now: i64) -> Vec<Effect> {
        match r.moved(
            ActionState::Running,
            by,
            format!("carried out ({why})"),
            now,
        ) {
            Ok(running) => {
                // a wait is carried out by time passing, not by the edge
                if running.action == "wait" {
                    vec![record(running)]
                } else {
                    vec![record(running.clone()), Effect::Execute(running)]
                }
            }
            Err(_) => Vec::new(),
        }
    }

    /// Looks at the newest record of a run and moves it on.
    fn advance(
        &self,
        last: &ActionRecord,
        run: &[&ActionRecord],
        incident: &Incident,
        w: &World<'_>,
    ) -> Progress {
        let now = w.now_ms;
        let Some(playbook) = self.playbook(&last.playbook) else {
            // its playbook was removed: nothing new starts from it
            return match last.state {
                ActionState::PendingApproval | ActionState::Approved | ActionState::Planned
                    if last.mode != Mode::DryRun.as_str() =>
                {
                    Progress::Going(
                        last.moved(
                            ActionState::Skipped,
                            ENGINE,
                            format!("the playbook {} is no longer loaded", last.playbook),
                            now,
                        )
                        .map(|r| vec![record(r)])
                        .unwrap_or_default(),
                    )
                }
                ActionState::Running => Progress::Going(Vec::new()),
                _ => Progress::Over,
            };
        };
        match last.state {
            ActionState::PendingApproval => {
                let why = if incident.is_resolved() {
                    Some("the incident resolved before anyone approved it".to_owned())
                } else if last.expires_ms.is_some_and(|e| now >= e) {
                    Some(format!(
                        "nobody approved it within {}s",
                        self.settings.approval_ttl_ms / 1000
                    ))
                } else {
                    None
                };
                Progress::Going(match why {
                    Some(why) => last
                        .moved(
                            ActionState::Skipped,
                            ENGINE,
                            format!("approval expired: {why}"),
                            now,
                        )
                        .map(|r| vec![record(r)])
                        .unwrap_or_default(),
                    None => Vec::new(),
                })
            }
            ActionState::Approved | ActionState::Planned if last.mode != Mode::DryRun.as_str() => {
                if last.state == ActionState::Planned && last.mode == Mode::Approve.as_str() {
                    // recorded as planned, then the engine stopped before asking
                    return Progress::Going(
                        last.moved(
                            ActionState::PendingApproval,
                            ENGINE,
                            "waiting for a responder's approval",
                            now,
                        )
                        .map(|mut r| {
                            r.expires_ms = Some(now + self.settings.approval_ttl_ms);
                            vec![record(r)]
                        })
                        .unwrap_or_default(),
                    );
                }
                if incident.is_resolved() && last.acts() {
                    return Progress::Going(
                        last.moved(
                            ActionState::Skipped,
                            ENGINE,
                            "the incident resolved before it ran",
                            now,
                        )
                        .map(|r| vec![record(r)])
                        .unwrap_or_default(),
                    );
                }
                if last.acts() {
                    let service = last.service.as_deref().unwrap_or_default();
                    if may_act_now(w, &self.settings, &last.action, service, &last.id).is_err() {
                        // wait for the switch, fresh telemetry, a free target
                        return Progress::Going(Vec::new());
                    }
                }
                let why = if last.state == ActionState::Approved {
                    format!("approved by {}", last.by)
                } else {
                    "auto mode".to_owned()
                };
                Progress::Going(self.run(last, &why, ENGINE, now))
            }
            ActionState::Running => {
                if last.action == "wait" && last.due_ms.is_some_and(|d| now >= d) {
                    return Progress::Going(
                        last.moved(ActionState::Succeeded, ENGINE, "waited", now)
                            .map(|r| vec![record(r)])
                            .unwrap_or_default(),
                    );
                }
                Progress::Going(Vec::new())
            }
            ActionState::Succeeded if !last.is_final() => {
                self.verify(playbook, last, run, incident, w)
            }
            ActionState::Succeeded if last.action.starts_with(UNDO_PREFIX) => {
                // the undo worked: the action it took back is undone; then people
                let mut out = Vec::new();
                if let Some(original) = run
                    .iter()
                    .find(|r| r.step == last.step && !r.action.starts_with(UNDO_PREFIX) && r.acts())
                    && let Ok(undone) = original.moved(
                        ActionState::Undone,
                        ENGINE,
                        format!("undone by {}", last.id),
                        now,
                    )
                {
                    out.push(record(undone));
                }
                out.extend(self.escalate(
                    &last.key,
                    incident,
                    &last.playbook,
                    last.step,
                    last.attempt,
                    &format!("{} verified nothing and was undone", last.plan),
                    w,
                ));
                Progress::Going(out)
            }
            ActionState::Failed if last.acts() || last.action.starts_with(UNDO_PREFIX) => {
                let why = format!(
                    "{} {} failed: {}",
                    last.action,
                    last.service.as_deref().unwrap_or(""),
                    last.reason
                );
                let effects = self.escalate(
                    &last.key,
                    incident,
                    &last.playbook,
                    last.step,
                    last.attempt,
                    &why,
                    w,
                );
                if effects.is_empty() {
                    Progress::Over
                } else {
                    Progress::Going(effects)
                }
            }
            ActionState::Succeeded => {
                let verified = last
                    .verification
                    .as_ref()
                    .is_none_or(|v| v.state == VerificationState::Passed);
                let next = last.step as usize + 1;
                if verified && last.action != "escalate" && next < playbook.steps.len() {
                    let effects = self.next_step(playbook, incident, last.attempt, next, w);
                    if !effects.is_empty() {
                        return Progress::Going(effects);
                    }
                    // planned already, or waiting: still going unless the step exists and is final
                    let key = step_key(&incident.id, &last.playbook, last.attempt, next as u32);
                    return if w.ledger.iter().any(|r| r.id == id_of(&key)) {
                        Progress::Over
                    } else {
                        Progress::Going(Vec::new())
                    };
                }
                Progress::Over
            }
            _ => Progress::Over,
        }
    }

    /// Plans step `k` (> 0) of an approved or automatic run.
    fn next_step(
        &self,
        playbook: &Playbook,
        incident: &Incident,
        attempt: u32,
        k: usize,
        w: &World<'_>,
    ) -> Vec<Effect> {
        let now = w.now_ms;
        let name = &playbook.name.value;
        let key = step_key(&incident.id, name, attempt, k as u32);
        if w.ledger.iter().any(|r| r.id == id_of(&key)) {
            return Vec::new();
        }
        let step = &playbook.steps[k];
        let top = matching::top_service(incident);
        let mut planned = ActionRecord::new(
            key,
            &incident.id,
            name,
            k as u32,
            attempt,
            step.value.action(),
            playbook.mode.as_str(),
            ActionState::Planned,
            format!("step {} of {name}, after step {k} went well", k + 1),
            describe(playbook, top, w.executor.map(|c| c.executor.as_str())),
            now,
        );
        self.fill(&mut planned, &step.value, top, w, now);
        if let Some(target) = step.value.target() {
            let verdict = match resolve(target, top) {
                None => Err(Blocked {
                    guardrail: "target",
                    why: "the incident has no ranked root cause to act on".into(),
                }),
                Some(service) => may_start(
                    w,
                    &self.settings,
                    playbook,
                    incident,
                    step.value.action(),
                    service,
                    None,
                    Some(attempt),
                ),
            };
            if let Err(blocked) = verdict {
                let Ok(skipped) = planned.moved(
                    ActionState::Skipped,
                    ENGINE,
                    format!("{}: {}", blocked.guardrail, blocked.why),
                    now,
                ) else {
                    return Vec::new();
                };
                return vec![record(planned), record(skipped)];
            }
        }
        let mut out = vec![record(planned.clone())];
        out.extend(self.run(&planned, "the run goes on", ENGINE, now));
        out
    }

    /// Judges an action's effect: healthy after the settle time passes it;
    /// the deadline unhealthy fails it, then undo (where the playbook says
    /// so and it can be undone) or escalate.
    fn verify(
        &self,
        playbook: &Playbook,
        last: &ActionRecord,
        run: &[&ActionRecord],
        incident: &Incident,
        w: &World<'_>,
    ) -> Progress {
        let now = w.now_ms;
        let Some(v) = &last.verification else {
            return Progress::Over;
        };
        let service = last.service.as_deref().unwrap_or_default();
        let acted_ms = last
            .history
            .iter()
            .find(|t| t.state == ActionState::Succeeded)
            .map_or(last.updated_ms, |t| t.at_ms);
        let health = target_health(incident, service);
        let mut decided = last.clone();
        if let Ok(why) = &health
            && now - acted_ms >= self.settings.verify_settle_ms
        {
            decided.verification = Some(Verification {
                state: VerificationState::Passed,
                decided_ms: Some(now),
                why: why.clone(),
                ..v.clone()
            });
            decided.updated_ms = now;
            return Progress::Going(vec![Effect::Record {
                record: decided,
                event: "verified".into(),
            }]);
        }
        if now < v.deadline_ms {
            return Progress::Going(Vec::new());
        }
        let why = health
            .err()
            .unwrap_or_else(|| "not judged before the deadline".into());
        decided.verification = Some(Verification {
            state: VerificationState::Failed,
            decided_ms: Some(now),
            why: why.clone(),
            ..v.clone()
        });
        decided.updated_ms = now;
        let mut out = vec![Effect::Record {
            record: decided.clone(),
            event: "verification_failed".into(),
        }];
        let undoable = matches!(last.action.as_str(), "rollback" | "scale");
        if playbook.guardrails.on_failure == OnFailure::Undo
            && undoable
            && !run.iter().any(|r| r.action.starts_with(UNDO_PREFIX))
        {
            let key = format!("{}/undo", last.key);
            if !w.ledger.iter().any(|r| r.id == id_of(&key)) {
                let mut undo = ActionRecord::new(
                    key,
                    &last.incident_id,
                    &last.playbook,
                    last.step,
                    last.attempt,
                    &format!("{UNDO_PREFIX}{}", last.action),
                    &last.mode,
                    ActionState::Planned,
                    format!("verification failed ({why}): undoing {}", last.id),
                    format!(
                        "undo {} {}: {}",
                        last.action,
                        service,
                        undo_text(&last.action)
                    ),
                    now,
                );
                undo.service = last.service.clone();
                undo.executor = last.executor.clone();
                undo.replicas = last.replicas;
                out.push(record(undo.clone()));
                out.extend(self.run(&undo, "verification failed", ENGINE, now));
                return Progress::Going(out);
            }
        }
        out.extend(self.escalate(
            &last.key,
            incident,
            &last.playbook,
            last.step,
            last.attempt,
            &format!("verification of {} {service} failed: {why}", last.action),
            w,
        ));
        Progress::Going(out)
    }

    /// Hands the incident to people: an `escalate` record, carried out by
    /// the edge (a timeline note, notifications). Once per key.
    #[allow(clippy::too_many_arguments)]
    fn escalate(
        &self,
        base_key: &str,
        incident: &Incident,
        playbook: &str,
        step: u32,
        attempt: u32,
        why: &str,
        w: &World<'_>,
    ) -> Vec<Effect> {
        let key = format!("{base_key}/escalate");
        if w.ledger.iter().any(|r| r.id == id_of(&key)) {
            return Vec::new();
        }
        let planned = ActionRecord::new(
            key,
            &incident.id,
            playbook,
            step,
            attempt,
            "escalate",
            Mode::Auto.as_str(),
            ActionState::Planned,
            why.to_owned(),
            format!("escalate: {why}"),
            w.now_ms,
        );
        let mut out = vec![record(planned.clone())];
        out.extend(self.run(&planned, "escalation", ENGINE, w.now_ms));
        out
    }

    /// The record after its executor answered: succeeded (then verified, if
    /// it changed a service) or failed.
    pub fn finished(
        &self,
        r: &ActionRecord,
        outcome: Result<String, String>,
        now_ms: i64,
    ) -> Option<ActionRecord> {
        match outcome {
            Ok(detail) => {
                let mut done = r
                    .moved(ActionState::Succeeded, ENGINE, detail.clone(), now_ms)
                    .ok()?;
                done.result = Some(detail);
                if r.acts() && !r.action.starts_with(UNDO_PREFIX) {
                    let within = self
                        .playbook(&r.playbook)
                        .map_or(60_000, |p| p.guardrails.verify_within.ms());
                    done.verification = Some(Verification {
                        state: VerificationState::Pending,
                        deadline_ms: now_ms + within,
                        decided_ms: None,
                        why: format!(
                            "{} must have no active strong signal of its own within {}s",
                            r.service.as_deref().unwrap_or("the target"),
                            within / 1000
                        ),
                    });
                }
                Some(done)
            }
            Err(why) => {
                let mut failed = r
                    .moved(ActionState::Failed, ENGINE, why.clone(), now_ms)
                    .ok()?;
                failed.result = Some(why);
                Some(failed)
            }
        }
    }
}

/// Records left `running` by an engine that stopped: their outcome is
/// unknown, and they are never carried out again. Waits and timeline steps
/// resume (a wait's end is in its record).
pub fn recover(ledger: &[ActionRecord], now_ms: i64) -> Vec<ActionRecord> {
    ledger
        .iter()
        .filter(|r| r.state == ActionState::Running && r.action != "wait")
        .filter_map(|r| {
            r.moved(
                ActionState::Failed,
                ENGINE,
                "the engine stopped while this ran; its outcome is unknown and it is not carried out again",
                now_ms,
            )
            .ok()
        })
        .collect()
}

/// Healthy: no active strong signal of the service's own that is a
/// symptom (changes such as the restart itself do not count); a resolved
/// incident is healthy.
pub fn target_health(incident: &Incident, service: &str) -> Result<String, String> {
    if incident.is_resolved() {
        return Ok("the incident resolved".into());
    }
    match incident
        .own_signals(service)
        .find(|s| s.is_active() && s.weight == Weight::Strong && !s.is_change())
    {
        Some(s) => Err(format!("{service} still has {}: {}", s.key, s.why)),
        None => Ok(format!("{service} has no active strong signal of its own")),
    }
}

fn resolve<'a>(target: &'a Target, top: Option<&'a str>) -> Option<&'a str> {
    match target {
        Target::TopService => top,
        Target::Service(name) => Some(name.as_str()),
    }
}

fn order_in_step(r: &ActionRecord) -> u8 {
    if r.action == "escalate" {
        2
    } else if r.action.starts_with(UNDO_PREFIX) {
        1
    } else {
        0
    }
}

fn upsert(ledger: &mut Vec<ActionRecord>, r: ActionRecord) {
    match ledger.iter_mut().find(|x| x.id == r.id) {
        Some(x) => *x = r,
        None => ledger.push(r),
    }
}

fn matched_reasons(report: &MatchReport) -> String {
    report
        .reasons
        .iter()
        .filter_map(|r| r.strip_prefix("ok "))
        .collect::<Vec<_>>()
        .join("; ")
}

fn undo_text(action: &str) -> &'static str {
    match action {
        "rollback" => "start the release it rolled back from again",
        "scale" => "set the replicas back",
        _ => "",
    }
}

/// The whole plan in words, for the person approving it.
pub fn describe(playbook: &Playbook, top: Option<&str>, executor: Option<&str>) -> String {
    let through = |executors: &[crate::model::Executor]| match executor {
        Some(e) => format!(" through the {e} executor"),
        None if executors.is_empty() => String::new(),
        None => format!(
            " (needs {})",
            executors
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    };
    let verify = format!(
        "; verify within {} that it has no active strong signal of its own (on failure: {})",
        playbook.guardrails.verify_within.value,
        match playbook.guardrails.on_failure {
            OnFailure::Escalate => "escalate",
            OnFailure::Undo => "undo, then escalate",
        }
    );
    let steps: Vec<String> = playbook
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let target = |t: &Target| resolve(t, top).unwrap_or("(no ranked service)").to_owned();
            let text = match &s.value {
                Step::Restart {
                    target: t,
                    executors,
                } => format!("restart {}{}{verify}", target(t), through(executors)),
                Step::Rollback {
                    target: t,
                    executors,
                } => format!(
                    "roll {} back to its previous release{}{verify}",
                    target(t),
                    through(executors)
                ),
                Step::Scale {
                    target: t,
                    by,
                    to,
                    executors,
                } => match (by, to) {
                    (Some(by), _) => format!(
                        "scale {} by {:+}{}{verify}",
                        target(t),
                        by.value,
                        through(executors)
                    ),
                    (_, Some(to)) => format!(
                        "scale {} to {}{}{verify}",
                        target(t),
                        to.value,
                        through(executors)
                    ),
                    _ => format!("scale {}", target(t)),
                },
                Step::Annotate { text } => format!("note on the incident: {}", text.value),
                Step::Wait { duration } => format!("wait {}", duration.value),
                Step::Escalate { text } => format!("escalate: {}", text.value),
            };
            format!("{}. {text}", i + 1)
        })
        .collect();
    steps.join(" ")
}

/// What a playbook would do to an incident at `now_ms`, with nothing
/// recorded and nothing carried out: `aiops playbook test` and the
/// console's dry run. The world is the calm one (switch on, telemetry
/// fresh, nothing else in flight), so what stops it is the playbook's own
/// conditions and guardrails, or what the target cannot do.
pub struct Rehearsal {
    pub report: MatchReport,
    pub plan: Option<String>,
    /// The services its actions would change.
    pub targets: Vec<String>,
    /// The records the engine would append, in order.
    pub records: Vec<ActionRecord>,
    /// Whether the first action would be handed to the executor now.
    pub would_act: bool,
}

pub fn rehearse(
    playbook: &Playbook,
    incident: &Incident,
    now_ms: i64,
    executor: Option<&crate::guardrails::Capability>,
    settings: &Settings,
) -> Rehearsal {
    let report = matching::matches(playbook, incident, now_ms);
    let top = matching::top_service(incident);
    let targets: Vec<String> = playbook
        .steps
        .iter()
        .filter_map(|s| s.target().and_then(|t| resolve(t, top)).map(str::to_owned))
        .collect();
    if !report.matched {
        return Rehearsal {
            report,
            plan: None,
            targets,
            records: Vec::new(),
            would_act: false,
        };
    }
    let remediator = Remediator::new(vec![playbook.clone()], settings.clone());
    let effects = remediator.decide(&World {
        now_ms,
        incidents: std::slice::from_ref(incident),
        ledger: &[],
        switched_off: None,
        telemetry_age_ms: Some(0),
        executor,
    });
    let mut records: Vec<ActionRecord> = Vec::new();
    let mut would_act = false;
    for e in effects {
        match e {
            Effect::Record { record, .. } => records.push(record),
            Effect::Execute(_) => would_act = true,
        }
    }
    Rehearsal {
        plan: Some(describe(
            playbook,
            top,
            executor.map(|c| c.executor.as_str()),
        )),
        report,
        targets,
        records,
        would_act,
    }
}
