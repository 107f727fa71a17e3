#![allow(clippy::unwrap_used)]

use aiops_analysis::{
    Cause, Direction, Incident, IncidentState, Member, Severity, Signal, SignalKind, TimelineEntry,
    Weight,
};
use askama::Template;

use super::*;

const NOW: i64 = 1_800_000_000_000;

fn hostile_incident() -> Incident {
    let signal = Signal {
        key: "payments/error_ratio".into(),
        kind: SignalKind::MetricAnomaly,
        service: "payments".into(),
        peer: None,
        labels: Default::default(),
        metric: "error_ratio".into(),
        score: 0.9,
        direction: Direction::Up,
        weight: Weight::Strong,
        onset_ms: NOW - 60_000,
        detected_ms: NOW - 55_000,
        ended_ms: None,
        value: Some(0.5),
        baseline: Some(0.0),
        deviation: Some(9.0),
        why: "payments errors <img src=x onerror=alert(1)>".into(),
    };
    Incident {
        id: "inc-1".into(),
        state: IncidentState::Open,
        title: "payments: <script>alert('title')</script>".into(),
        opened_at_ms: NOW - 50_000,
        updated_at_ms: NOW,
        acknowledged_at_ms: None,
        resolved_at_ms: None,
        last_active_ms: NOW,
        services: vec!["payments".into()],
        root_cause: vec![Cause {
            service: "payments".into(),
            score: 0.8,
            reasons: vec!["its error ratio \"jumped\" & stayed".into()],
            evidence: vec!["payments/error_ratio".into()],
        }],
        signals: vec![Member {
            signal,
            joined_at_ms: NOW - 50_000,
            reason: "opened".into(),
            starts: 1,
        }],
        timeline: (0..1_200)
            .map(|i| TimelineEntry {
                ts_ms: NOW - 50_000 + i,
                event: "signal".into(),
                detail: format!("entry {i} <b>bold</b>"),
            })
            .collect(),
        revision: 3,
        signals_dropped: 0,
        window_causes: vec![],
        severity: Severity::Critical,
    }
}

fn chrome(role: &'static str) -> Chrome {
    Chrome {
        page: "incidents",
        live: true,
        who: Some(Who {
            name: "alice".into(),
            role,
            csrf: "csrf-123".into(),
            session: true,
        }),
        flash: None,
    }
}

fn page(can_respond: bool) -> String {
    page_with(can_respond, &[])
}

/// The hostile incident's page with these actions in the ledger.
fn page_with(can_respond: bool, actions: &[ActionRecord]) -> String {
    let incident = hostile_incident();
    let templates = vec![TemplateView {
        service: "payments".into(),
        template: "charge failed <*>".into(),
        count: 12,
        why: "new template".into(),
        exemplars: vec!["charge failed <script>alert(document.cookie)</script>".into()],
    }];
    incident_page(
        chrome(if can_respond { "responder" } else { "viewer" }),
        &incident,
        IncidentParts {
            actions,
            history: &[],
            templates,
            api_base: "http://127.0.0.1:9800",
            notifications: vec![(
                NOW - 40_000,
                "open to payments-pager: sent, delivered (route > routes[0] (service payments))"
                    .into(),
            )],
            can_silence: can_respond,
            similar: vec![SimilarView {
                id: "inc-0".into(),
                title: "payments <script>alert('past')</script>".into(),
                similarity: "0.93".into(),
                when: "12:00 UTC".into(),
                took: "4m".into(),
                resolution: "resolved by alice".into(),
                actions: vec!["restart payments (playbook restart): worked".into()],
                shared: "cause:payments, signal:payments/error_ratio:up".into(),
            }],
            summary: SummaryView {
                text: "payments <b>fails</b>".into(),
                source: "deterministic".into(),
                ..SummaryView::default()
            },
        },
        can_respond,
        NOW,
    )
    .render()
    .unwrap()
}

fn pending(step: u32, preview: Option<&str>) -> ActionRecord {
    let mut record = ActionRecord::new(
        format!("inc-1/scale/1/{step}"),
        "inc-1",
        "scale",
        step,
        1,
        "scale",
        "approve",
        ActionState::PendingApproval,
        "waiting for a responder".into(),
        "scale deployment payments to 4 replicas".into(),
        NOW,
    );
    record.service = Some("payments".into());
    record.preview = preview.map(str::to_owned);
    record
}

#[test]
fn a_pending_action_shows_its_dry_run_under_its_plan_and_one_without_shows_none() {
    let with = pending(
        0,
        Some(
            "dry run (dryRun=All) of deployment payments in shop: /spec/replicas: 2 -> 4 <b>x</b>",
        ),
    );
    let without = pending(1, None);
    let html = page_with(true, &[with.clone(), without.clone()]);
    // one preview paragraph, for the record that has one, after its plan
    assert_eq!(html.matches("class=\"preview\"").count(), 1, "{html}");
    let block = |id: &str| {
        let start = html.find(&format!("id=\"{id}\"")).unwrap();
        let end = html[start..].find("</div>").unwrap();
        html[start..start + end].to_owned()
    };
    let shown = block(&with.id);
    let plan = shown.find("class=\"plan\"").unwrap();
    let preview = shown.find("class=\"preview\"").unwrap();
    assert!(plan < preview, "{shown}");
    assert!(shown.contains("dry run (dryRun=All) of deployment payments in shop"));
    // the executor's text is escaped like any other
    assert!(!shown.contains("<b>x</b>"), "{shown}");
    assert!(!block(&without.id).contains("preview"));
}

