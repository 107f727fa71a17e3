//! Reading playbooks: YAML into the model, then every rule the types cannot
//! say, each broken one reported with `file:line:column`, what was expected
//! and a hint. A file holds one playbook; a folder's `*.yaml`/`*.yml` are
//! read in name order, and two playbooks may not share a name.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::at::At;
use crate::model::{Playbook, Step};
use crate::span::Span;

/// Larger files are refused unread.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// Steps in one playbook at most.
pub const MAX_STEPS: usize = 20;
/// Playbooks loaded at most.
pub const MAX_PLAYBOOKS: usize = 200;
const MAX_WAIT_MS: i64 = 10 * 60_000;

/// One thing wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based; 0 when the place is not known (the file as a whole).
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    fn at<T>(place: &At<T>, message: impl Into<String>, hint: Option<&str>) -> Problem {
        Problem {
            line: place.line,
            column: place.column,
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }
}

/// A file and what is wrong with it; prints as `file:line:column: ...`
/// lines, one per problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileErrors {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            // a place is always printed, the file's start when unknown
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                p.line.max(1),
                p.column.max(1),
                p.message
            )?;
            if let Some(hint) = &p.hint {
                write!(f, " (hint: {hint})")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for FileErrors {}

/// Parses and checks one playbook's text.
pub fn parse(text: &str) -> Result<Playbook, Vec<Problem>> {
    let playbook: Playbook = serde_saphyr::from_str(text).map_err(|e| vec![syntax(&e, text)])?;
    let problems = check(&playbook);
    if problems.is_empty() {
        Ok(playbook)
    } else {
        Err(problems)
    }
}

/// The key written on a line (`  cooldown: 10 minutes` -> `cooldown`).
fn key_on_line(text: &str, line: u32) -> Option<&str> {
    let raw = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let (key, _) = raw.trim_start().trim_start_matches("- ").split_once(':')?;
    let key = key.trim();
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(key)
}

fn syntax(e: &serde_saphyr::Error, text: &str) -> Problem {
    let (line, column) = e
        .location()
        .map(|l| {
            (
                u32::try_from(l.line()).unwrap_or(u32::MAX),
                u32::try_from(l.column()).unwrap_or(u32::MAX),
            )
        })
        .unwrap_or((0, 0));
    // the error's own text repeats the place; the first line is the news
    let full = e.to_string();
    let first = full.lines().next().unwrap_or("invalid YAML");
    let bare = strip_place(first);
    // name the field, where the line holds one and the message does not
    let message = match key_on_line(text, line) {
        Some(key) if !bare.contains(key) => format!("{key}: {bare}"),
        _ => bare.to_owned(),
    };
    let hint = if message.contains("unknown field") {
        Some("see rules/playbooks/playbook.schema.json for every field; an editor with the yaml language server completes them".to_owned())
    } else if message.contains("unknown variant") {
        Some("the value must be one of those listed".to_owned())
    } else if message.contains("missing field") {
        Some("a playbook needs at least name, when and steps".to_owned())
    } else {
        None
    };
    Problem {
        line,
        column,
        message,
        hint,
    }
}

/// `error: line 10 column 13: what` -> `what` (the place is printed apart).
fn strip_place(message: &str) -> &str {
    let rest = message.strip_prefix("error: ").unwrap_or(message);
    match rest.strip_prefix("line ") {
        Some(after) => after
            .split_once(": ")
            .filter(|(place, _)| place.contains("column"))
            .map_or(rest, |(_, what)| what),
        None => rest,
    }
}

/// Every rule of a playbook the types do not enforce.
pub fn check(p: &Playbook) -> Vec<Problem> {
    let mut out = Vec::new();
    let name = &p.name.value;
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        out.push(Problem::at(
            &p.name,
            format!("name {name:?} must be 1-64 characters of a-z, 0-9 and -"),
            Some("e.g. restart-on-memory-leak"),
        ));
    }
    check_trigger(p, &mut out);
    check_steps(p, &mut out);
    check_guardrails(p, &mut out);
    out
}

