//! `aiops eval logs`: template mining judged against Loghub's ground truth
//! (GA, PA, FGA, FTA), and `aiops eval record-logs`: the shop's own
//! labelled logs in the same layout.

mod cpu;
mod input;
pub mod metrics;
pub mod normalise;
pub mod record;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use aiops_templates::{Miner, MinerConfig, TemplateId, Templates, TemplatesConfig};
use anyhow::{Context, bail};
use clap::Args;

pub use cpu::cpu_seconds;
pub use input::{TruthRow, read_log, read_truth};
pub use metrics::{Judged, Scores, score};
pub use normalise::{Correction, normalise};

/// The long help of `aiops eval logs`: what is mined and how it is scored.
pub const LOGS_ABOUT: &str = "\
Mines a log with the engine's template miner (default settings) and scores
it against a Loghub structured CSV. All lines go to one miner: the engine
keeps one per service, but a statement in shared code (the shop's
\"listening\") is one true template whichever service logs it. With
--by-service each service (the truth's Service column) gets its own miner,
as in the engine, and a true group is a service's lines of one template.

The truth file needs the columns LineId, Content and EventTemplate (others
are ignored); its rows pair with the log's lines in order, so both must
have the same count. Rows with an empty EventTemplate are left out of the
scores, as Loghub-2.0 does.

What is mined: each line of --log as written. Loghub's raw files start each
line with a header (date, time, level, component, ...) that is not part of
the template; give --content instead of --log to mine the truth's Content
column, which holds the message without that header (the shop's labelled
corpus is JSON lines whose Content is the whole line, so either way works).

Scores:
  GA   grouping accuracy (Zhu et al. 2019): share of lines whose true group
       (lines with the same true template) is exactly one mined group
  FGA  F1 of groups: a true group is right when one mined group holds
       exactly its lines; precision over mined groups, recall over true ones
  PA   parsing accuracy: share of lines whose mined template equals the
       true one
  FTA  F1 of templates (Khan et al. 2022): a mined template text is right
       when all its lines have that text as their true template
Mined groups are the miner's template ids. Before templates are compared,
both sides are normalised: the miner's masks (<NUM> <IP> <UUID> <HEX> <ID>
<TS> <STR>) become <*>, whitespace runs become one space, and (unless
--no-correction) the Khan et al. corrections that Loghub-2.0 applies: path
tokens, true/false/null/root/admin, digit-only tokens and words glued to a
variable become <*>, then <*>.<*>, <*><*>, #<*># and <*>:<*> become <*>.

--score <csv> judges another parser's output (LineId,TemplateId,Template,
rows in the truth's order, e.g. drain3's from benches/scripts/drain3_mine.py)
with the same code instead of mining.

--out gets LineId,TemplateId,Template per line: the template as the miner
holds it at the end (masks kept), the id as the engine would report it.
Mining speed is CPU time (getrusage) of the mining loop alone; --repeat N
mines the lines N more times, each time with a fresh miner, for timing.";

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// The raw log, one entry per line.
    #[arg(long, required_unless_present_any = ["content", "score"], conflicts_with_all = ["content", "score"])]
    pub log: Option<PathBuf>,
    /// The truth: Loghub structured CSV (LineId, Content, EventTemplate).
    #[arg(long)]
    pub truth: PathBuf,
    /// Where to write LineId,TemplateId,Template per line.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Mine the truth's Content column instead of a raw log.
    #[arg(long)]
    pub content: bool,
    /// Compare templates with masks and whitespace normalised only.
    #[arg(long)]
    pub no_correction: bool,
    /// Extra mining passes (fresh miner each) for the speed figure.
    #[arg(long, default_value_t = 0)]
    pub repeat: u32,
    /// One miner per service, as the engine mines; true groups are then
    /// per service too (needs a Service column in the truth).
    #[arg(long)]
    pub by_service: bool,
    /// Score another parser's LineId,TemplateId,Template CSV (rows in the
    /// truth's order) instead of mining: the same metrics for both.
    #[arg(long, conflicts_with_all = ["content", "repeat"])]
    pub score: Option<PathBuf>,
}

