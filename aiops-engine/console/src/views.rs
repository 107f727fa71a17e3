//! The pages: what each shows, built from the engine's own types, and the
//! templates that render them (askama: HTML-escaped unless marked safe,
//! which only the SVG made in [`crate::svg`] is).

use std::collections::BTreeSet;

use aiops_analysis::{Column, Incident, IncidentState, SignalKind};
use aiops_playbooks::{ActionRecord, ActionState, VerificationState};
use askama::Template;

use crate::svg::{self, Chart, Marker, Node};

/// What every page has around its content.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// `incidents`, `services`, `playbooks`, or empty.
    pub page: &'static str,
    /// The page follows changes as they happen (server-sent events).
    pub live: bool,
    pub who: Option<Who>,
    pub flash: Option<String>,
}

/// The person (or token) the page is rendered for.
#[derive(Debug, Clone)]
pub struct Who {
    pub name: String,
    pub role: &'static str,
    /// Every form carries it.
    pub csrf: String,
    /// Signed in with a session (a token has nothing to log out of).
    pub session: bool,
}

/// One choice of a `<select>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Opt {
    fn new(value: &str, label: &str, current: &str) -> Opt {
        Opt {
            value: value.to_owned(),
            label: label.to_owned(),
            selected: value == current,
        }
    }
}

/// `2026-12-06 18:52:04Z`.
pub fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `45s`, `12m`, `3h`, `2d`.
pub fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub c: Chrome,
    pub error: Option<String>,
    pub csrf: String,
    pub next: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub c: Chrome,
    pub heading: String,
    pub text: String,
    pub back: String,
}

// ---- incidents

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: String,
    pub state: &'static str,
    pub severity: &'static str,
    pub title: String,
    pub top: String,
    pub age: String,
    pub signals: usize,
}

/// The list's filters as asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub state: String,
    pub service: String,
    /// `1h`, `6h`, `24h`, `7d` or empty (any).
    pub since: String,
}

impl Filter {
    fn since_ms(&self) -> Option<i64> {
        match self.since.as_str() {
            "1h" => Some(3_600_000),
            "6h" => Some(6 * 3_600_000),
            "24h" => Some(86_400_000),
            "7d" => Some(7 * 86_400_000),
            _ => None,
        }
    }
}

#[derive(Template)]
#[template(path = "incidents.html")]
pub struct IncidentsPage {
    pub c: Chrome,
    pub states: Vec<Opt>,
    pub services: Vec<Opt>,
    pub spans: Vec<Opt>,
    pub rows: Vec<IncidentRow>,
}

/// Rows shown at most.
pub const MAX_ROWS: usize = 500;

pub fn incidents_page(
    c: Chrome,
    incidents: &[Incident],
    filter: &Filter,
    now_ms: i64,
) -> IncidentsPage {
    let mut picked: Vec<&Incident> = incidents
        .iter()
        .filter(|i| filter.state.is_empty() || i.state.as_str() == filter.state)
        .filter(|i| filter.service.is_empty() || i.services.contains(&filter.service))
        .filter(|i| {
            filter
                .since_ms()
                .is_none_or(|span| now_ms - i.opened_at_ms <= span)
        })
        .collect();
    // open ones first (newest first), then the rest, newest first
    picked.sort_by_key(|i| (i.is_resolved(), std::cmp::Reverse(i.opened_at_ms)));
    let rows = picked
        .iter()
        .take(MAX_ROWS)
        .map(|i| IncidentRow {
            id: i.id.clone(),
            state: i.state.as_str(),
            severity: i.severity.as_str(),
            title: i.title.clone(),
            top: i
                .root_cause
                .first()
                .map(|c| c.service.clone())
                .unwrap_or_default(),
            age: age(now_ms - i.opened_at_ms),
            signals: i.signals.len(),
        })
        .collect();
    let all_services: BTreeSet<&str> = incidents
        .iter()
        .flat_map(|i| i.services.iter().map(String::as_str))
        .collect();
    let mut states = vec![Opt::new("", "any", &filter.state)];
    states.extend(
        ["open", "acknowledged", "mitigated", "resolved"].map(|s| Opt::new(s, s, &filter.state)),
    );
    let mut services = vec![Opt::new("", "any", &filter.service)];
    services.extend(all_services.iter().map(|s| Opt::new(s, s, &filter.service)));
    let spans = [
        ("", "any time"),
        ("1h", "1 hour"),
        ("6h", "6 hours"),
        ("24h", "24 hours"),
        ("7d", "7 days"),
    ]
    .map(|(v, l)| Opt::new(v, l, &filter.since))
    .to_vec();
    IncidentsPage {
        c,
        states,
        services,
        spans,
        rows,
    }
}

