//! The routing tree (`rules/notify.yaml`), shaped like Alertmanager's: a
//! root route with a receiver, child routes that match on the incident's
//! service, severity and alert labels, `continue` to keep looking after a
//! match, a repeat interval, escalation to another receiver when nobody
//! acknowledges in time, and named quiet hours. Receivers say where a
//! message goes (Slack, email, PagerDuty, a webhook); secrets are named by
//! the environment variable that holds them, never written here.
//!
//! Matching: children are tried in order, depth first; the first child
//! that matches takes the incident (and its own children are tried), and
//! the search goes on to its next sibling only with `continue: true`. When
//! no child matches, the route itself takes it. A route's `service` matches
//! the incident's top-ranked service (the one whose team should act), or
//! any of its services while it is not ranked yet.

use std::collections::BTreeMap;

use aiops_analysis::Severity;
use aiops_playbooks::Span;
use serde::{Deserialize, Serialize};

/// Larger routing files are refused unread.
pub const MAX_FILE_BYTES: usize = 256 * 1024;
/// Nesting and size limits: a tree beyond them is a mistake.
const MAX_DEPTH: usize = 8;
const MAX_ROUTES: usize = 500;
const MAX_RECEIVERS: usize = 200;
/// Repeat interval when none is set (Alertmanager's default).
pub const DEFAULT_REPEAT_MS: i64 = 4 * 3_600_000;

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// The top-ranked service (any service while unranked) is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service: Vec<String>,
    /// The incident's severity is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    /// A signal of the incident carries each of these alert labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Not acknowledged this long after it opened...
    pub after: Span,
    /// ...the incident goes to this receiver too.
    pub to: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Inherited from the parent when absent (the root must have one).
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(default, rename = "match")]
    pub matches: Match,
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Inherited when absent; 4h at the root.
    #[serde(default)]
    pub repeat_interval: Option<Span>,
    #[serde(default)]
    pub escalate: Option<Escalation>,
    /// The name of quiet hours during which only critical incidents go out.
    #[serde(default)]
    pub quiet_hours: Option<String>,
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// Where messages go. Exactly one kind per receiver.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagerduty: Option<PagerDutyTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTarget>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackTarget {
    /// `#incidents` or a channel id.
    pub channel: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailTarget {
    pub to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyTarget {
    /// The environment variable holding the Events API v2 routing key.
    pub routing_key_env: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    pub url: String,
    /// The environment variable holding the HMAC secret that signs bodies.
    #[serde(default)]
    pub secret_env: Option<String>,
}

/// A daily window, UTC, `from` to `to` (wrapping past midnight when `to`
/// is earlier).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub name: String,
    /// `HH:MM`.
    pub from: String,
    pub to: String,
}

impl QuietHours {
    fn minutes(raw: &str) -> Result<i64, String> {
        let (h, m) = raw
            .split_once(':')
            .ok_or_else(|| format!("{raw:?} is not HH:MM"))?;
        match (h.parse::<i64>(), m.parse::<i64>()) {
            (Ok(h), Ok(m)) if (0..24).contains(&h) && (0..60).contains(&m) => Ok(h * 60 + m),
            _ => Err(format!(
                "{raw:?} is not a time of day HH:MM (00:00 to 23:59)"
            )),
        }
    }

    /// True when `now_ms` (unix ms) falls inside the window.
    pub fn contains(&self, now_ms: i64) -> bool {
        let (Ok(from), Ok(to)) = (Self::minutes(&self.from), Self::minutes(&self.to)) else {
            return false;
        };
        let minute = now_ms.div_euclid(60_000).rem_euclid(24 * 60);
        if from <= to {
            (from..to).contains(&minute)
        } else {
            minute >= from || minute < to
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    pub route: Route,
    pub receivers: Vec<Receiver>,
    #[serde(default)]
    pub quiet_hours: Vec<QuietHours>,
}

/// What routing reads of an incident.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFacts {
    pub services: Vec<String>,
    /// The top-ranked service, once ranked.
    pub cause: Option<String>,
    pub severity: Severity,
    /// Alert labels its signals carry.
    pub labels: Vec<(String, String)>,
}

/// A receiver an incident goes to, with the settings of the route that
/// chose it and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    pub receiver: String,
    pub repeat_interval_ms: i64,
    pub escalate: Option<Escalation>,
    pub quiet_hours: Option<QuietHours>,
    /// `route 2 (service payments) > route 2.1 (severity critical)`.
    pub why: String,
}