fn check_trigger(p: &Playbook, out: &mut Vec<Problem>) {
    let when = &p.when;
    if let Some(top) = &when.top_service
        && let Some(score) = &top.min_score
        && !(0.0..=1.0).contains(&score.value)
    {
        out.push(Problem::at(
            score,
            format!(
                "top_service.min_score {} is not between 0 and 1",
                score.value
            ),
            Some("it is the service's share of the ranking's score"),
        ));
    }
    for matcher in when
        .signals
        .iter()
        .chain(&when.all_signals)
        .chain(&when.without_signals)
    {
        if let Some(score) = matcher.min_score
            && !(0.0..=1.0).contains(&score)
        {
            out.push(Problem::at(
                matcher,
                format!("signals: min_score {score} is not between 0 and 1"),
                None,
            ));
        }
        if matcher.value == crate::model::SignalMatch::default() {
            out.push(Problem::at(
                matcher,
                "signals: an empty matcher matches any signal",
                Some("name at least a kind or a metric"),
            ));
        }
    }
    for alert in &when.alerts {
        if alert.is_empty() {
            out.push(Problem::at(
                alert,
                "alerts: an empty label set matches any alert",
                Some("e.g. {alertname: ShopMemoryGrowth}"),
            ));
        }
        for (label, value) in alert.iter() {
            if let Some(pattern) = value.strip_prefix('~')
                && let Err(e) = regex::Regex::new(&format!("^(?:{pattern})$"))
            {
                out.push(Problem::at(
                    alert,
                    format!("alerts: {label}: {pattern:?} is not a regular expression: {e}"),
                    None,
                ));
            }
        }
    }
    if let (Some(within), Some(_)) = (&when.deployed_within, &when.not_deployed_within) {
        out.push(Problem::at(
            within,
            "deployed_within and not_deployed_within cannot both be given",
            Some("one playbook for incidents after a deploy, another for the rest"),
        ));
    }
    if let Some(states) = &when.state
        && states.is_empty()
    {
        out.push(Problem::at(
            &p.when,
            "when.state: an empty list matches no incident",
            Some("leave it out for open and acknowledged incidents"),
        ));
    }
}

fn check_steps(p: &Playbook, out: &mut Vec<Problem>) {
    let steps = &p.steps;
    if steps.is_empty() {
        out.push(Problem::at(
            steps,
            "steps: a playbook needs at least one step",
            None,
        ));
    }
    if steps.len() > MAX_STEPS {
        out.push(Problem::at(
            steps,
            format!("steps: at most {MAX_STEPS}, got {}", steps.len()),
            None,
        ));
    }
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        match &step.value {
            Step::Escalate { text } | Step::Annotate { text } => {
                if text.trim().is_empty() || text.len() > 2_000 {
                    out.push(Problem::at(
                        step,
                        format!("steps[{i}]: the text must be 1 to 2000 characters"),
                        None,
                    ));
                }
                if matches!(step.value, Step::Escalate { .. }) && !last {
                    out.push(Problem::at(
                        step,
                        format!(
                            "steps[{i}]: escalate ends a playbook; the steps after it never run"
                        ),
                        Some("move escalate last"),
                    ));
                }
            }
            Step::Wait { duration } => {
                if duration.ms() <= 0 || duration.ms() > MAX_WAIT_MS {
                    out.push(Problem::at(
                        step,
                        format!("steps[{i}]: wait must be more than 0 and at most 10m"),
                        None,
                    ));
                }
            }
            Step::Scale { by, to, .. } => match (by, to) {
                (Some(_), Some(_)) | (None, None) => out.push(Problem::at(
                    step,
                    format!("steps[{i}]: scale needs exactly one of by or to"),
                    Some("by: 1 adds a replica; to: 3 sets three"),
                )),
                (Some(by), None) if by.value == 0 => out.push(Problem::at(
                    step,
                    format!("steps[{i}]: scale by 0 changes nothing"),
                    None,
                )),
                (None, Some(to)) if to.value == 0 => out.push(Problem::at(
                    step,
                    format!("steps[{i}]: scale to 0 is never allowed"),
                    Some("a playbook may not take a service down; stop it by hand if you must"),
                )),
                _ => {}
            },
            Step::Restart { target, .. } | Step::Rollback { target, .. } => {
                if let crate::model::Target::Service(name) = target
                    && name.trim().is_empty()
                {
                    out.push(Problem::at(step, format!("steps[{i}]: empty target"), None));
                }
            }
        }
    }
}