// ---- one incident

#[derive(Debug, Clone)]
pub struct IncidentHead {
    pub id: String,
    pub title: String,
    pub state: &'static str,
    pub severity: &'static str,
    pub opened: String,
    pub age: String,
    pub services: String,
    pub revision: i64,
}

#[derive(Debug, Clone)]
pub struct CauseView {
    pub service: String,
    pub score: String,
    pub reasons: Vec<String>,
    pub evidence: String,
}

#[derive(Debug, Clone)]
pub struct ActionView {
    pub id: String,
    pub incident: String,
    pub playbook: String,
    pub action: String,
    pub service: String,
    pub state: &'static str,
    pub reason: String,
    pub plan: String,
    /// The executor's dry run, when it has one.
    pub preview: String,
    pub at: String,
    pub expires: String,
    pub verification: String,
}

impl ActionView {
    pub fn of(r: &ActionRecord) -> ActionView {
        ActionView {
            id: r.id.clone(),
            incident: r.incident_id.clone(),
            playbook: r.playbook.clone(),
            action: r.action.clone(),
            service: r.service.clone().unwrap_or_default(),
            state: r.state.as_str(),
            reason: r.reason.clone(),
            plan: r.plan.clone(),
            preview: r.preview.clone().unwrap_or_default(),
            at: utc(r.updated_ms),
            expires: r.expires_ms.map(utc).unwrap_or_default(),
            verification: match &r.verification {
                None => String::new(),
                Some(v) => match v.state {
                    VerificationState::Pending => "pending".into(),
                    VerificationState::Passed => format!("passed: {}", v.why),
                    VerificationState::Failed => format!("failed: {}", v.why),
                },
            },
        }
    }
}

