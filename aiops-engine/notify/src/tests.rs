//! Routing and decisions on simulated time.

use aiops_analysis::{IncidentState, Severity};

use crate::decide::{Entry, Incident, Kind, MAX_LOG, MAX_UPDATES, Silence, append, decide};
use crate::routing::{IncidentFacts, Routing};

const MIN: i64 = 60_000;
/// 2026-12-07 12:00 UTC: not quiet hours.
const NOON: i64 = 1_796_644_800_000;

fn routing() -> Routing {
    let text = include_str!("../../../rules/notify.yaml");
    Routing::parse(text).unwrap_or_else(|e| panic!("rules/notify.yaml: {e:?}"))
}

fn facts(cause: &str, severity: Severity) -> IncidentFacts {
    IncidentFacts {
        services: vec![cause.into(), "frontend".into()],
        cause: Some(cause.into()),
        severity,
        labels: vec![],
    }
}

fn incident<'a>(id: &'a str, cause: &str, severity: Severity, revision: i64) -> Incident<'a> {
    Incident {
        id,
        state: IncidentState::Open,
        revision,
        opened_at_ms: NOON,
        facts: facts(cause, severity),
    }
}

fn receivers_of(routing: &Routing, cause: &str, severity: Severity) -> Vec<String> {
    routing
        .receivers_for(&facts(cause, severity))
        .into_iter()
        .map(|r| r.receiver)
        .collect()
}

fn sent(log: &[Entry], kind: Kind) -> Vec<&str> {
    log.iter()
        .filter(|e| e.send && e.kind == kind)
        .map(|e| e.receiver.as_str())
        .collect()
}

#[test]
fn the_tree_routes_by_service_and_severity_with_continue() {
    let r = routing();
    assert_eq!(
        receivers_of(&r, "payments", Severity::Critical),
        ["payments-pager", "oncall-slack"]
    );
    assert_eq!(
        receivers_of(&r, "cart", Severity::Warning),
        ["oncall-slack"]
    );
    assert_eq!(receivers_of(&r, "cart", Severity::Info), ["ops-email"]);
    let why = &r.receivers_for(&facts("payments", Severity::Critical))[0].why;
    assert!(why.contains("service payments|checkout"), "{why}");
    // unranked: any of its services
    let mut unranked = facts("checkout", Severity::Warning);
    unranked.cause = None;
    assert_eq!(
        r.receivers_for(&unranked)[0].receiver,
        "payments-pager",
        "checkout is among its services"
    );
}

#[test]
fn broken_routing_files_name_every_problem() {
    let problems = Routing::parse(
        r##"
route:
  receiver: nobody
  routes:
    - match: {service: [cart]}
      escalate: {after: 5m, to: ghost}
      quiet_hours: weekend
receivers:
  - name: two
    slack: {channel: "#a"}
    email: {to: [a@b.c]}
  - name: two
    webhook: {url: "ftp://x"}
quiet_hours:
  - {name: night, from: "25:00", to: "07:00"}
"##,
    )
    .expect_err("refused");
    let all = problems.join("\n");
    for expected in [
        "route: no receiver named \"nobody\"",
        "route.routes[0].escalate: no receiver named \"ghost\"",
        "no quiet_hours named \"weekend\"",
        "exactly one of slack, email, pagerduty, webhook",
        "\"two\" is named twice",
        "webhook.url must be http(s)",
        "\"25:00\" is not a time of day",
    ] {
        assert!(all.contains(expected), "{expected:?} missing from:\n{all}");
    }
    let unknown =
        Routing::parse("route: {receiver: a, recevier: b}\nreceivers: []\n").expect_err("refused");
    assert!(unknown[0].contains("recevier"), "{unknown:?}");
    assert!(Routing::parse(&"#".repeat(300_000)).is_err());
    assert!(Routing::parse("route: [").is_err());
}

#[test]
fn a_flapping_incident_sends_one_open_and_a_bounded_coalesced_thread() {
    let r = routing();
    let mut log = Vec::new();
    // 1,000 changes in ten minutes, a decision on each
    for n in 0..1_000i64 {
        let now = NOON + n * 600;
        let i = incident("inc-1", "cart", Severity::Warning, n + 1);
        let d = decide(&r, &i, &log, &[], now);
        append(&mut log, d);
    }
    assert_eq!(sent(&log, Kind::Open), ["oncall-slack"]);
    let updates = sent(&log, Kind::Update).len();
    // one at most every 30 s over ten minutes
    assert!((15..=20).contains(&updates), "{updates} updates");
    let mut keys: Vec<&str> = log.iter().map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), log.len(), "every message has its own key");
    // the last change still arrives once the gap has passed
    let last = incident("inc-1", "cart", Severity::Warning, 1_000);
    let d = decide(&r, &last, &log, &[], NOON + 1_000 * 600);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].kind, d[0].revision), (Kind::Update, 1_000));
    append(&mut log, d);
    assert!(crate::decide::unfinished(&log), "its resolution is owed");
    // resolved: one resolution, then nothing more
    let mut done = last.clone();
    done.state = IncidentState::Resolved;
    done.revision = 1_001;
    let d = decide(&r, &done, &log, &[], NOON + 700_000);
    assert_eq!(
        d.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [Kind::Resolve]
    );
    append(&mut log, d);
    assert!(decide(&r, &done, &log, &[], NOON + 800_000).is_empty());
    // delivered: nothing owed
    for e in &mut log {
        e.delivered_at_ms = Some(NOON + 800_000);
    }
    assert!(!crate::decide::unfinished(&log));
}