/// What one evaluation found.
#[derive(Clone, Debug)]
pub struct LogsReport {
    pub lines: usize,
    pub scored_lines: usize,
    pub scores: Scores,
    /// Lines mined in the timed passes, and their CPU seconds.
    pub timed_lines: u64,
    pub cpu_seconds: f64,
}

/// One mined line: its group id and the template it ended up with.
pub struct Mined {
    pub id: TemplateId,
    pub template: String,
}

/// Reads another parser's LineId,TemplateId,Template CSV; its LineIds must
/// follow the truth's. Ids are kept as text and hashed into a group key.
pub fn read_mined(path: &Path, truth: &[TruthRow]) -> anyhow::Result<Vec<Mined>> {
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("cannot open the parsed file {}", path.display()))?;
    let mut out = Vec::with_capacity(truth.len());
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let record = record.map_err(|e| anyhow::anyhow!("{}: line {line}: {e}", path.display()))?;
        let (Some(line_id), Some(id), Some(template)) =
            (record.get(0), record.get(1), record.get(2))
        else {
            bail!(
                "{}: line {line}: needs LineId,TemplateId,Template",
                path.display()
            );
        };
        let Some(row) = truth.get(n) else {
            bail!(
                "{}: line {line}: more rows than the truth has",
                path.display()
            );
        };
        if row.line_id != line_id {
            bail!(
                "{}: line {line}: LineId {line_id} where the truth has {}",
                path.display(),
                row.line_id
            );
        }
        out.push(Mined {
            id: TemplateId::derive("score", id, 0),
            template: template.to_string(),
        });
    }
    if out.len() != truth.len() {
        bail!(
            "{} has {} rows but the truth has {}",
            path.display(),
            out.len(),
            truth.len()
        );
    }
    Ok(out)
}

/// Mines `lines` with one fresh miner; templates are the final ones
/// (evicted templates keep the text they had when their line was mined).
pub fn mine(lines: &[&str]) -> Vec<Mined> {
    let mut miner = Miner::new("eval", MinerConfig::default());
    let seen: Vec<(TemplateId, std::sync::Arc<str>)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let o = miner.observe(i as i64, None, l);
            (o.template_id, o.template)
        })
        .collect();
    seen.into_iter()
        .map(|(id, at_the_time)| Mined {
            id,
            template: miner
                .get(id)
                .map_or_else(|| at_the_time.to_string(), |t| t.template.to_string()),
        })
        .collect()
}

/// As [`mine`], one miner per service (`services[i]` is line `i`'s), the
/// way the engine mines; ids already differ between services.
pub fn mine_by_service(lines: &[&str], services: &[&str]) -> Vec<Mined> {
    let mut templates = Templates::new(TemplatesConfig::default());
    let seen: Vec<(TemplateId, std::sync::Arc<str>, &str)> = lines
        .iter()
        .zip(services)
        .enumerate()
        .map(|(i, (l, s))| {
            let o = templates.observe(s, i as i64, None, l);
            (o.template_id, o.template, *s)
        })
        .collect();
    seen.into_iter()
        .map(|(id, at_the_time, service)| Mined {
            id,
            template: templates
                .miner(service)
                .and_then(|m| m.get(id))
                .map_or_else(|| at_the_time.to_string(), |t| t.template.to_string()),
        })
        .collect()
}

