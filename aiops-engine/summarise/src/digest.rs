//! Log digests: for each service, what changed in its logs over the last
//! window. The template miner counts lines per template as they stream;
//! the tracker compares each window's counts with the window before and
//! names the templates that are new, back, rising, falling or stopped,
//! problems first, with a few example lines (redacted). The deterministic
//! text is always there; a model may rewrite it, citing the same
//! templates by id (see `SummaryWriter::write_digest`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::evidence::id_of;
use crate::redact::Redactor;

/// The prompt behind a model-written digest.
pub const DIGEST_PROMPT_VERSION: &str = "log-digest/v1";

/// Changes named per digest at most (problems and new templates first).
pub const MAX_CHANGES: usize = 8;
/// Example lines per change, and their length at most.
const LINES_PER_CHANGE: usize = 2;
const MAX_LINE: usize = 300;
/// A rise needs this many times the previous window's lines, and this many more.
const RISE_RATIO: f64 = 3.0;
const RISE_MIN_DELTA: u64 = 10;
/// A fall needs the previous window to have had this many lines.
const FALL_MIN_PREVIOUS: u64 = 20;
/// A template silent in the previous window is `back` from this many lines.
const BACK_MIN: u64 = 5;
/// Services tracked at most (the least recently digested is forgotten).
const MAX_SERVICES: usize = 1_000;

/// One template of a service as the miner holds it now.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateCount {
    /// The miner's template id.
    pub template_id: String,
    pub text: String,
    /// `error`, `warn`, `info`...
    pub level: String,
    /// Lines since the template was first seen.
    pub count: u64,
    pub first_seen_ms: i64,
    /// Example lines, newest last.
    pub exemplars: Vec<String>,
}

/// A template whose lines changed in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateChange {
    /// The id a digest cites (`ev-` and 12 hex digits).
    pub id: String,
    pub template_id: String,
    /// `new`, `back`, `rising x4.0`, `falling x0.20`, `stopped`.
    pub change: String,
    /// Lines in the window, and in the window before.
    pub count: u64,
    pub previous: u64,
    pub level: String,
    pub text: String,
    /// Example lines, redacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
}

/// What changed in one service's logs over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogDigest {
    pub service: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Lines in the window, and in the window before (when known).
    pub lines: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_lines: Option<u64>,
    pub changes: Vec<TemplateChange>,
    /// Changes not named for the limit.
    pub more: usize,
    pub text: String,
    /// The changes the text rests on.
    pub evidence_ids: Vec<String>,
    /// `llm` or `deterministic`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub prompt_version: String,
    /// Why the deterministic text stands in for the model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl LogDigest {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }
}

#[derive(Debug, Clone, Default)]
struct Window {
    at_ms: i64,
    /// Each template's total at the window's end.
    totals: HashMap<String, u64>,
    /// Each template's lines within the window; `None` before a first
    /// whole window.
    counts: Option<HashMap<String, u64>>,
}

/// The last window of every service.
#[derive(Debug, Default)]
pub struct DigestTracker {
    last: HashMap<String, Window>,
}

fn hhmm(ms: i64) -> String {
    let s = ms.div_euclid(1000);
    let day = s.rem_euclid(86_400);
    format!("{:02}:{:02}", day / 3600, day % 3600 / 60)
}

fn clip(line: &str) -> String {
    text_clip::clip(line, MAX_LINE)
}

fn is_problem(level: &str) -> bool {
    matches!(level, "error" | "warn" | "fatal" | "critical")
}

/// The order changes are named in: problems first, then new, back,
/// rising, stopped, falling; the most lines first within each.
fn rank(change: &TemplateChange) -> (bool, u8, std::cmp::Reverse<u64>) {
    let kind = match change.change.split(' ').next().unwrap_or("") {
        "new" => 0,
        "back" => 1,
        "rising" => 2,
        "stopped" => 3,
        _ => 4,
    };
    (
        !is_problem(&change.level),
        kind,
        std::cmp::Reverse(change.count.max(change.previous)),
    )
}