/// A learned log template that changed in the incident.
#[derive(Debug, Clone)]
pub struct TemplateView {
    pub service: String,
    pub template: String,
    pub count: u64,
    /// Which signal brought it here.
    pub why: String,
    pub exemplars: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineItem {
    pub at_ms: i64,
    pub at: String,
    /// `opened`, `signal`, `ranked`, `action`, `acknowledged`, ...
    pub kind: String,
    pub text: String,
}

/// Timeline entries shown at most (newest kept).
pub const MAX_TIMELINE: usize = 1_000;
/// Charts on one page at most.
pub const MAX_CHARTS: usize = 6;

/// The summary as the page shows it, with the evidence it cites.
#[derive(Debug, Clone, Default)]
pub struct SummaryView {
    pub text: String,
    pub probable_cause: String,
    pub next_steps: Vec<String>,
    /// `written by llm (model, prompt v1)` or `deterministic`.
    pub source: String,
    /// (id, text) of each cited item.
    pub cited: Vec<(String, String)>,
}

/// A similar past incident as the page shows it.
#[derive(Debug, Clone, Default)]
pub struct SimilarView {
    pub id: String,
    pub title: String,
    /// `0.87`.
    pub similarity: String,
    /// When it opened, and how long it lasted.
    pub when: String,
    pub took: String,
    /// How it ended (`resolved by alice`, quiet for `resolve_after`).
    pub resolution: String,
    /// `restart cart (playbook restart-on-leak): worked`.
    pub actions: Vec<String>,
    /// What the two share, heaviest first.
    pub shared: String,
}

impl SimilarView {
    pub fn of(s: &aiops_analysis::SimilarIncident) -> SimilarView {
        let p = &s.past;
        SimilarView {
            id: p.id.clone(),
            title: p.title.clone(),
            similarity: format!("{:.2}", s.similarity),
            when: utc(p.opened_at_ms),
            took: age(p.resolved_at_ms - p.opened_at_ms),
            resolution: p.resolution.clone(),
            actions: p
                .actions
                .iter()
                .map(|a| {
                    format!(
                        "{} {} (playbook {}): {}",
                        a.action,
                        a.service.as_deref().unwrap_or(""),
                        a.playbook,
                        if a.worked { "worked" } else { a.state.as_str() }
                    )
                })
                .collect(),
            shared: s.shared.join(", "),
        }
    }
}

#[derive(Template)]
#[template(path = "incident.html")]
pub struct IncidentPage {
    pub c: Chrome,
    pub i: IncidentHead,
    pub summary: SummaryView,
    pub similar: Vec<SimilarView>,
    pub can_respond: bool,
    pub csrf: String,
    pub lifecycle: Vec<(&'static str, &'static str)>,
    pub curl: String,
    pub ranking: Vec<CauseView>,
    pub pending: Vec<ActionView>,
    pub charts: Vec<String>,
    pub actions: Vec<ActionView>,
    pub templates: Vec<TemplateView>,
    pub timeline: Vec<TimelineItem>,
    pub timeline_cut: usize,
}

/// What the incident page is made of, besides the incident.
pub struct IncidentParts<'a> {
    pub actions: &'a [ActionRecord],
    /// The recorded history of the incident's top services.
    pub history: &'a [Column],
    pub templates: Vec<TemplateView>,
    /// Where the API is, for the curl line.
    pub api_base: &'a str,
    pub summary: SummaryView,
    /// The nearest past incidents, most similar first.
    pub similar: Vec<SimilarView>,
    /// The notification log as (unix ms, what was sent or not, and why).
    pub notifications: Vec<(i64, String)>,
    /// Notifications are on and no silence covers the incident yet.
    pub can_silence: bool,
}

/// The metrics charted for a service: those its own signals in the
/// incident name, else its error ratio and latency.
fn charted_metrics(incident: &Incident, service: &str) -> Vec<String> {
    let mut out: Vec<String> = incident
        .own_signals(service)
        .filter(|s| s.kind == SignalKind::MetricAnomaly && s.peer.is_none())
        .map(|s| s.metric.clone())
        .collect();
    out.sort();
    out.dedup();
    if out.is_empty() {
        out = vec!["error_ratio".into(), "latency_p99".into()];
    }
    out
}