#[test]
fn hostile_text_is_rendered_inert() {
    let html = page(true);
    for raw in [
        "<script>alert",
        "<img src=x",
        "<b>bold</b>",
        "<script>alert(document",
        "<b>fails</b>",
    ] {
        assert!(!html.contains(raw), "{raw} came through unescaped");
    }
    assert!(
        html.contains("&#60;script&#62;alert(document.cookie)&#60;/script&#62;"),
        "shown as text"
    );
    assert!(
        html.contains("&#34;jumped&#34;") || html.contains("&quot;jumped&quot;"),
        "quotes escaped"
    );
    assert!(html.contains("<svg class=\"chart\""), "charts are drawn");
}

#[test]
fn forms_carry_the_csrf_token_and_viewers_get_none() {
    let html = page(true);
    let forms = html.matches("<form method=\"post\"").count();
    assert!(forms >= 3, "lifecycle forms");
    assert!(
        html.contains("action=\"/incidents/inc-1/silence\""),
        "a silence button while notifications are on"
    );
    assert_eq!(
        html.matches("name=\"csrf\" value=\"csrf-123\"").count(),
        forms + 1,
        "every form, the logout one too"
    );
    let viewer = page(false);
    assert!(
        !viewer.contains("/acknowledge\""),
        "a viewer gets no lifecycle buttons"
    );
}

#[test]
fn a_long_timeline_keeps_the_newest_thousand() {
    let html = page(true);
    assert!(html.contains("entry 1199 "), "the newest is shown");
    assert!(!html.contains("entry 0 &#60;"), "the oldest are cut");
    assert!(html.contains("older entries are not shown"));
}

#[test]
fn the_list_puts_open_incidents_first_and_filters() {
    let mut old_open = hostile_incident();
    old_open.id = "inc-old".into();
    old_open.opened_at_ms = NOW - 86_400_000;
    let mut resolved = hostile_incident();
    resolved.id = "inc-new-resolved".into();
    resolved.state = IncidentState::Resolved;
    resolved.opened_at_ms = NOW - 1_000;
    let all = vec![resolved, old_open, hostile_incident()];
    let p = incidents_page(chrome("viewer"), &all, &Filter::default(), NOW);
    let ids: Vec<&str> = p.rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["inc-1", "inc-old", "inc-new-resolved"]);
    let p = incidents_page(
        chrome("viewer"),
        &all,
        &Filter {
            since: "1h".into(),
            ..Filter::default()
        },
        NOW,
    );
    assert_eq!(p.rows.len(), 2);
    let p = incidents_page(
        chrome("viewer"),
        &all,
        &Filter {
            state: "resolved".into(),
            ..Filter::default()
        },
        NOW,
    );
    assert_eq!(p.rows.len(), 1);
    let html = p.render().unwrap();
    assert!(html.contains("<option value=\"resolved\" selected>"));
}

#[test]
fn playbook_problems_say_where() {
    assert!(
        validate("name: ok\nwhen: {severity: warning}\nsteps: [{action: restart}]\n").is_empty()
    );
    let problems = validate("name: ok\nwhen: {severity: loud}\nsteps: [{action: restart}]\n");
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with("2:"), "{problems:?}");
    let html = Validation {
        problems: vec!["1:1: <x>".into()],
    }
    .render()
    .unwrap();
    assert!(html.contains("&#60;x&#62;"), "{html}");
}

#[test]
fn similar_past_incidents_show_how_they_ended_and_what_worked() {
    let html = page(true);
    assert!(html.contains("Similar past incidents"));
    assert!(
        html.contains(r#"<a href="/incidents/inc-0">"#),
        "a link to the past incident"
    );
    assert!(
        !html.contains("<script>alert('past')"),
        "its title is escaped"
    );
    assert!(html.contains("restart payments (playbook restart): worked"));
    assert!(html.contains("resolved by alice"));
    assert!(
        html.contains("open to payments-pager: sent, delivered"),
        "the notification log is on the timeline"
    );
}

#[test]
fn the_services_page_shows_each_services_log_digest() {
    let facts = vec![ServiceFacts {
        name: "cart".into(),
        health: "degraded".into(),
        signals: vec![],
        calls: vec![],
        logs: Some((
            "cart, 12:00-12:05 UTC: 40 lines. New <b>ev-1</b>".into(),
            "deterministic".into(),
        )),
    }];
    let html = services_page(chrome("viewer"), &facts, &[])
        .render()
        .unwrap();
    assert!(html.contains("Logs, last window"));
    assert!(
        html.contains("cart, 12:00-12:05 UTC: 40 lines. New &#60;b&#62;ev-1&#60;/b&#62;"),
        "shown as text: {html}"
    );
    assert!(html.contains("(deterministic)"));
}