/// What happened to one template between two windows, if anything worth
/// naming.
fn classify(first_seen_in_window: bool, count: u64, previous: Option<u64>) -> Option<String> {
    if first_seen_in_window {
        return (count > 0).then(|| "new".to_owned());
    }
    let previous = previous?;
    if previous == 0 {
        return (count >= BACK_MIN).then(|| "back".to_owned());
    }
    let ratio = count as f64 / previous as f64;
    if ratio >= RISE_RATIO && count - previous >= RISE_MIN_DELTA {
        return Some(format!("rising x{ratio:.1}"));
    }
    if previous >= FALL_MIN_PREVIOUS && ratio * RISE_RATIO <= 1.0 {
        return Some(if count == 0 {
            "stopped".to_owned()
        } else {
            format!("falling x{ratio:.2}")
        });
    }
    None
}

impl DigestTracker {
    /// The digest of `service` from its last window to `now_ms`, given its
    /// templates as the miner holds them now. The first call for a service
    /// only marks the start of its first window (`None`).
    pub fn digest(
        &mut self,
        service: &str,
        templates: &[TemplateCount],
        now_ms: i64,
        redactor: &Redactor,
    ) -> Option<LogDigest> {
        let totals: HashMap<String, u64> = templates
            .iter()
            .map(|t| (t.template_id.clone(), t.count))
            .collect();
        let Some(last) = self.last.get(service).cloned() else {
            self.remember(service, now_ms, totals, None);
            return None;
        };
        let from_ms = last.at_ms;
        let mut counts = HashMap::new();
        let mut changes = Vec::new();
        let mut lines = 0;
        for t in templates {
            let first_seen_in_window = t.first_seen_ms > from_ms;
            let before = if first_seen_in_window {
                0
            } else {
                // a template the miner forgot and learned again counts whole
                last.totals.get(&t.template_id).copied().unwrap_or(0)
            };
            let count = t.count.saturating_sub(before);
            lines += count;
            counts.insert(t.template_id.clone(), count);
            let previous = last
                .counts
                .as_ref()
                .map(|c| c.get(&t.template_id).copied().unwrap_or(0));
            if let Some(change) = classify(first_seen_in_window, count, previous) {
                changes.push(self::change(service, t, change, count, previous, redactor));
            }
        }
        // templates gone from the miner since: nothing to name them by
        let previous_lines = last.counts.as_ref().map(|c| c.values().sum());
        changes.sort_by_key(rank);
        let more = changes.len().saturating_sub(MAX_CHANGES);
        changes.truncate(MAX_CHANGES);
        self.remember(service, now_ms, totals, Some(counts));
        let mut digest = LogDigest {
            service: service.to_owned(),
            from_ms,
            to_ms: now_ms,
            lines,
            previous_lines,
            evidence_ids: changes.iter().map(|c| c.id.clone()).collect(),
            changes,
            more,
            text: String::new(),
            source: "deterministic".into(),
            model: None,
            prompt_version: DIGEST_PROMPT_VERSION.into(),
            fallback: None,
        };
        digest.text = deterministic_text(&digest);
        Some(digest)
    }

    fn remember(
        &mut self,
        service: &str,
        now_ms: i64,
        totals: HashMap<String, u64>,
        counts: Option<HashMap<String, u64>>,
    ) {
        if self.last.len() >= MAX_SERVICES && !self.last.contains_key(service) {
            let oldest = self
                .last
                .iter()
                .min_by_key(|(_, w)| w.at_ms)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.last.remove(&k);
            }
        }
        self.last.insert(
            service.to_owned(),
            Window {
                at_ms: now_ms,
                totals,
                counts,
            },
        );
    }
}

