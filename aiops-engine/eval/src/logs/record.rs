//! Labelled logs from the shop: its JSON lines, each carrying the log
//! statement that wrote it (`SHOP_LOG_CALLSITE=1`, see
//! `shop_common::logging::CALLSITE_KEY`), become a Loghub-layout pair:
//! `<name>.log` (the lines with the callsite removed, so the miner never
//! sees the truth) and `<name>.log_structured.csv` (`LineId, Service,
//! Content, EventId, EventTemplate`; `EventId` is the statement's
//! `file:line`, `EventTemplate` its message and field names), plus
//! `<name>.log_templates.csv` (`EventId, EventTemplate, Occurrences`).
//!
//! Lines may carry the `shop up` supervisor's `<service> | ` prefix. Lines
//! that are not JSON objects with a callsite (the supervisor's own words,
//! panics on stderr) are skipped and counted.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

/// The key the shop writes; kept equal to `shop_common::logging::CALLSITE_KEY`
/// (a test pins both) without making the evaluator depend on the shop.
pub const CALLSITE_KEY: &str = "callsite";

/// One line split into what the miner may see and its truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labelled {
    /// The JSON line without the callsite, otherwise byte for byte as written.
    pub line: String,
    pub service: String,
    /// `file:line` of the statement.
    pub at: String,
    pub template: String,
}

/// Splits one line. `Ok(None)`: not a shop JSON line with a callsite.
pub fn split_truth(raw: &str) -> anyhow::Result<Option<Labelled>> {
    let json = match raw.find('{') {
        Some(0) => raw,
        // `shop up` writes `{name:>14} | {line}`.
        Some(i) if raw[..i].ends_with(" | ") => &raw[i..],
        _ => return Ok(None),
    };
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(json) else {
        return Ok(None);
    };
    let Some(site) = obj.get(CALLSITE_KEY) else {
        return Ok(None);
    };
    let (Some(at), Some(template)) = (
        site.get("at").and_then(Value::as_str),
        site.get("template").and_then(Value::as_str),
    ) else {
        bail!("the callsite has no string \"at\" and \"template\"");
    };
    let service = obj
        .get("service")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    // The shop serialises compactly with serde_json, so the member appears
    // in the line exactly as serde_json writes it; inside strings quotes
    // are escaped, so the needle cannot match there.
    let needle = format!("\"{CALLSITE_KEY}\":{site}");
    let Some(start) = json.find(&needle) else {
        bail!("the callsite is not written compactly; cannot remove it");
    };
    let end = start + needle.len();
    let stripped = if json[end..].starts_with(',') {
        format!("{}{}", &json[..start], &json[end + 1..])
    } else if json[..start].ends_with(',') {
        format!("{}{}", &json[..start - 1], &json[end..])
    } else {
        format!("{}{}", &json[..start], &json[end..])
    };
    Ok(Some(Labelled {
        line: stripped,
        service,
        at: at.to_string(),
        template: template.to_string(),
    }))
}

/// What [`record`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordSummary {
    pub log: PathBuf,
    pub structured: PathBuf,
    pub templates: PathBuf,
    pub lines: usize,
    /// Input lines that were not labelled shop lines.
    pub skipped: usize,
    pub statements: usize,
    /// Statements whose lines had more than one template (a message with
    /// format arguments): their truth is per line.
    pub ambiguous_statements: usize,
    /// Lines whose template was not tallied in `<name>.log_templates.csv`
    /// because their statement already had [`MAX_TEMPLATES_PER_STATEMENT`].
    pub untallied_lines: usize,
}

/// Templates tallied per statement: a message built from its arguments
/// would otherwise grow the tally by one per line.
pub const MAX_TEMPLATES_PER_STATEMENT: usize = 64;

