//! The loop's decisions with simulated time: every guardrail is shown to
//! stop an action that goes through without it.
#![allow(clippy::unwrap_used)]

use aiops_analysis::{
    Cause, Direction, Incident, IncidentState, Member, Severity, Signal, SignalKind, Weight,
};

use crate::decide::{Effect, Remediator, recover};
use crate::guardrails::{Capability, Settings, World};
use crate::ledger::{ActionRecord, ActionState, VerificationState};
use crate::load::parse;
use crate::model::{Executor, Playbook};

const T0: i64 = 1_800_000_000_000;

fn signal(service: &str, metric: &str, kind: SignalKind, onset: i64, active: bool) -> Signal {
    Signal {
        key: format!("{service}/{metric}"),
        kind,
        service: service.into(),
        peer: None,
        labels: Default::default(),
        metric: metric.into(),
        score: 0.9,
        direction: Direction::Up,
        weight: if kind == SignalKind::Deploy {
            Weight::Weak
        } else {
            Weight::Strong
        },
        onset_ms: onset,
        detected_ms: onset,
        ended_ms: (!active).then_some(onset + 1),
        value: Some(1.0),
        baseline: Some(0.0),
        deviation: Some(8.0),
        why: format!("{service} {metric} went up"),
    }
}

fn incident(id: &str, top: &str, signals: Vec<Signal>) -> Incident {
    Incident {
        id: id.into(),
        state: IncidentState::Open,
        title: format!("{top}: trouble"),
        opened_at_ms: T0,
        updated_at_ms: T0,
        acknowledged_at_ms: None,
        resolved_at_ms: None,
        last_active_ms: T0,
        services: vec![top.into()],
        root_cause: vec![Cause {
            service: top.into(),
            score: 0.8,
            reasons: vec![],
            evidence: vec![],
        }],
        signals: signals
            .into_iter()
            .map(|s| Member {
                joined_at_ms: s.detected_ms,
                signal: s,
                reason: "test".into(),
                starts: 1,
            })
            .collect(),
        timeline: vec![],
        revision: 1,
        signals_dropped: 0,
        window_causes: vec![],
        severity: Severity::Warning,
    }
}

fn leak(id: &str, service: &str, active: bool) -> Incident {
    incident(
        id,
        service,
        vec![signal(
            service,
            "memory",
            SignalKind::MetricAnomaly,
            T0,
            active,
        )],
    )
}

const RESTART: &str = r#"
name: restart-on-leak
mode: auto
when:
  severity: warning
  signals: [{kind: metric_anomaly, metric: memory, direction: up}]
steps:
  - action: restart
guardrails:
  cooldown: 10m
  verify_within: 60s
"#;

fn playbook(text: &str) -> Playbook {
    parse(text).unwrap_or_else(|e| panic!("{e:?}"))
}

fn process() -> Capability {
    Capability {
        executor: Executor::Process,
        refuses: vec![("scale".into(), "one process per service".into())],
    }
}

/// One simulated engine: a ledger that takes effects the way the edge does.
struct Sim {
    remediator: Remediator,
    ledger: Vec<ActionRecord>,
    executed: Vec<String>,
    cap: Capability,
    switched_off: Option<String>,
    telemetry_age_ms: Option<i64>,
}

impl Sim {
    fn new(playbooks: &[&str], settings: Settings) -> Sim {
        Sim {
            remediator: Remediator::new(playbooks.iter().map(|t| playbook(t)).collect(), settings),
            ledger: Vec::new(),
            executed: Vec::new(),
            cap: process(),
            switched_off: None,
            telemetry_age_ms: Some(1_000),
        }
    }

    /// Decides at `now`, applies records, "executes" with `outcome`.
    fn step(
        &mut self,
        incidents: &[Incident],
        now: i64,
        outcome: Result<&str, &str>,
    ) -> Vec<Effect> {
        let effects = self.remediator.decide(&World {
            now_ms: now,
            incidents,
            ledger: &self.ledger,
            switched_off: self.switched_off.as_deref(),
            telemetry_age_ms: self.telemetry_age_ms,
            executor: Some(&self.cap),
        });
        for e in &effects {
            match e {
                Effect::Record { record, .. } => self.put(record.clone()),
                Effect::Execute(r) => {
                    self.executed.push(format!(
                        "{} {}",
                        r.action,
                        r.service.clone().unwrap_or_default()
                    ));
                    let done = self
                        .remediator
                        .finished(r, outcome.map(str::to_owned).map_err(str::to_owned), now)
                        .unwrap();
                    self.put(done);
                }
            }
        }
        effects
    }