fn check_guardrails(p: &Playbook, out: &mut Vec<Problem>) {
    let g = &p.guardrails;
    let positive = |span: &At<Span>, field: &str, min_ms: i64, out: &mut Vec<Problem>| {
        if span.ms() < min_ms {
            out.push(Problem::at(
                span,
                format!(
                    "guardrails.{field} must be at least {}",
                    Span::from_ms(min_ms)
                ),
                None,
            ));
        }
    };
    positive(&g.window, "window", 1_000, out);
    positive(&g.verify_within, "verify_within", 5_000, out);
    if g.verify_within.ms() > 30 * 60_000 {
        out.push(Problem::at(
            &g.verify_within,
            "guardrails.verify_within must be at most 30m",
            None,
        ));
    }
    let whole = At {
        value: (),
        line: p.name.line,
        column: p.name.column,
    };
    if g.max_runs == 0 {
        out.push(Problem::at(
            &whole,
            "guardrails.max_runs must be at least 1",
            Some("use mode: dry-run to keep a playbook from acting"),
        ));
    }
    if g.max_attempts_per_incident == 0 {
        out.push(Problem::at(
            &whole,
            "guardrails.max_attempts_per_incident must be at least 1",
            None,
        ));
    }
    if g.min_replicas == 0 || g.max_replicas < g.min_replicas {
        out.push(Problem::at(
            &whole,
            format!(
                "guardrails: replicas must satisfy 1 <= min_replicas ({}) <= max_replicas ({})",
                g.min_replicas, g.max_replicas
            ),
            Some("scaling never goes to zero"),
        ));
    }
}

/// Reads one file.
pub fn load_file(path: &Path) -> Result<Playbook, FileErrors> {
    let fail = |message: String| FileErrors {
        file: path.to_owned(),
        problems: vec![Problem {
            line: 0,
            column: 0,
            message,
            hint: None,
        }],
    };
    let size = std::fs::metadata(path)
        .map_err(|e| fail(format!("cannot read: {e}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(fail(format!(
            "{size} bytes, more than the {MAX_FILE_BYTES} a playbook may have"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    parse(&text).map_err(|problems| FileErrors {
        file: path.to_owned(),
        problems,
    })
}

/// The playbook files a list of files and folders names, in order.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FileErrors> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| FileErrors {
                file: path.clone(),
                problems: vec![Problem {
                    line: 0,
                    column: 0,
                    message: format!("cannot read the folder: {e}"),
                    hint: None,
                }],
            })?;
            let mut inside: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect();
            inside.sort();
            out.extend(inside);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// Reads every playbook the paths name; all files are read, and every
/// error of every file is returned, duplicates of a name included.
pub fn load_all(paths: &[PathBuf]) -> (Vec<Playbook>, Vec<FileErrors>) {
    let files = match files(paths) {
        Ok(f) => f,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let mut playbooks: Vec<(PathBuf, Playbook)> = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match load_file(&file) {
            Ok(p) => {
                if let Some((first, _)) =
                    playbooks.iter().find(|(_, q)| q.name.value == p.name.value)
                {
                    errors.push(FileErrors {
                        file: file.clone(),
                        problems: vec![Problem::at(
                            &p.name,
                            format!(
                                "the name {:?} is taken by {}",
                                p.name.value,
                                first.display()
                            ),
                            Some("playbook names are unique"),
                        )],
                    });
                } else {
                    playbooks.push((file, p));
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if playbooks.len() > MAX_PLAYBOOKS {
        errors.push(FileErrors {
            file: PathBuf::from("(all)"),
            problems: vec![Problem {
                line: 0,
                column: 0,
                message: format!("at most {MAX_PLAYBOOKS} playbooks"),
                hint: None,
            }],
        });
    }
    (playbooks.into_iter().map(|(_, p)| p).collect(), errors)
}