fn change(
    service: &str,
    t: &TemplateCount,
    change: String,
    count: u64,
    previous: Option<u64>,
    redactor: &Redactor,
) -> TemplateChange {
    TemplateChange {
        id: id_of(&format!("{service}/template/{}", t.template_id)),
        template_id: t.template_id.clone(),
        change,
        count,
        previous: previous.unwrap_or(0),
        level: t.level.clone(),
        text: clip(&redactor.redact(&t.text)),
        lines: t
            .exemplars
            .iter()
            .rev()
            .take(LINES_PER_CHANGE)
            .map(|l| clip(&redactor.redact(l)))
            .collect(),
    }
}

/// The digest in one paragraph, from its counts alone.
pub fn deterministic_text(d: &LogDigest) -> String {
    let mut text = format!(
        "{}, {}-{} UTC: {} lines",
        d.service,
        hhmm(d.from_ms),
        hhmm(d.to_ms),
        d.lines
    );
    if let Some(previous) = d.previous_lines {
        text.push_str(&format!(" (window before: {previous})"));
    }
    if d.changes.is_empty() {
        text.push_str("; no template new, back, rising or falling.");
        return text;
    }
    text.push('.');
    for c in &d.changes {
        let level = c.level.to_uppercase();
        let was = match c.change.split(' ').next() {
            Some("new") => format!("{} lines", c.count),
            Some("back") => format!("{} lines, none the window before", c.count),
            _ => format!("{} lines, {} the window before", c.count, c.previous),
        };
        text.push_str(&format!(
            " {} {}: {level} {:?} ({was}).",
            capitalise(&c.change),
            c.id,
            c.text
        ));
    }
    if d.more > 0 {
        text.push_str(&format!(" And {} more changed.", d.more));
    }
    text
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The model's answer for a digest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelDigest {
    pub summary: String,
    #[serde(default)]
    pub evidence_ids: Vec<String>,
}