#[test]
fn updates_stop_at_the_cap_and_say_so_once() {
    let r = routing();
    let mut log = Vec::new();
    for n in 0..(MAX_UPDATES as i64 + 20) {
        let i = incident("inc-1", "cart", Severity::Warning, n + 1);
        let d = decide(&r, &i, &log, &[], NOON + n * MIN);
        append(&mut log, d);
    }
    assert_eq!(sent(&log, Kind::Update).len(), MAX_UPDATES);
    let capped = log.iter().filter(|e| !e.send).count();
    assert_eq!(
        capped,
        1,
        "{:?}",
        log.iter().filter(|e| !e.send).collect::<Vec<_>>()
    );
}

#[test]
fn nobody_acknowledging_repeats_and_escalates_once() {
    let r = routing();
    let mut log = Vec::new();
    let i = incident("inc-1", "payments", Severity::Critical, 1);
    for minute in 0..=70 {
        let d = decide(&r, &i, &log, &[], NOON + minute * MIN);
        append(&mut log, d);
    }
    assert_eq!(sent(&log, Kind::Open), ["payments-pager", "oncall-slack"]);
    assert_eq!(
        sent(&log, Kind::Escalate),
        ["payments-lead"],
        "once, after 10 min"
    );
    let escalated = log
        .iter()
        .find(|e| e.kind == Kind::Escalate)
        .expect("escalated");
    assert_eq!(escalated.at_ms, NOON + 10 * MIN);
    assert!(
        escalated.why.contains("not acknowledged within 10m"),
        "{}",
        escalated.why
    );
    // the pager repeats every 30 min; the channel's 4 h has not come
    assert_eq!(
        sent(&log, Kind::Repeat),
        ["payments-pager", "payments-pager"]
    );
    // acknowledged: told once, then no repeats
    let mut acked = i.clone();
    acked.state = IncidentState::Acknowledged;
    acked.revision = 2;
    for minute in 71..=200 {
        let d = decide(&r, &acked, &log, &[], NOON + minute * MIN);
        append(&mut log, d);
    }
    assert_eq!(
        sent(&log, Kind::Acknowledge),
        ["payments-pager", "oncall-slack", "payments-lead"]
    );
    assert_eq!(
        sent(&log, Kind::Repeat).len(),
        2,
        "no repeat once acknowledged"
    );
}

#[test]
fn silences_and_quiet_hours_suppress_and_say_why_once() {
    let r = routing();
    let silence = Silence {
        id: "sil-1".into(),
        services: vec!["cart".into()],
        incident_id: None,
        until_ms: NOON + 60 * MIN,
        by: "alice".into(),
        reason: "redis upgrade".into(),
    };
    let mut log = Vec::new();
    let i = incident("inc-1", "cart", Severity::Warning, 1);
    for minute in 0..30 {
        let d = decide(
            &r,
            &i,
            &log,
            std::slice::from_ref(&silence),
            NOON + minute * MIN,
        );
        append(&mut log, d);
    }
    assert!(sent(&log, Kind::Open).is_empty());
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0]
            .why
            .contains("silenced by alice (sil-1): redis upgrade")
    );
    // the silence ends: the incident goes out
    let d = decide(
        &r,
        &i,
        &log,
        std::slice::from_ref(&silence),
        NOON + 61 * MIN,
    );
    assert_eq!(d.iter().filter(|e| e.send).count(), 1);

    // 23:00 UTC: an info incident waits, a critical one does not
    let night = NOON + 11 * 60 * MIN;
    let info = incident("inc-2", "cart", Severity::Info, 1);
    let d = decide(&r, &info, &[], &[], night);
    assert_eq!(d.len(), 1);
    assert!(
        !d[0].send && d[0].why.starts_with("quiet hours night"),
        "{d:?}"
    );
    let d = decide(&r, &info, &[], &[], NOON);
    assert!(d[0].send, "by day it goes out: {d:?}");
}

#[test]
fn the_log_is_bounded_and_keeps_what_was_sent() {
    let mut log = Vec::new();
    let entry = |n: usize, send: bool| Entry {
        key: format!("k{n}"),
        at_ms: n as i64,
        receiver: "r".into(),
        kind: Kind::Update,
        send,
        revision: 1,
        why: String::new(),
        delivered_at_ms: None,
        attempts: 0,
        error: None,
        thread: None,
    };
    append(
        &mut log,
        (0..MAX_LOG).map(|n| entry(n, n % 2 == 0)).collect(),
    );
    append(
        &mut log,
        (MAX_LOG..MAX_LOG + 300).map(|n| entry(n, true)).collect(),
    );
    assert_eq!(log.len(), MAX_LOG);
    assert!(log.iter().all(|e| e.send), "suppressions went first");
}