pub fn incident_page(
    c: Chrome,
    incident: &Incident,
    parts: IncidentParts<'_>,
    can_respond: bool,
    now_ms: i64,
) -> IncidentPage {
    let csrf = c.who.as_ref().map(|w| w.csrf.clone()).unwrap_or_default();
    let onset = aiops_playbooks::matching::onset_ms(incident);
    // markers: the onset, deploys, actions carried out
    let mut markers = vec![Marker {
        at_ms: onset,
        label: format!("onset {}", utc(onset)),
        kind: "onset",
    }];
    for s in incident
        .signals
        .iter()
        .map(|m| &m.signal)
        .filter(|s| s.kind == SignalKind::Deploy)
    {
        markers.push(Marker {
            at_ms: s.onset_ms,
            label: format!("deploy of {}: {}", s.service, s.why),
            kind: "deploy",
        });
    }
    for r in parts.actions.iter().filter(|r| r.executed() && r.acts()) {
        markers.push(Marker {
            at_ms: r
                .history
                .iter()
                .find(|t| t.state == ActionState::Running)
                .map_or(r.created_ms, |t| t.at_ms),
            label: format!("{} {}", r.action, r.service.as_deref().unwrap_or("")),
            kind: "action",
        });
    }
    let from = onset - 10 * 60_000;
    let to = now_ms
        .min(incident.resolved_at_ms.unwrap_or(now_ms) + 60_000)
        .max(onset + 60_000);
    let mut charts = Vec::new();
    for cause in incident.root_cause.iter().take(3) {
        for metric in charted_metrics(incident, &cause.service) {
            if charts.len() >= MAX_CHARTS {
                break;
            }
            let points = parts
                .history
                .iter()
                .find(|col| col.service == cause.service && col.metric == metric)
                .map(|col| col.points.clone())
                .unwrap_or_default();
            let unit = match metric.as_str() {
                m if m.starts_with("latency") => "s",
                "error_ratio" => "ratio",
                "request_rate" => "req/s",
                "memory" => "bytes",
                "cpu" => "cores",
                _ => "",
            };
            charts.push(svg::line_chart(
                &Chart {
                    title: format!("{} {}", cause.service, metric.replace('_', " ")),
                    unit: unit.into(),
                    points,
                },
                &markers,
                from,
                to,
            ));
        }
    }
    let mut timeline: Vec<TimelineItem> = incident
        .timeline
        .iter()
        .map(|e| TimelineItem {
            at_ms: e.ts_ms,
            at: utc(e.ts_ms),
            kind: e.event.clone(),
            text: e.detail.clone(),
        })
        .collect();
    for r in parts.actions {
        for t in &r.history {
            timeline.push(TimelineItem {
                at_ms: t.at_ms,
                at: utc(t.at_ms),
                kind: "action".into(),
                text: format!(
                    "{} {} {} by {} ({}): {}",
                    r.action,
                    r.service.as_deref().unwrap_or(""),
                    t.state.as_str(),
                    t.by,
                    r.playbook,
                    t.reason
                ),
            });
        }
    }
    for (at_ms, text) in &parts.notifications {
        timeline.push(TimelineItem {
            at_ms: *at_ms,
            at: utc(*at_ms),
            kind: "notification".into(),
            text: text.clone(),
        });
    }
    timeline.sort_by_key(|t| t.at_ms);
    let timeline_cut = timeline.len().saturating_sub(MAX_TIMELINE);
    timeline.drain(..timeline_cut);
    let lifecycle = match incident.state {
        IncidentState::Open => vec![
            ("acknowledge", "Acknowledge"),
            ("mitigate", "Mark mitigated"),
            ("resolve", "Resolve"),
        ],
        IncidentState::Acknowledged => vec![("mitigate", "Mark mitigated"), ("resolve", "Resolve")],
        IncidentState::Mitigated => vec![("resolve", "Resolve")],
        IncidentState::Resolved => vec![],
    };
    let mut lifecycle = lifecycle;
    if parts.can_silence && incident.state != IncidentState::Resolved {
        lifecycle.push(("silence", "Silence notifications for 1 h"));
    }
    let curl = format!(
        "curl -X POST -H \"Authorization: Bearer $AIOPS_TOKEN\" {}/api/v1/incidents/{}/acknowledge",
        parts.api_base, incident.id
    );
    IncidentPage {
        c,
        i: IncidentHead {
            id: incident.id.clone(),
            title: incident.title.clone(),
            state: incident.state.as_str(),
            severity: incident.severity.as_str(),
            opened: utc(incident.opened_at_ms),
            age: age(now_ms - incident.opened_at_ms),
            services: incident.services.join(", "),
            revision: incident.revision,
        },
        can_respond,
        csrf,
        lifecycle,
        curl,
        summary: parts.summary,
        similar: parts.similar,
        ranking: incident
            .root_cause
            .iter()
            .map(|c| CauseView {
                service: c.service.clone(),
                score: format!("{:.2}", c.score),
                reasons: c.reasons.clone(),
                evidence: c.evidence.join(", "),
            })
            .collect(),
        pending: parts
            .actions
            .iter()
            .filter(|r| r.state == ActionState::PendingApproval)
            .map(ActionView::of)
            .collect(),
        charts,
        actions: parts.actions.iter().map(ActionView::of).collect(),
        templates: parts.templates,
        timeline,
        timeline_cut,
    }
}

// ---- services