/// Lines mined per CPU-second: `passes` fresh miners over `lines` (one
/// per service when `services` is given, as in [`mine_by_service`]).
pub fn time_mining(
    lines: &[&str],
    services: Option<&[&str]>,
    passes: u32,
) -> anyhow::Result<(u64, f64)> {
    let start = cpu_seconds()?;
    let mut sink = 0u64;
    for _ in 0..passes {
        match services {
            Some(services) => {
                let mut t = Templates::new(TemplatesConfig::default());
                for (i, (l, s)) in lines.iter().zip(services).enumerate() {
                    sink ^= t.observe(s, i as i64, None, l).template_id.0;
                }
            }
            None => {
                let mut miner = Miner::new("eval", MinerConfig::default());
                for (i, l) in lines.iter().enumerate() {
                    sink ^= miner.observe(i as i64, None, l).template_id.0;
                }
            }
        }
    }
    std::hint::black_box(sink);
    let used = cpu_seconds()? - start;
    Ok((lines.len() as u64 * u64::from(passes), used))
}

/// Runs the evaluation; `print` gets the human summary.
pub fn evaluate(args: &LogsArgs, print: &mut dyn std::io::Write) -> anyhow::Result<LogsReport> {
    let truth = read_truth(&args.truth)?;
    if let Some(parsed) = &args.score {
        let mined = read_mined(parsed, &truth)?;
        return judge(args, &truth, &mined, (0, 0.0), print);
    }
    let raw;
    let lines: Vec<&str> = match (&args.log, args.content) {
        (_, true) => truth.iter().map(|r| r.content.as_str()).collect(),
        (Some(path), false) => {
            raw = read_log(path)?;
            if raw.len() != truth.len() {
                bail!(
                    "{} has {} lines but {} has {} rows: they must pair line by line",
                    path.display(),
                    raw.len(),
                    args.truth.display(),
                    truth.len()
                );
            }
            raw.iter().map(String::as_str).collect()
        }
        (None, false) => bail!("give --log <file> or --content"),
    };

    let services: Vec<&str> = if args.by_service {
        truth
            .iter()
            .enumerate()
            .map(|(n, r)| {
                r.service.as_deref().with_context(|| {
                    format!(
                        "{}: row {}: --by-service needs a Service column",
                        args.truth.display(),
                        n + 1
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?
    } else {
        Vec::new()
    };
    let start = cpu_seconds()?;
    let mined = if args.by_service {
        mine_by_service(&lines, &services)
    } else {
        mine(&lines)
    };
    let first_pass = cpu_seconds()? - start;
    let by_service = args.by_service.then_some(services.as_slice());
    let (extra_lines, extra_cpu) = time_mining(&lines, by_service, args.repeat)?;

    if let Some(out) = &args.out {
        write_mined(out, &truth, &mined)?;
    }
    let timed = (lines.len() as u64 + extra_lines, first_pass + extra_cpu);
    judge(args, &truth, &mined, timed, print)
}

fn judge(
    args: &LogsArgs,
    truth: &[TruthRow],
    mined: &[Mined],
    (timed_lines, cpu_seconds): (u64, f64),
    print: &mut dyn std::io::Write,
) -> anyhow::Result<LogsReport> {
    let correction = if args.no_correction {
        Correction::None
    } else {
        Correction::Khan
    };
    let truths: Vec<String> = truth
        .iter()
        .map(|r| normalise(&r.template, correction))
        .collect();
    let texts: Vec<String> = mined
        .iter()
        .map(|m| normalise(&m.template, correction))
        .collect();
    // Per service, a true group is a service's lines of one template; the
    // unit separator cannot occur in a service name taken from a log.
    let groups: Vec<String> = truth
        .iter()
        .zip(&truths)
        .map(|(row, t)| match (&row.service, args.by_service) {
            (Some(s), true) => format!("{s}\u{1f}{t}"),
            _ => t.clone(),
        })
        .collect();
    let judged: Vec<Judged<'_, TemplateId>> = truth
        .iter()
        .zip(truths.iter().zip(&groups))
        .zip(mined.iter().zip(&texts))
        .filter(|((row, _), _)| !row.template.trim().is_empty())
        .map(|((_, (t, g)), (m, text))| Judged {
            truth: t,
            true_group: g,
            group: m.id,
            mined: text,
        })
        .collect();
    let scores = score(&judged);
    let report = LogsReport {
        lines: truth.len(),
        scored_lines: judged.len(),
        scores,
        timed_lines,
        cpu_seconds,
    };
    writeln!(print, "data: {}", crate::provenance::log_file(&args.truth))?;
    print_report(&report, print)?;
    Ok(report)
}

fn write_mined(out: &Path, truth: &[TruthRow], mined: &[Mined]) -> anyhow::Result<()> {
    let mut w =
        csv::Writer::from_path(out).with_context(|| format!("cannot create {}", out.display()))?;
    w.write_record(["LineId", "TemplateId", "Template"])?;
    for (row, m) in truth.iter().zip(mined) {
        w.write_record([row.line_id.as_str(), &m.id.to_string(), m.template.as_str()])
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

fn print_report(r: &LogsReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let s = &r.scores;
    writeln!(
        out,
        "lines {} (scored {}), true templates {}, true groups {}, mined groups {}, mined templates {}",
        r.lines, r.scored_lines, s.true_templates, s.true_groups, s.mined_groups, s.mined_templates
    )?;
    writeln!(
        out,
        "GA {:.4}  PA {:.4}  FGA {:.4}  FTA {:.4}",
        s.ga, s.pa, s.fga, s.fta
    )?;
    if r.timed_lines == 0 {
        return Ok(());
    }
    let rate = if r.cpu_seconds > 0.0 {
        r.timed_lines as f64 / r.cpu_seconds
    } else {
        f64::INFINITY
    };
    writeln!(
        out,
        "mining: {} lines in {:.4} CPU-s: {:.0} lines per CPU-second",
        r.timed_lines, r.cpu_seconds, rate
    )
}

/// The long help of `aiops eval record-logs`.
pub const RECORD_ABOUT: &str = "Turns the shop's logs, written with SHOP_LOG_CALLSITE=1 (each line names \
the log statement that wrote it), into a labelled corpus in Loghub's layout: \
<dir>/<name>.log (the lines without the callsite, as the miner must see them), \
<dir>/<name>.log_structured.csv (LineId, Service, Content, EventId = the statement's \
file:line, EventTemplate = its message and field names) and <dir>/<name>.log_templates.csv. \
Lines of `shop up` keep working with their `<service> | ` prefix; other lines are skipped.";

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// The shop's output (`-` for standard input).
    #[arg(long)]
    pub from: PathBuf,
    /// The directory to write into.
    #[arg(long)]
    pub dir: PathBuf,
    /// The corpus name: files are <name>.log and <name>.log_structured.csv.
    #[arg(long, default_value = "shop")]
    pub name: String,
}

pub fn run_logs(args: &LogsArgs) -> anyhow::Result<()> {
    evaluate(args, &mut std::io::stdout().lock())?;
    Ok(())
}

pub fn run_record(args: &RecordArgs) -> anyhow::Result<()> {
    let summary = if args.from.as_os_str() == "-" {
        record::record(
            std::io::stdin().lock(),
            "standard input",
            &args.dir,
            &args.name,
        )?
    } else {
        let file = std::fs::File::open(&args.from)
            .with_context(|| format!("cannot open {}", args.from.display()))?;
        let source = args.from.display().to_string();
        record::record(
            std::io::BufReader::new(file),
            &source,
            &args.dir,
            &args.name,
        )?
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} labelled lines from {} statements ({} skipped, {} statements with more than one template)",
        summary.lines, summary.statements, summary.skipped, summary.ambiguous_statements
    )?;
    if summary.untallied_lines > 0 {
        writeln!(
            out,
            "{} lines not tallied in the templates file (over {} templates in their statement)",
            summary.untallied_lines,
            record::MAX_TEMPLATES_PER_STATEMENT
        )?;
    }
    writeln!(
        out,
        "wrote {}, {}, {}",
        summary.log.display(),
        summary.structured.display(),
        summary.templates.display()
    )?;
    Ok(())
}
