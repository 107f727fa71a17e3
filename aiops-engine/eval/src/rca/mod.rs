//! `aiops eval rca`: root-cause ranking on recorded cases in RCAEval's
//! layout (see [`cases`]), one JSON line per case and method, then one
//! summary line per method with AC@1, AC@3, AC@5, Avg@5 and the Avg@5 of
//! a random ranking.
//!
//! A case that cannot be read or ranked is reported on its own line
//! (`"error"`), counted as failed and left out of the figures, as
//! RCAEval leaves out its failed cases; the run fails only when no case
//! at all could be ranked.

pub mod accuracy;
pub mod cases;

use std::io::Write;
use std::path::PathBuf;

use aiops_rca::{CsvOptions, Method, MetricFrame, RankOptions, Ranking, RcaError};
use anyhow::bail;
use serde::Serialize;
use serde_json::json;

use accuracy::{Accuracy, Summary};
use cases::CaseDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// BARO: median and IQR of the pre-onset window.
    Baro,
    /// n-sigma: mean and standard deviation of the pre-onset window.
    Nsigma,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Baro => Method::Baro,
            MethodArg::Nsigma => Method::Nsigma,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct RcaArgs {
    /// Folder of cases. Each case folder holds data.csv (a `time` column
    /// in unix seconds, then `<service>_<metric>` columns) and
    /// inject_time.txt (unix seconds); its name, or its parent's as in
    /// RCAEval's `<service>_<fault>/<n>/`, starts with the true
    /// root-cause service and a `_`.
    #[arg(long)]
    pub cases: PathBuf,
    /// Ranking method; several (`--method baro,nsigma`) are each scored.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "baro")]
    pub method: Vec<MethodArg>,
    /// Services printed per case.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Rows used each side of the inject time (RCAEval's default, its
    /// `--length 20`, is 600); 0 uses every row.
    #[arg(long, default_value_t = 600)]
    pub window_rows: usize,
    /// Score as RCAEval does, without taking out a change most services
    /// share (a load step).
    #[arg(long)]
    pub no_shared_shift: bool,
    /// Score exactly as RCAEval does (signed scores, a zero scale replaced
    /// by 1, columns constant in either window left out, gaps filled
    /// forward without limit), to measure what this ranking's departures
    /// from it are worth; methods are then named `baro-rcaeval` and
    /// `nsigma-rcaeval`.
    #[arg(long)]
    pub rcaeval_scoring: bool,
    /// Columns whose name ends with this are left out; repeatable.
    /// RCAEval leaves out `_latency-50`; `--drop-suffix ''` keeps all.
    #[arg(long = "drop-suffix", default_values_t = vec!["_latency-50".to_owned()])]
    pub drop_suffix: Vec<String>,
}

#[derive(Serialize)]
struct Entry<'a> {
    service: &'a str,
    score: f64,
    strength: f64,
    reason: &'a str,
}

/// Runs the evaluation, printing to stdout and stderr.
pub fn run(args: &RcaArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run_with(args, &mut stdout.lock(), &mut stderr.lock()).map(|_| ())
}