#[derive(Debug, Clone)]
pub struct ServiceRow {
    pub name: String,
    pub health: String,
    pub signals: Vec<String>,
    pub calls: String,
    pub incidents: Vec<(String, String)>,
    /// What changed in its logs over the last window, and who wrote it.
    pub logs: String,
    pub logs_source: String,
}

#[derive(Template)]
#[template(path = "services.html")]
pub struct ServicesPage {
    pub c: Chrome,
    pub graph: String,
    pub services: Vec<ServiceRow>,
}

/// A service as the analysis sees it.
pub struct ServiceFacts {
    pub name: String,
    pub health: String,
    pub signals: Vec<String>,
    pub calls: Vec<String>,
    /// Its latest log digest (text, `llm (model)` or `deterministic`).
    pub logs: Option<(String, String)>,
}

pub fn services_page(c: Chrome, facts: &[ServiceFacts], incidents: &[Incident]) -> ServicesPage {
    let nodes: Vec<Node> = facts
        .iter()
        .map(|f| Node {
            name: f.name.clone(),
            health: f.health.clone(),
        })
        .collect();
    let edges: Vec<(String, String)> = facts
        .iter()
        .flat_map(|f| {
            f.calls
                .iter()
                .map(move |callee| (f.name.clone(), callee.clone()))
        })
        .collect();
    ServicesPage {
        c,
        graph: svg::dependency_graph(&nodes, &edges),
        services: facts
            .iter()
            .map(|f| ServiceRow {
                name: f.name.clone(),
                health: f.health.clone(),
                signals: f.signals.clone(),
                calls: f.calls.join(", "),
                incidents: incidents
                    .iter()
                    .filter(|i| !i.is_resolved() && i.services.contains(&f.name))
                    .map(|i| (i.id.clone(), i.title.clone()))
                    .collect(),
                logs: f.logs.as_ref().map(|l| l.0.clone()).unwrap_or_default(),
                logs_source: f.logs.as_ref().map(|l| l.1.clone()).unwrap_or_default(),
            })
            .collect(),
    }
}

// ---- playbooks

#[derive(Debug, Clone)]
pub struct PlaybookRow {
    pub name: String,
    pub mode: &'static str,
    pub description: String,
}

#[derive(Template)]
#[template(path = "playbooks.html")]
pub struct PlaybooksPage {
    pub c: Chrome,
    pub switch: String,
    pub executor: Option<String>,
    pub playbooks: Vec<PlaybookRow>,
    pub csrf: String,
    pub draft: String,
    pub problems: Vec<String>,
    pub checked: bool,
    pub incidents: Vec<Opt>,
    pub report: Option<String>,
    pub ledger: Vec<ActionView>,
}

#[derive(Template)]
#[template(path = "playbook.html")]
pub struct PlaybookPage {
    pub c: Chrome,
    pub name: String,
    pub mode: &'static str,
    pub yaml: String,
}

/// What live validation answers while a playbook is edited.
#[derive(Template)]
#[template(
    source = "{% for p in problems %}<span class=\"problem\">{{ p }}</span>{% endfor %}{% if problems.is_empty() %}<span class=\"ok\">valid</span>{% endif %}",
    ext = "html"
)]
pub struct Validation {
    pub problems: Vec<String>,
}

/// The problems of a playbook's text, each as `line:column: message`.
pub fn validate(yaml: &str) -> Vec<String> {
    match aiops_playbooks::load::parse(yaml) {
        Ok(_) => Vec::new(),
        Err(problems) => problems
            .iter()
            .map(|p| {
                let hint = p
                    .hint
                    .as_deref()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default();
                format!("{}:{}: {}{hint}", p.line.max(1), p.column.max(1), p.message)
            })
            .collect(),
    }
}

pub fn incident_options(incidents: &[Incident], chosen: &str) -> Vec<Opt> {
    let mut list: Vec<&Incident> = incidents.iter().collect();
    list.sort_by_key(|i| std::cmp::Reverse(i.opened_at_ms));
    list.iter()
        .take(100)
        .map(|i| {
            Opt::new(
                &i.id,
                &format!("{} ({}, {})", i.title, i.state.as_str(), i.id),
                chosen,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
