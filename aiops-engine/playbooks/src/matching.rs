//! Whether a playbook applies to an incident, with a reason for every
//! condition it checked, so a person reading `aiops playbook test` (or the
//! ledger) sees why it matched or which condition failed.

use aiops_analysis::{Incident, IncidentState, Signal, SignalKind};

use crate::model::{Playbook, SignalMatch, Trigger};

/// The verdict and the conditions behind it, in the order checked.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchReport {
    pub matched: bool,
    /// One line per condition: `ok ...` or `no ...`.
    pub reasons: Vec<String>,
}

const DEFAULT_STATES: [IncidentState; 2] = [IncidentState::Open, IncidentState::Acknowledged];

/// A new version is seen at the next scrape after it starts, so a deploy
/// recorded this long after the first symptom still came before it.
pub const DEPLOY_SEEN_AFTER_ONSET_MS: i64 = 60_000;

/// The service ranked first, if any.
pub fn top_service(incident: &Incident) -> Option<&str> {
    incident.root_cause.first().map(|c| c.service.as_str())
}

/// The incident's onset: the earliest onset of a symptom in it (changes
/// are not symptoms), or when it opened.
pub fn onset_ms(incident: &Incident) -> i64 {
    incident
        .signals
        .iter()
        .map(|m| &m.signal)
        .filter(|s| !s.is_change())
        .map(|s| s.onset_ms)
        .min()
        .unwrap_or(incident.opened_at_ms)
        .min(incident.opened_at_ms)
}

/// The latest deploy of `service` the incident holds.
pub fn last_deploy<'a>(incident: &'a Incident, service: &'a str) -> Option<&'a Signal> {
    incident
        .own_signals(service)
        .filter(|s| s.kind == SignalKind::Deploy)
        .max_by_key(|s| s.onset_ms)
}

pub fn matches(playbook: &Playbook, incident: &Incident, now_ms: i64) -> MatchReport {
    let mut reasons = Vec::new();
    let matched = check(&playbook.when, incident, now_ms, &mut reasons);
    MatchReport { matched, reasons }
}