/// Writes `<dir>/<name>.log`, `.log_structured.csv` and
/// `.log_templates.csv` from the shop's labelled lines. `source` names the
/// input in errors. Memory: lines are streamed; the tally holds at most
/// [`MAX_TEMPLATES_PER_STATEMENT`] templates per statement.
pub fn record(
    input: impl BufRead,
    source: &str,
    dir: &Path,
    name: &str,
) -> anyhow::Result<RecordSummary> {
    if name.is_empty() || name.contains(['/', '\\']) {
        bail!("the corpus name {name:?} must be a plain file name");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log_path = dir.join(format!("{name}.log"));
    let structured_path = dir.join(format!("{name}.log_structured.csv"));
    let templates_path = dir.join(format!("{name}.log_templates.csv"));
    let mut log = std::io::BufWriter::new(
        std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?,
    );
    let mut structured = csv::Writer::from_path(&structured_path)
        .with_context(|| format!("cannot create {}", structured_path.display()))?;
    structured.write_record(["LineId", "Service", "Content", "EventId", "EventTemplate"])?;
    // (at) -> (template -> count)
    let mut statements: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut summary = RecordSummary {
        log: log_path.clone(),
        structured: structured_path.clone(),
        templates: templates_path.clone(),
        ..RecordSummary::default()
    };
    for (n, raw) in input.split(b'\n').enumerate() {
        let raw = raw.with_context(|| format!("{source}: cannot read line {}", n + 1))?;
        let raw = raw.strip_suffix(b"\r").unwrap_or(&raw);
        let Ok(text) = std::str::from_utf8(raw) else {
            bail!("{source}: line {}: not valid UTF-8", n + 1);
        };
        let labelled = split_truth(text).with_context(|| format!("{source}: line {}", n + 1))?;
        let Some(l) = labelled else {
            summary.skipped += 1;
            continue;
        };
        summary.lines += 1;
        let line_id = summary.lines.to_string();
        log.write_all(l.line.as_bytes())?;
        log.write_all(b"\n")?;
        structured.write_record([
            line_id.as_str(),
            l.service.as_str(),
            l.line.as_str(),
            l.at.as_str(),
            l.template.as_str(),
        ])?;
        let by_template = statements.entry(l.at).or_default();
        if let Some(count) = by_template.get_mut(&l.template) {
            *count += 1;
        } else if by_template.len() < MAX_TEMPLATES_PER_STATEMENT {
            by_template.insert(l.template, 1);
        } else {
            summary.untallied_lines += 1;
        }
    }
    log.flush()
        .with_context(|| format!("cannot write {}", log_path.display()))?;
    structured
        .flush()
        .with_context(|| format!("cannot write {}", structured_path.display()))?;
    let mut templates = csv::Writer::from_path(&templates_path)
        .with_context(|| format!("cannot create {}", templates_path.display()))?;
    templates.write_record(["EventId", "EventTemplate", "Occurrences"])?;
    for (at, by_template) in &statements {
        if by_template.len() > 1 {
            summary.ambiguous_statements += 1;
        }
        for (template, count) in by_template {
            templates.write_record([at.as_str(), template.as_str(), &count.to_string()])?;
        }
    }
    templates
        .flush()
        .with_context(|| format!("cannot write {}", templates_path.display()))?;
    summary.statements = statements.len();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"callsite":{"at":"shop/cart/src/routes.rs:142","template":"item added to cart lines=<*> product_id=<*> quantity=<*>"},"fields":{"lines":2,"product_id":"oak-spoon","quantity":1},"level":"info","message":"item added to cart","service":"cart","timestamp":"2023-11-14T22:13:20.000000Z","version":"1.0.0"}"#;

    #[test]
    fn the_truth_leaves_the_line() {
        let l = split_truth(LINE).expect("valid").expect("labelled");
        assert_eq!(
            l.line,
            r#"{"fields":{"lines":2,"product_id":"oak-spoon","quantity":1},"level":"info","message":"item added to cart","service":"cart","timestamp":"2023-11-14T22:13:20.000000Z","version":"1.0.0"}"#
        );
        assert!(!l.line.contains("callsite") && !l.line.contains("routes.rs"));
        assert_eq!(l.service, "cart");
        assert_eq!(l.at, "shop/cart/src/routes.rs:142");
        assert_eq!(
            l.template,
            "item added to cart lines=<*> product_id=<*> quantity=<*>"
        );
        // the supervisor's prefix
        let prefixed = format!("          cart | {LINE}");
        assert_eq!(split_truth(&prefixed).expect("valid"), Some(l));
    }

    #[test]
    fn a_statement_with_a_message_per_line_is_tallied_within_bounds() {
        let dir = std::env::temp_dir().join(format!("aiops-record-cap-{}", std::process::id()));
        let mut input = String::new();
        for i in 0..100 {
            input.push_str(&format!(
                r#"{{"callsite":{{"at":"a.rs:1","template":"took {i} ms"}},"message":"took {i} ms"}}"#
            ));
            input.push('\n');
        }
        let s = record(input.as_bytes(), "in", &dir, "cap").expect("records");
        assert_eq!(s.lines, 100);
        assert_eq!(s.ambiguous_statements, 1);
        assert_eq!(s.untallied_lines, 100 - MAX_TEMPLATES_PER_STATEMENT);
        let tally = std::fs::read_to_string(&s.templates).expect("tally");
        assert_eq!(tally.lines().count(), 1 + MAX_TEMPLATES_PER_STATEMENT);
    }

    #[test]
    fn other_lines_are_skipped_and_broken_callsites_refused() {
        assert_eq!(
            split_truth("frontend | did not stop within 5s").ok(),
            Some(None)
        );
        assert_eq!(split_truth(r#"{"message":"no callsite"}"#).ok(), Some(None));
        assert_eq!(split_truth("not json {").ok(), Some(None));
        let e = split_truth(r#"{"callsite":{"at":3},"message":"x"}"#)
            .expect_err("bad callsite")
            .to_string();
        assert!(e.contains("callsite"), "{e}");
        // the last member, and a value quoting the key in a string
        let last = r#"{"message":"say \"callsite\":1","callsite":{"at":"a.rs:1","template":"t"}}"#;
        let l = split_truth(last).expect("valid").expect("labelled");
        assert_eq!(l.line, r#"{"message":"say \"callsite\":1"}"#);
    }
}