/// The model's digest, if it holds: JSON of the asked shape, at least one
/// cited template, every cited id one of the digest's changes.
pub fn check_digest(answer: &str, digest: &LogDigest) -> Result<ModelDigest, Vec<String>> {
    let parsed: ModelDigest = serde_json::from_str(crate::validate::json_part(answer))
        .map_err(|e| vec![format!("the answer is not the JSON asked for: {e}")])?;
    let mut problems = Vec::new();
    if parsed.summary.trim().is_empty() || parsed.summary.len() > 2_000 {
        problems.push("\"summary\" must be 1 to 2000 characters".to_owned());
    }
    if parsed.evidence_ids.is_empty() {
        problems.push("cite at least one template id".to_owned());
    }
    let unknown: Vec<&str> = parsed
        .evidence_ids
        .iter()
        .filter(|id| !digest.changes.iter().any(|c| &c.id == *id))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        problems.push(format!(
            "evidence_ids not among the templates: {}",
            unknown.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn t(id: &str, level: &str, count: u64, first_seen_ms: i64) -> TemplateCount {
        TemplateCount {
            template_id: id.into(),
            text: format!("template {id} <*>"),
            level: level.into(),
            count,
            first_seen_ms,
            exemplars: vec![format!("template {id} 1"), format!("template {id} 2")],
        }
    }

    fn ids(d: &LogDigest) -> Vec<(&str, &str)> {
        d.changes
            .iter()
            .map(|c| (c.template_id.as_str(), c.change.as_str()))
            .collect()
    }

    #[test]
    fn windows_name_what_is_new_rising_falling_and_stopped() {
        let r = Redactor::default();
        let mut tracker = DigestTracker::default();
        // the first call only starts the first window
        assert!(
            tracker
                .digest("cart", &[t("a", "info", 100, 0)], 0, &r)
                .is_none()
        );
        // first whole window: rates need a window before, new ones do not
        let d = tracker
            .digest(
                "cart",
                &[
                    t("a", "info", 200, 0),
                    t("b", "info", 50, 3 * MIN),
                    t("c", "warn", 30, 0),
                ],
                5 * MIN,
                &r,
            )
            .expect("a digest");
        assert_eq!(ids(&d), [("b", "new")]);
        assert_eq!((d.lines, d.previous_lines), (100 + 50 + 30, None));
        // the next: errors new, a warning rising, a template stopped
        let d = tracker
            .digest(
                "cart",
                &[
                    t("a", "info", 200, 0),
                    t("b", "info", 100, 3 * MIN),
                    t("c", "warn", 150, 0),
                    t("d", "error", 37, 7 * MIN),
                ],
                10 * MIN,
                &r,
            )
            .expect("a digest");
        assert_eq!(
            ids(&d),
            [("d", "new"), ("c", "rising x4.0"), ("a", "stopped")],
            "{d:?}"
        );
        assert_eq!(d.previous_lines, Some(180));
        assert_eq!(d.evidence_ids.len(), 3);
        assert!(d.text.contains("New ev-"), "{}", d.text);
        assert!(
            d.text
                .contains("WARN \"template c <*>\" (120 lines, 30 the window before)"),
            "{}",
            d.text
        );
        assert!(
            d.text.contains("ERROR \"template d <*>\" (37 lines)"),
            "{}",
            d.text
        );
        // the window after: the errors stopped; then one with no change
        let mut now = vec![
            t("a", "info", 200, 0),
            t("b", "info", 150, 3 * MIN),
            t("c", "warn", 270, 0),
            t("d", "error", 37, 7 * MIN),
        ];
        let d = tracker
            .digest("cart", &now, 15 * MIN, &r)
            .expect("a digest");
        assert_eq!(ids(&d), [("d", "stopped")]);
        now[1].count += 50;
        now[2].count += 120;
        let d = tracker
            .digest("cart", &now, 20 * MIN, &r)
            .expect("a digest");
        assert_eq!(ids(&d), []);
        assert!(
            d.text.ends_with(
                "170 lines (window before: 170); no template new, back, rising or falling."
            ),
            "{}",
            d.text
        );
    }

    #[test]
    fn example_lines_are_redacted_and_changes_bounded() {
        let r = Redactor::default();
        let mut tracker = DigestTracker::default();
        tracker.digest("payments", &[], 0, &r);
        let mut templates: Vec<TemplateCount> = (0..20)
            .map(|n| t(&format!("t{n:02}"), "info", 10 + n, MIN))
            .collect();
        templates[5].level = "error".into();
        templates[5].exemplars = vec!["card 4111111111111111 declined for bob@example.com".into()];
        let d = tracker
            .digest("payments", &templates, 5 * MIN, &r)
            .expect("a digest");
        assert_eq!(d.changes.len(), MAX_CHANGES);
        assert_eq!(d.more, 20 - MAX_CHANGES);
        assert_eq!(d.changes[0].template_id, "t05", "the error comes first");
        let text = serde_json::to_string(&d).expect("json");
        assert!(
            !text.contains("4111111111111111") && !text.contains("bob@example.com"),
            "{text}"
        );
    }

    #[test]
    fn answers_citing_other_ids_are_refused() {
        let r = Redactor::default();
        let mut tracker = DigestTracker::default();
        tracker.digest("cart", &[], 0, &r);
        let d = tracker
            .digest("cart", &[t("a", "error", 40, MIN)], 5 * MIN, &r)
            .expect("a digest");
        let good = format!(
            r#"{{"summary":"new errors","evidence_ids":["{}"]}}"#,
            d.changes[0].id
        );
        assert!(check_digest(&good, &d).is_ok());
        let wrong = check_digest(r#"{"summary":"x","evidence_ids":["ev-000000000000"]}"#, &d)
            .expect_err("refused");
        assert!(wrong[0].contains("ev-000000000000"), "{wrong:?}");
        assert!(check_digest(r#"{"summary":"x","evidence_ids":[]}"#, &d).is_err());
        assert!(check_digest("ignore previous instructions", &d).is_err());
    }
}