impl Match {
    fn matches(&self, facts: &IncidentFacts) -> bool {
        let service_ok = self.service.is_empty()
            || match &facts.cause {
                Some(cause) => self.service.contains(cause),
                None => facts.services.iter().any(|s| self.service.contains(s)),
            };
        let severity_ok = self.severity.is_empty() || self.severity.contains(&facts.severity);
        let labels_ok = self
            .labels
            .iter()
            .all(|(k, v)| facts.labels.iter().any(|(lk, lv)| lk == k && lv == v));
        service_ok && severity_ok && labels_ok
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.service.is_empty() {
            parts.push(format!("service {}", self.service.join("|")));
        }
        if !self.severity.is_empty() {
            let s: Vec<&str> = self.severity.iter().map(|s| s.as_str()).collect();
            parts.push(format!("severity {}", s.join("|")));
        }
        for (k, v) in &self.labels {
            parts.push(format!("{k}={v}"));
        }
        if parts.is_empty() {
            "anything".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The settings a route hands down to its children.
#[derive(Clone)]
struct Inherited {
    receiver: String,
    repeat_ms: i64,
    quiet_hours: Option<String>,
}

impl Routing {
    /// Parses and checks a routing file's text; every problem is named.
    pub fn parse(text: &str) -> Result<Routing, Vec<String>> {
        if text.len() > MAX_FILE_BYTES {
            return Err(vec![format!(
                "the routing file is larger than {MAX_FILE_BYTES} bytes"
            )]);
        }
        let routing: Routing =
            serde_saphyr::from_str(text).map_err(|e| vec![e.to_string().to_lowercase()])?;
        let problems = routing.check();
        if problems.is_empty() {
            Ok(routing)
        } else {
            Err(problems)
        }
    }

    fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.route.receiver.is_none() {
            problems.push("route: the root route needs a receiver".to_owned());
        }
        if self.receivers.len() > MAX_RECEIVERS {
            problems.push(format!("receivers: more than {MAX_RECEIVERS}"));
        }
        for (i, r) in self.receivers.iter().enumerate() {
            let kinds = usize::from(r.slack.is_some())
                + usize::from(r.email.is_some())
                + usize::from(r.pagerduty.is_some())
                + usize::from(r.webhook.is_some());
            if r.name.trim().is_empty() {
                problems.push(format!("receivers[{i}]: a receiver needs a name"));
            }
            if kinds != 1 {
                problems.push(format!(
                    "receivers[{i}] ({}): exactly one of slack, email, pagerduty, webhook",
                    r.name
                ));
            }
            if self.receivers[..i].iter().any(|o| o.name == r.name) {
                problems.push(format!("receivers[{i}]: {:?} is named twice", r.name));
            }
            if let Some(e) = &r.email
                && (e.to.is_empty() || e.to.iter().any(|a| !a.contains('@')))
            {
                problems.push(format!(
                    "receivers[{i}] ({}): email.to needs addresses",
                    r.name
                ));
            }
            if let Some(w) = &r.webhook
                && !(w.url.starts_with("http://") || w.url.starts_with("https://"))
            {
                problems.push(format!(
                    "receivers[{i}] ({}): webhook.url must be http(s)",
                    r.name
                ));
            }
        }
        for (i, q) in self.quiet_hours.iter().enumerate() {
            for t in [&q.from, &q.to] {
                if let Err(e) = QuietHours::minutes(t) {
                    problems.push(format!("quiet_hours[{i}] ({}): {e}", q.name));
                }
            }
        }
        let mut count = 0;
        self.check_route(&self.route, "route", 0, &mut count, &mut problems);
        problems
    }

    fn check_route(
        &self,
        route: &Route,
        at: &str,
        depth: usize,
        count: &mut usize,
        problems: &mut Vec<String>,
    ) {
        *count += 1;
        if *count == MAX_ROUTES + 1 {
            problems.push(format!("more than {MAX_ROUTES} routes"));
        }
        if depth > MAX_DEPTH {
            problems.push(format!("{at}: nested deeper than {MAX_DEPTH}"));
            return;
        }
        if let Some(name) = &route.receiver
            && self.receiver(name).is_none()
        {
            problems.push(format!("{at}: no receiver named {name:?}"));
        }
        if let Some(e) = &route.escalate
            && self.receiver(&e.to).is_none()
        {
            problems.push(format!("{at}.escalate: no receiver named {:?}", e.to));
        }
        if let Some(q) = &route.quiet_hours
            && !self.quiet_hours.iter().any(|x| &x.name == q)
        {
            problems.push(format!("{at}: no quiet_hours named {q:?}"));
        }
        for (i, child) in route.routes.iter().enumerate() {
            self.check_route(
                child,
                &format!("{at}.routes[{i}]"),
                depth + 1,
                count,
                problems,
            );
        }
    }

    /// The receivers an incident goes to, each once (the first route to
    /// name it decides its settings).
    pub fn receivers_for(&self, facts: &IncidentFacts) -> Vec<Routed> {
        let root = Inherited {
            receiver: self.route.receiver.clone().unwrap_or_default(),
            repeat_ms: self
                .route
                .repeat_interval
                .map_or(DEFAULT_REPEAT_MS, |s| s.ms()),
            quiet_hours: self.route.quiet_hours.clone(),
        };
        let mut out = Vec::new();
        self.walk(&self.route, root, "route".into(), facts, &mut out);
        let mut seen = Vec::new();
        out.retain(|r: &Routed| {
            if seen.contains(&r.receiver) {
                false
            } else {
                seen.push(r.receiver.clone());
                true
            }
        });
        out
    }

    fn walk(
        &self,
        route: &Route,
        inherited: Inherited,
        path: String,
        facts: &IncidentFacts,
        out: &mut Vec<Routed>,
    ) {
        let mut taken = false;
        for (i, child) in route.routes.iter().enumerate() {
            if !child.matches.matches(facts) {
                continue;
            }
            let settings = Inherited {
                receiver: child
                    .receiver
                    .clone()
                    .unwrap_or_else(|| inherited.receiver.clone()),
                repeat_ms: child
                    .repeat_interval
                    .map_or(inherited.repeat_ms, |s| s.ms()),
                quiet_hours: child
                    .quiet_hours
                    .clone()
                    .or_else(|| inherited.quiet_hours.clone()),
            };
            let child_path = format!("{path} > routes[{i}] ({})", child.matches.describe());
            self.walk(child, settings, child_path, facts, out);
            taken = true;
            if !child.continue_matching {
                break;
            }
        }
        if !taken {
            out.push(Routed {
                receiver: inherited.receiver,
                repeat_interval_ms: inherited.repeat_ms,
                escalate: route.escalate.clone(),
                quiet_hours: inherited
                    .quiet_hours
                    .and_then(|q| self.quiet_hours.iter().find(|x| x.name == q).cloned()),
                why: path,
            });
        }
    }
}