    fn put(&mut self, r: ActionRecord) {
        match self.ledger.iter_mut().find(|x| x.id == r.id) {
            Some(x) => *x = r,
            None => self.ledger.push(r),
        }
    }

    fn states(&self) -> Vec<(String, &'static str)> {
        self.ledger
            .iter()
            .map(|r| (r.action.clone(), r.state.as_str()))
            .collect()
    }

    fn reasons(&self) -> String {
        self.ledger
            .iter()
            .map(|r| r.reason.clone())
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

const CATCH_ALL: &str = r#"
name: zz-catch-all
mode: auto
when: {severity: warning}
steps:
  - action: restart
  - action: escalate
    text: one restart did not help
"#;

#[test]
fn a_leak_is_restarted_verified_and_not_restarted_again() {
    // the catch-all matches too, but the incident is the leak playbook's
    let mut sim = Sim::new(&[RESTART, CATCH_ALL], Settings::default());
    let sick = [leak("inc-1", "recommendation", true)];
    let effects = sim.step(&sick, T0 + 5_000, Ok("restarted"));
    let events: Vec<String> = effects
        .iter()
        .map(|e| match e {
            Effect::Record { event, .. } => event.clone(),
            Effect::Execute(_) => "EXECUTE".into(),
        })
        .collect();
    assert_eq!(
        events,
        ["planned", "running", "EXECUTE"],
        "appended before carried out"
    );
    assert_eq!(sim.executed, ["restart recommendation"]);
    let r = &sim.ledger[0];
    assert_eq!(r.state, ActionState::Succeeded);
    assert_eq!(
        r.verification.as_ref().unwrap().state,
        VerificationState::Pending
    );
    // still sick within the settle time: nothing new, nothing repeated
    sim.step(&sick, T0 + 10_000, Ok("x"));
    assert_eq!(sim.executed.len(), 1);
    // healthy, but before the settle time: not yet passed
    let healed = [leak("inc-1", "recommendation", false)];
    sim.step(&healed, T0 + 12_000, Ok("x"));
    assert_eq!(
        sim.ledger[0].verification.as_ref().unwrap().state,
        VerificationState::Pending
    );
    sim.step(&healed, T0 + 25_000, Ok("x"));
    assert_eq!(
        sim.ledger[0].verification.as_ref().unwrap().state,
        VerificationState::Passed
    );
    // the fault comes back in the same incident: cooldown and attempts hold
    for t in 0..20 {
        sim.step(&sick, T0 + 30_000 + t * 5_000, Ok("x"));
    }
    assert_eq!(sim.executed.len(), 1, "never loops: {:?}", sim.states());
}

#[test]
fn no_incident_no_record() {
    let mut sim = Sim::new(&[RESTART], Settings::default());
    for t in 0..10 {
        sim.step(&[], T0 + t * 5_000, Ok("x"));
    }
    // an incident the playbook does not match: nothing recorded either
    let errors = [incident(
        "inc-9",
        "payments",
        vec![signal(
            "payments",
            "error_ratio",
            SignalKind::MetricAnomaly,
            T0,
            true,
        )],
    )];
    sim.step(&errors, T0 + 60_000, Ok("x"));
    assert!(sim.ledger.is_empty(), "{:?}", sim.states());
}

#[test]
fn a_failed_verification_escalates_and_nothing_starts_after() {
    let mut sim = Sim::new(&[RESTART, CATCH_ALL], Settings::default());
    let sick = [leak("inc-1", "cart", true)];
    sim.step(&sick, T0, Ok("restarted"));
    for t in 1..=30 {
        sim.step(&sick, T0 + t * 5_000, Ok("restarted"));
    }
    assert_eq!(
        sim.executed,
        ["restart cart", "escalate "],
        "{:?}",
        sim.states()
    );
    let v = sim.ledger[0].verification.as_ref().unwrap();
    assert_eq!(v.state, VerificationState::Failed);
    assert!(v.why.contains("cart/memory"), "{}", v.why);
    assert!(
        sim.ledger
            .iter()
            .any(|r| r.action == "escalate" && r.state == ActionState::Succeeded)
    );
}

#[test]
fn a_rollback_that_does_not_help_is_undone_then_escalated() {
    let rollback = r#"
name: rollback-after-deploy
mode: auto
when:
  deployed_within: 15m
steps:
  - action: rollback
guardrails:
  on_failure: undo
  verify_within: 30s
"#;
    let mut sim = Sim::new(&[rollback], Settings::default());
    let sick = [incident(
        "inc-2",
        "orders",
        vec![
            signal("orders", "version", SignalKind::Deploy, T0 - 60_000, false),
            signal("orders", "error_ratio", SignalKind::MetricAnomaly, T0, true),
        ],
    )];
    for t in 0..12 {
        sim.step(&sick, T0 + t * 5_000, Ok("done"));
    }
    assert_eq!(
        sim.executed,
        ["rollback orders", "undo-rollback orders", "escalate "],
        "{:?}",
        sim.states()
    );
    let original = sim.ledger.iter().find(|r| r.action == "rollback").unwrap();
    assert_eq!(original.state, ActionState::Undone);
}

#[test]
fn without_a_deploy_the_rollback_playbook_does_not_match() {
    let rollback = r#"
name: rollback-after-deploy
mode: auto
when: {deployed_within: 15m}
steps: [{action: rollback}]
"#;
    let mut sim = Sim::new(&[rollback], Settings::default());
    let old_deploy = [incident(
        "inc-3",
        "orders",
        vec![
            signal(
                "orders",
                "version",
                SignalKind::Deploy,
                T0 - 3_600_000,
                false,
            ),
            signal("orders", "error_ratio", SignalKind::MetricAnomaly, T0, true),
        ],
    )];
    sim.step(&old_deploy, T0, Ok("x"));
    assert!(sim.ledger.is_empty());
}

fn skipped_by(sim: &Sim) -> Vec<String> {
    sim.ledger
        .iter()
        .filter(|r| r.state == ActionState::Skipped)
        .map(|r| r.reason.split(':').next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn the_kill_switch_stops_it_and_releasing_it_lets_it_act() {
    let mut sim = Sim::new(&[RESTART], Settings::default());
    sim.switched_off = Some("switched off by alice".into());
    let sick = [leak("inc-1", "cart", true)];
    for t in 0..5 {
        sim.step(&sick, T0 + t * 5_000, Ok("x"));
    }
    assert!(sim.executed.is_empty());
    assert_eq!(
        skipped_by(&sim),
        ["kill_switch"],
        "recorded once, not every evaluation"
    );
    sim.switched_off = None;
    sim.step(&sick, T0 + 30_000, Ok("x"));
    assert_eq!(sim.executed, ["restart cart"]);
}

#[test]
fn a_blind_engine_does_not_act() {
    let mut sim = Sim::new(&[RESTART], Settings::default());
    sim.telemetry_age_ms = Some(120_000);
    sim.step(&[leak("inc-1", "cart", true)], T0, Ok("x"));
    assert!(sim.executed.is_empty());
    assert_eq!(skipped_by(&sim), ["stale_telemetry"]);
    sim.telemetry_age_ms = None;
    sim.step(&[leak("inc-2", "orders", true)], T0, Ok("x"));
    assert_eq!(sim.executed.len(), 0);
}

#[test]
fn a_target_that_cannot_do_it_refuses_with_its_reason() {
    let scale = r#"
name: scale-out
mode: auto
when: {signals: [{metric: cpu}]}
steps: [{action: scale, by: 1}]
"#;
    let mut sim = Sim::new(&[scale], Settings::default());
    sim.step(
        &[incident(
            "inc-1",
            "orders",
            vec![signal("orders", "cpu", SignalKind::MetricAnomaly, T0, true)],
        )],
        T0,
        Ok("x"),
    );
    assert!(sim.executed.is_empty());
    assert!(
        sim.reasons()
            .contains("refuses scale: one process per service"),
        "{}",
        sim.reasons()
    );
}

#[test]
fn approval_waits_expires_and_never_runs_unapproved() {
    let approve = RESTART.replace("mode: auto", "mode: approve");
    let settings = Settings {
        approval_ttl_ms: 60_000,
        ..Settings::default()
    };
    let mut sim = Sim::new(&[&approve], settings);
    let sick = [leak("inc-1", "cart", true)];
    sim.step(&sick, T0, Ok("x"));
    let r = &sim.ledger[0];
    assert_eq!(r.state, ActionState::PendingApproval);
    assert_eq!(r.expires_ms, Some(T0 + 60_000));
    for t in 1..=12 {
        sim.step(&sick, T0 + t * 5_000, Ok("x"));
    }
    assert!(sim.executed.is_empty());
    assert_eq!(sim.ledger[0].state, ActionState::Skipped);
    assert!(
        sim.ledger[0].reason.contains("approval expired"),
        "{}",
        sim.ledger[0].reason
    );
    // approved in time: it runs, as approved by whom
    let mut sim = Sim::new(&[&approve], Settings::default());
    sim.step(&sick, T0, Ok("x"));
    let approved = sim.ledger[0]
        .moved(ActionState::Approved, "alice", "approved", T0 + 1_000)
        .unwrap();
    sim.put(approved);
    sim.step(&sick, T0 + 5_000, Ok("x"));
    assert_eq!(sim.executed, ["restart cart"]);
    assert!(sim.ledger[0].history.iter().any(|t| t.by == "alice"));
}

#[test]
fn dry_run_only_records_the_plan() {
    let dry = RESTART.replace("mode: auto", "mode: dry-run");
    let mut sim = Sim::new(&[&dry], Settings::default());
    for t in 0..5 {
        sim.step(&[leak("inc-1", "cart", true)], T0 + t * 5_000, Ok("x"));
    }
    assert!(sim.executed.is_empty());
    assert_eq!(sim.states(), [("restart".to_owned(), "planned")]);
    assert!(
        sim.ledger[0]
            .plan
            .contains("restart cart through the process executor"),
        "{}",
        sim.ledger[0].plan
    );
}

#[test]
fn cooldown_rate_limit_and_allow_list_per_playbook() {
    // cooldown: the same playbook on the same service within 10 minutes
    let mut sim = Sim::new(&[RESTART], Settings::default());
    sim.step(&[leak("inc-1", "cart", true)], T0, Ok("x"));
    sim.step(&[leak("inc-1", "cart", false)], T0 + 20_000, Ok("x"));
    sim.step(&[leak("inc-2", "cart", true)], T0 + 60_000, Ok("x"));
    assert_eq!(sim.executed.len(), 1);
    assert_eq!(skipped_by(&sim), ["cooldown"]);
    // after the cooldown it may act again
    sim.step(&[leak("inc-3", "cart", true)], T0 + 11 * 60_000, Ok("x"));
    assert_eq!(sim.executed.len(), 2);

    // rate limit: at most 2 runs an hour over all targets
    let limited = RESTART.replace("  cooldown: 10m", "  cooldown: 1s\n  max_runs: 2");
    let mut sim = Sim::new(&[&limited], Settings::default());
    for (i, svc) in ["cart", "orders", "catalog"].iter().enumerate() {
        let t = T0 + i as i64 * 60_000;
        sim.step(&[leak(&format!("inc-{i}"), svc, true)], t, Ok("x"));
        sim.step(
            &[leak(&format!("inc-{i}"), svc, false)],
            t + 20_000,
            Ok("x"),
        );
    }
    assert_eq!(sim.executed.len(), 2);
    assert_eq!(skipped_by(&sim), ["rate_limit"]);

    // allow list
    let listed = RESTART.replace("  cooldown: 10m", "  cooldown: 10m\n  targets: [cart]");
    let mut sim = Sim::new(&[&listed], Settings::default());
    sim.step(&[leak("inc-1", "payments", true)], T0, Ok("x"));
    assert!(sim.executed.is_empty());
    assert_eq!(skipped_by(&sim), ["allow_list"]);
}

#[test]
fn one_action_per_target_and_a_cap_on_services_at_once() {
    let mut sim = Sim::new(&[RESTART], Settings::default());
    // two incidents on the same service at once: one restart
    sim.step(
        &[leak("inc-1", "cart", true), leak("inc-2", "cart", true)],
        T0,
        Ok("x"),
    );
    assert_eq!(sim.executed.len(), 1);
    assert_eq!(skipped_by(&sim), ["busy"]);
    // another service while cart is still being verified: at most one at once
    sim.step(
        &[leak("inc-1", "cart", true), leak("inc-3", "orders", true)],
        T0 + 5_000,
        Ok("x"),
    );
    assert_eq!(sim.executed.len(), 1);
    assert!(
        skipped_by(&sim).contains(&"concurrency".to_owned()),
        "{:?}",
        skipped_by(&sim)
    );
    // with two allowed at once, orders goes ahead
    let mut sim = Sim::new(
        &[RESTART],
        Settings {
            max_concurrent_actions: 2,
            ..Settings::default()
        },
    );
    sim.step(
        &[leak("inc-1", "cart", true), leak("inc-3", "orders", true)],
        T0,
        Ok("x"),
    );
    assert_eq!(sim.executed.len(), 2);
}

#[test]
fn the_loop_breaker_stops_and_escalates_once() {
    let again = RESTART.replace(
        "  cooldown: 10m",
        "  cooldown: 1s\n  max_attempts_per_incident: 10\n  max_runs: 100",
    );
    let settings = Settings {
        max_actions_per_incident: 2,
        ..Settings::default()
    };
    let mut sim = Sim::new(&[&again], settings);
    // a restart that "works" but the fault keeps coming back
    for round in 0..6 {
        let t = T0 + round * 40_000;
        sim.step(&[leak("inc-1", "cart", true)], t, Ok("x"));
        sim.step(&[leak("inc-1", "cart", false)], t + 20_000, Ok("x"));
    }
    assert_eq!(
        sim.executed,
        ["restart cart", "restart cart", "escalate "],
        "{:?}",
        sim.states()
    );
    assert_eq!(skipped_by(&sim), ["loop_breaker"]);
}

#[test]
fn after_a_crash_a_running_action_is_never_carried_out_again() {
    let mut sim = Sim::new(&[RESTART], Settings::default());
    let sick = [leak("inc-1", "cart", true)];
    // decide, record, and "crash" before the executor answered
    let effects = sim.remediator.decide(&World {
        now_ms: T0,
        incidents: &sick,
        ledger: &[],
        switched_off: None,
        telemetry_age_ms: Some(1_000),
        executor: Some(&sim.cap),
    });
    for e in effects {
        if let Effect::Record { record, .. } = e {
            sim.put(record);
        }
    }
    assert_eq!(sim.ledger[0].state, ActionState::Running);
    // restart: recovery marks it failed; the loop escalates instead of repeating
    for r in recover(&sim.ledger, T0 + 1_000) {
        sim.put(r);
    }
    assert_eq!(sim.ledger[0].state, ActionState::Failed);
    for t in 1..10 {
        sim.step(&sick, T0 + t * 5_000, Ok("x"));
    }
    assert_eq!(sim.executed, ["escalate "], "{:?}", sim.states());
}

#[test]
fn deciding_twice_gives_the_same_ids() {
    let sim = Sim::new(&[RESTART], Settings::default());
    let sick = [leak("inc-1", "cart", true)];
    let world = World {
        now_ms: T0,
        incidents: &sick,
        ledger: &[],
        switched_off: None,
        telemetry_age_ms: Some(1_000),
        executor: Some(&sim.cap),
    };
    let ids = |effects: Vec<Effect>| -> Vec<String> {
        effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Record { record, .. } => Some(record.id),
                _ => None,
            })
            .collect()
    };
    let a = ids(sim.remediator.decide(&world));
    let b = ids(sim.remediator.decide(&World {
        now_ms: T0 + 7_000,
        ..world
    }));
    assert_eq!(a, b, "an engine that decides again finds the same records");
}

#[test]
fn playbooks_are_read_with_every_error_placed() {
    let p = playbook(RESTART);
    assert_eq!(p.name.value, "restart-on-leak");
    assert_eq!(p.guardrails.cooldown.ms(), 600_000);
    assert_eq!(p.guardrails.max_runs, 3, "defaults fill the rest");
    let cases = [
        (
            RESTART.replace("mode: auto", "mode: sometimes"),
            3,
            "unknown variant",
        ),
        (
            RESTART.replace("  cooldown: 10m", "  cooldown: 10 minutes"),
            15,
            "cooldown",
        ),
        (
            RESTART.replace(
                "steps:\n  - action: restart",
                "steps:\n  - action: scale\n    to: 0",
            ),
            7,
            "never allowed",
        ),
        (
            RESTART.replace(
                "  - action: restart",
                "  - action: escalate\n    text: x\n  - action: restart",
            ),
            8,
            "ends a playbook",
        ),
        (
            RESTART.replace("name: restart-on-leak", "name: Restart_On_Leak"),
            2,
            "a-z, 0-9",
        ),
        (
            format!("{RESTART}\n  not_a_field_anywhere: [unclosed\n"),
            18,
            "",
        ),
        (
            RESTART.replace("  severity: warning", "  severity: warning\n  colour: red"),
            5,
            "unknown field",
        ),
    ];
    for (text, line, want) in cases {
        let problems = parse(&text)
            .err()
            .unwrap_or_else(|| panic!("accepted: {text}"));
        let p = &problems[0];
        assert!(p.message.contains(want), "{want}: {problems:?}");
        assert!(
            p.line >= line.min(p.line) && p.line > 0,
            "placed: {problems:?}"
        );
        assert!(p.column > 0, "{problems:?}");
    }
}