fn check(when: &Trigger, incident: &Incident, now_ms: i64, reasons: &mut Vec<String>) -> bool {
    let mut pass = |ok: bool, text: String| {
        reasons.push(format!("{} {text}", if ok { "ok" } else { "no" }));
        ok
    };
    let states = when.state.as_deref().unwrap_or(&DEFAULT_STATES);
    let state = incident.state;
    if !pass(
        states.contains(&state),
        format!(
            "state {} {} one of {}",
            state.as_str(),
            if states.contains(&state) {
                "is"
            } else {
                "is not"
            },
            states
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ) {
        return false;
    }
    if let Some(min) = when.severity {
        let ok = incident.severity >= min;
        if !pass(
            ok,
            format!(
                "severity {} {} at least {}",
                incident.severity.as_str(),
                if ok { "is" } else { "is not" },
                min.as_str()
            ),
        ) {
            return false;
        }
    }
    if let Some(open_for) = &when.open_for {
        let open_ms = now_ms - incident.opened_at_ms;
        let ok = open_ms >= open_for.ms();
        if !pass(
            ok,
            format!(
                "open for {}s, {} {}",
                open_ms / 1000,
                if ok { "at least" } else { "less than" },
                open_for.value
            ),
        ) {
            return false;
        }
    }
    let top = top_service(incident);
    let needs_top = when.top_service.is_some()
        || !when.signals.is_empty()
        || !when.all_signals.is_empty()
        || !when.without_signals.is_empty()
        || when.deployed_within.is_some()
        || when.not_deployed_within.is_some();
    if needs_top && top.is_none() {
        pass(false, "the incident has no ranked root cause yet".into());
        return false;
    }
    let top = top.unwrap_or_default();
    let top_score = incident.root_cause.first().map_or(0.0, |c| c.score);
    if let Some(cond) = &when.top_service {
        if let Some(min) = &cond.min_score {
            let ok = top_score >= min.value;
            if !pass(
                ok,
                format!(
                    "top service {top} scores {top_score:.2}, {} {:.2}",
                    if ok { "at least" } else { "below" },
                    min.value
                ),
            ) {
                return false;
            }
        }
        if !cond.any_of.is_empty() {
            let ok = cond.any_of.iter().any(|s| s == top);
            if !pass(
                ok,
                format!(
                    "top service {top} {} one of {}",
                    if ok { "is" } else { "is not" },
                    cond.any_of.join(", ")
                ),
            ) {
                return false;
            }
        }
        if cond.none_of.iter().any(|s| s == top) {
            pass(false, format!("top service {top} is excluded (none_of)"));
            return false;
        }
    }
    let own = || {
        incident
            .own_signals(top)
            .filter(|s| s.is_active() || s.is_change())
    };
    if !when.signals.is_empty() {
        let found = own().find(|s| when.signals.iter().any(|m| signal_matches(m, s)));
        let text = match found {
            Some(s) => format!("{top} has the signal {}: {}", s.key, s.why),
            None => format!(
                "{top} has no active signal of its own matching {}",
                describe_matchers(&when.signals)
            ),
        };
        if !pass(found.is_some(), text) {
            return false;
        }
    }
    for matcher in &when.all_signals {
        let found = own().find(|s| signal_matches(matcher, s));
        let text = match found {
            Some(s) => format!("{top} has the signal {}", s.key),
            None => format!(
                "{top} has no active signal of its own matching {}",
                describe_matchers(std::slice::from_ref(matcher))
            ),
        };
        if !pass(found.is_some(), text) {
            return false;
        }
    }
    if let Some(s) = own().find(|s| when.without_signals.iter().any(|m| signal_matches(m, s))) {
        pass(
            false,
            format!(
                "{top} has the signal {}, which this playbook excludes",
                s.key
            ),
        );
        return false;
    }
    if !when.alerts.is_empty() {
        let found = incident
            .signals
            .iter()
            .map(|m| &m.signal)
            .filter(|s| s.kind == SignalKind::Alert && s.is_active())
            .find(|s| when.alerts.iter().any(|m| labels_match(m, s)));
        let ok = found.is_some();
        let text = match found {
            Some(s) => format!("alert {} ({}) is firing", s.metric, s.service),
            None => "no firing alert in the incident matches the alert labels".to_owned(),
        };
        if !pass(ok, text) {
            return false;
        }
    }
    let onset = onset_ms(incident);
    let deploy = last_deploy(incident, top);
    let recent = |within: i64| {
        deploy.filter(|d| {
            d.onset_ms >= onset - within && d.onset_ms <= onset + DEPLOY_SEEN_AFTER_ONSET_MS
        })
    };
    if let Some(within) = &when.deployed_within {
        let hit = recent(within.ms());
        let ok = hit.is_some();
        let text = match hit {
            Some(d) => format!(
                "{top} was deployed {} the onset: {}",
                relative(d.onset_ms - onset),
                d.why
            ),
            None => format!(
                "{top} was not deployed within {} before the onset",
                within.value
            ),
        };
        if !pass(ok, text) {
            return false;
        }
    }
    if let Some(within) = &when.not_deployed_within {
        let hit = recent(within.ms());
        let ok = hit.is_none();
        let text = match hit {
            Some(d) => format!(
                "{top} was deployed {} the onset",
                relative(d.onset_ms - onset)
            ),
            None => format!(
                "{top} was not deployed within {} before the onset",
                within.value
            ),
        };
        if !pass(ok, text) {
            return false;
        }
    }
    true
}

fn relative(delta_ms: i64) -> String {
    if delta_ms < 0 {
        format!("{}s before", -delta_ms / 1000)
    } else {
        format!("{}s after", delta_ms / 1000)
    }
}

fn signal_matches(m: &SignalMatch, s: &Signal) -> bool {
    m.kind.is_none_or(|k| k == s.kind)
        && m.metric.as_deref().is_none_or(|metric| metric == s.metric)
        && m.direction.is_none_or(|d| d == s.direction)
        && m.peer
            .as_deref()
            .is_none_or(|p| s.peer.as_deref() == Some(p))
        && m.min_score.is_none_or(|min| s.score >= min)
}

fn describe_matchers(ms: &[crate::at::At<SignalMatch>]) -> String {
    let one = |m: &SignalMatch| {
        let mut parts = Vec::new();
        if let Some(k) = m.kind {
            parts.push(
                serde_json::to_value(k)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            );
        }
        if let Some(metric) = &m.metric {
            parts.push(metric.clone());
        }
        if let Some(d) = m.direction {
            parts.push(format!("{d:?}").to_lowercase());
        }
        if let Some(p) = &m.peer {
            parts.push(format!("peer {p}"));
        }
        parts.join(" ")
    };
    ms.iter().map(|m| one(m)).collect::<Vec<_>>().join(" or ")
}

/// Every label of the matcher is on the alert, equal (or, for a value
/// starting with `~`, matching the regular expression over the whole value).
fn labels_match(m: &std::collections::BTreeMap<String, String>, s: &Signal) -> bool {
    m.iter().all(|(name, want)| {
        let have = if name == "alertname" {
            s.labels
                .get(name)
                .map(String::as_str)
                .or(Some(s.metric.as_str()))
        } else {
            s.labels.get(name).map(String::as_str)
        };
        let Some(have) = have else { return false };
        match want.strip_prefix('~') {
            Some(pattern) => {
                regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|r| r.is_match(have))
            }
            None => have == want,
        }
    })
}