/// Runs the evaluation: JSON lines to `out`, a readable summary and the
/// case errors to `log`. Returns the summaries (one per method).
pub fn run_with(
    args: &RcaArgs,
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> anyhow::Result<Vec<Summary>> {
    let cases::Found {
        cases: found,
        skipped,
    } = cases::discover(&args.cases)?;
    for name in &skipped {
        writeln!(
            log,
            "skipped {name}: files but no {} or {} (not a case)",
            cases::DATA,
            cases::INJECT
        )?;
    }
    if found.is_empty() {
        bail!("{}: no case folders in it", args.cases.display());
    }
    let mut methods: Vec<Method> = Vec::new();
    for &m in &args.method {
        if !methods.contains(&m.into()) {
            methods.push(m.into());
        }
    }
    let csv = CsvOptions {
        drop_suffixes: args
            .drop_suffix
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect(),
        max_fill_rows: if args.rcaeval_scoring {
            usize::MAX
        } else {
            CsvOptions::default().max_fill_rows
        },
    };
    let window = (args.window_rows > 0).then_some(args.window_rows);
    let options = RankOptions {
        max_pre_rows: window,
        max_post_rows: window,
        shared_shift: !args.no_shared_shift,
        rcaeval: args.rcaeval_scoring,
        ..RankOptions::default()
    };
    let label = |method: Method| {
        if args.rcaeval_scoring {
            format!("{method}-rcaeval")
        } else {
            method.name().to_owned()
        }
    };
    let mut accuracy: Vec<Accuracy> = vec![Accuracy::default(); methods.len()];
    for case in &found {
        let truth = cases::truth(case);
        let loaded = truth.clone().and_then(|_| load(case, &csv));
        for (method, accuracy) in methods.iter().zip(accuracy.iter_mut()) {
            let outcome = truth.clone().and_then(|truth| {
                let (frame, onset) = loaded.as_ref().map_err(Clone::clone)?;
                aiops_rca::rank(frame, *onset, *method, &options)
                    .map(|ranking| (truth, ranking))
                    .map_err(|e| rank_error(case, *onset, e))
            });
            let line = match outcome {
                Ok((truth, ranking)) => {
                    let rank = ranking.position(&truth);
                    accuracy.add(rank, ranking.services.len());
                    case_line(case, &label(*method), &truth, &ranking, rank, args.top)
                }
                Err(error) => {
                    accuracy.fail();
                    writeln!(
                        log,
                        "aiops eval rca: {} ({}): {error}",
                        case.name,
                        label(*method)
                    )?;
                    json!({
                        "case": case.name,
                        "method": label(*method),
                        "truth": truth.as_ref().ok(),
                        "error": error,
                    })
                }
            };
            writeln!(out, "{line}")?;
        }
    }
    let summaries: Vec<Summary> = methods
        .iter()
        .zip(&accuracy)
        .map(|(method, accuracy)| accuracy.summary(&label(*method)))
        .collect();
    for summary in &summaries {
        writeln!(out, "{}", serde_json::to_string(summary)?)?;
        writeln!(log, "{}", readable(summary))?;
    }
    if accuracy.iter().all(|a| a.ranked() == 0) {
        bail!(
            "every one of the {} cases failed (their errors are above)",
            found.len()
        );
    }
    Ok(summaries)
}

fn load(case: &CaseDir, csv: &CsvOptions) -> Result<(MetricFrame, i64), String> {
    let onset = cases::inject_time_ms(case)?;
    let data = cases::data_path(case)?;
    let frame = MetricFrame::from_csv(&data, csv).map_err(|e| e.to_string())?;
    Ok((frame, onset))
}

/// Rank errors speak milliseconds and do not know the file; here they are
/// said in the case's own terms.
fn rank_error(case: &CaseDir, onset_ms: i64, error: RcaError) -> String {
    let data = case.path.join(cases::DATA);
    match error {
        RcaError::OnsetOutsideData {
            first_ms, last_ms, ..
        } => format!(
            "{}: inject time {} s is outside its time range ({} s to {} s)",
            data.display(),
            seconds(onset_ms),
            seconds(first_ms),
            seconds(last_ms)
        ),
        RcaError::TooFewBefore { rows, needed } => format!(
            "{}: only {rows} rows before the inject time {} s; at least {needed} are needed",
            data.display(),
            seconds(onset_ms)
        ),
        other => format!("{}: {other}", data.display()),
    }
}

fn seconds(ms: i64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{:.3}", ms as f64 / 1000.0)
    }
}

fn case_line(
    case: &CaseDir,
    method: &str,
    truth: &str,
    ranking: &Ranking,
    rank: Option<usize>,
    top: usize,
) -> serde_json::Value {
    let round = |x: f64| (x * 10_000.0).round() / 10_000.0;
    let entries: Vec<Entry<'_>> = ranking
        .top(top)
        .iter()
        .map(|s| Entry {
            service: &s.service,
            score: round(s.score),
            strength: round(s.strength),
            reason: &s.reason,
        })
        .collect();
    json!({
        "case": case.name,
        "method": method,
        "truth": truth,
        "ranking": entries,
        "rank": rank,
    })
}

fn readable(s: &Summary) -> String {
    let f = |x: Option<f64>| x.map_or("n/a".to_owned(), |x| format!("{x:.2}"));
    format!(
        "{}: {} cases ({} failed): AC@1 {}, AC@3 {}, AC@5 {}, Avg@5 {} (a random ranking: {})",
        s.method,
        s.cases,
        s.failed,
        f(s.ac1),
        f(s.ac3),
        f(s.ac5),
        f(s.avg5),
        f(s.chance_avg5)
    )
}
