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

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use aiops_rca::{
    CsvOptions, Departure, Departures, Method, MetricFrame, RankOptions, Ranking, RcaError,
};
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
    /// Departures from RCAEval's scoring switched off, by name
    /// (`absolute`, `zero-scale`, `keep-constant`, `peer-scale`,
    /// `shared-shift`, `fill-limit`; see `aiops_rca::Departure`), to
    /// measure what each is worth; methods are then named
    /// `baro-without-<names>`.
    #[arg(long, value_delimiter = ',')]
    pub without: Vec<Switch>,
    /// Score exactly as RCAEval does (signed scores, a zero scale replaced
    /// by 1, columns constant in either window left out, gaps filled
    /// forward without limit, nothing looked at across services): every
    /// departure off; methods are then named `baro-rcaeval` and
    /// `nsigma-rcaeval`.
    #[arg(long)]
    pub rcaeval_scoring: bool,
    /// Weigh every departure on these cases: score with all of them, with
    /// none (RCAEval's scoring), with all but each one and with none but
    /// each one, then print a table of what each was worth.
    #[arg(long, conflicts_with_all = ["without", "rcaeval_scoring"])]
    pub ablate: bool,
    /// Columns whose name ends with this are left out; repeatable.
    /// RCAEval leaves out `_latency-50`; `--drop-suffix ''` keeps all.
    #[arg(long = "drop-suffix", default_values_t = vec!["_latency-50".to_owned()])]
    pub drop_suffix: Vec<String>,
}

/// One departure from RCAEval's way, as `--without` names it: a
/// scoring one, or the limit on filling gaps forward when a case's CSV is
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    Scoring(Departure),
    /// Gaps filled forward for a few rows only, never set to 0
    /// (RCAEval: `ffill()` without limit, then `fillna(0)`).
    FillLimit,
}

impl Switch {
    fn all() -> impl Iterator<Item = Switch> {
        Departure::ALL
            .into_iter()
            .map(Switch::Scoring)
            .chain([Switch::FillLimit])
    }

    fn name(self) -> &'static str {
        match self {
            Switch::Scoring(d) => d.name(),
            Switch::FillLimit => "fill-limit",
        }
    }
}

impl std::str::FromStr for Switch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "fill-limit" {
            return Ok(Switch::FillLimit);
        }
        s.parse::<Departure>()
            .map(Switch::Scoring)
            .map_err(|e| format!("{e} or fill-limit"))
    }
}

/// How a variant scores, relative to the shipped ranking and to
/// RCAEval's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scoring {
    /// The ranking as the engine ships it.
    Shipped,
    /// RCAEval's: every departure off.
    Rcaeval,
    /// The shipped ranking with these departures off.
    Without(Vec<Switch>),
    /// RCAEval's with this one departure on.
    RcaevalWith(Switch),
}

/// One way of scoring the cases: a method and a scoring, from which its
/// departures, its reading of gaps and its label all follow.
#[derive(Debug, Clone)]
struct Variant {
    method: Method,
    scoring: Scoring,
}

impl Variant {
    /// The switches on, as (scoring departures, fill limit).
    fn switches(&self) -> (Departures, bool) {
        let set =
            |switch: Switch, (departures, fill_limit): (Departures, bool), on: bool| match switch {
                Switch::Scoring(d) if on => (departures.with(d), fill_limit),
                Switch::Scoring(d) => (departures.without(d), fill_limit),
                Switch::FillLimit => (departures, on),
            };
        match &self.scoring {
            Scoring::Shipped => (Departures::default(), true),
            Scoring::Rcaeval => (Departures::none(), false),
            Scoring::Without(switches) => switches
                .iter()
                .fold((Departures::default(), true), |now, &s| set(s, now, false)),
            Scoring::RcaevalWith(switch) => set(*switch, (Departures::none(), false), true),
        }
    }

    fn label(&self) -> String {
        let method = self.method;
        match &self.scoring {
            Scoring::Shipped => method.name().to_owned(),
            Scoring::Rcaeval => format!("{method}-rcaeval"),
            Scoring::Without(switches) => {
                let names: Vec<&str> = switches.iter().map(|s| s.name()).collect();
                format!("{method}-without-{}", names.join("+"))
            }
            Scoring::RcaevalWith(switch) => format!("{method}-rcaeval+{}", switch.name()),
        }
    }
}

/// The methods asked for, each once, in the order given.
fn methods(args: &RcaArgs) -> Vec<Method> {
    let mut methods: Vec<Method> = Vec::new();
    for &m in &args.method {
        if !methods.contains(&m.into()) {
            methods.push(m.into());
        }
    }
    methods
}

/// The variants `args` asks for, per method in the order given.
fn variants(args: &RcaArgs) -> Vec<Variant> {
    let mut out = Vec::new();
    for method in methods(args) {
        let variant = |scoring| Variant { method, scoring };
        if args.ablate {
            out.push(variant(Scoring::Shipped));
            out.push(variant(Scoring::Rcaeval));
            out.extend(Switch::all().map(|s| variant(Scoring::Without(vec![s]))));
            out.extend(Switch::all().map(|s| variant(Scoring::RcaevalWith(s))));
        } else if args.rcaeval_scoring {
            out.push(variant(Scoring::Rcaeval));
        } else if args.without.is_empty() {
            out.push(variant(Scoring::Shipped));
        } else {
            let mut switches: Vec<Switch> = Vec::new();
            for &switch in &args.without {
                if !switches.contains(&switch) {
                    switches.push(switch);
                }
            }
            out.push(variant(Scoring::Without(switches)));
        }
    }
    out
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
/// case errors to `log`. Returns the summaries (one per variant: per
/// method, or per method and set of departures with `--ablate`).
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
    let variants = variants(args);
    let csv = |fill_limit: bool| CsvOptions {
        drop_suffixes: args
            .drop_suffix
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect(),
        max_fill_rows: if fill_limit {
            CsvOptions::default().max_fill_rows
        } else {
            usize::MAX
        },
    };
    let window = (args.window_rows > 0).then_some(args.window_rows);
    let options = |departures: Departures| RankOptions {
        max_pre_rows: window,
        max_post_rows: window,
        departures,
        ..RankOptions::default()
    };
    let mut accuracy: Vec<Accuracy> = vec![Accuracy::default(); variants.len()];
    // the same, per kind of data: tuned on, or not
    let mut by_data: Vec<BTreeMap<&'static str, Accuracy>> = vec![BTreeMap::new(); variants.len()];
    for case in &found {
        let truth = cases::truth(case);
        let data = crate::provenance::rca_case(&case.name);
        // read once per fill setting the variants use
        let mut loaded: [Option<Result<(MetricFrame, i64), String>>; 2] = [None, None];
        for ((variant, accuracy), by_data) in variants
            .iter()
            .zip(accuracy.iter_mut())
            .zip(by_data.iter_mut())
        {
            let of_data = by_data.entry(data).or_default();
            let (departures, fill_limit) = variant.switches();
            let label = variant.label();
            let slot = &mut loaded[usize::from(fill_limit)];
            let loaded = slot
                .get_or_insert_with(|| truth.clone().and_then(|_| load(case, &csv(fill_limit))));
            let outcome = truth.clone().and_then(|truth| {
                let (frame, onset) = loaded.as_ref().map_err(Clone::clone)?;
                aiops_rca::rank(frame, *onset, variant.method, &options(departures))
                    .map(|ranking| (truth, ranking))
                    .map_err(|e| rank_error(case, *onset, e))
            });
            let line = match outcome {
                Ok((truth, ranking)) => {
                    let rank = ranking.position(&truth);
                    accuracy.add(rank, ranking.services.len());
                    of_data.add(rank, ranking.services.len());
                    let mut line = case_line(case, &label, &truth, &ranking, rank, args.top);
                    line["data"] = json!(data);
                    line
                }
                Err(error) => {
                    accuracy.fail();
                    of_data.fail();
                    writeln!(log, "aiops eval rca: {} ({}): {error}", case.name, label)?;
                    json!({
                        "case": case.name,
                        "method": label,
                        "truth": truth.as_ref().ok(),
                        "data": data,
                        "error": error,
                    })
                }
            };
            writeln!(out, "{line}")?;
        }
    }
    let summaries: Vec<Summary> = variants
        .iter()
        .zip(&accuracy)
        .map(|(variant, accuracy)| accuracy.summary(&variant.label()))
        .collect();
    for summary in &summaries {
        writeln!(out, "{}", serde_json::to_string(summary)?)?;
        writeln!(log, "{}", readable(summary))?;
    }
    // a figure on cases the ranking was tuned on is said apart from one
    // on cases it never saw
    for (variant, by_data) in variants.iter().zip(&by_data) {
        for (data, accuracy) in by_data {
            let summary = accuracy.summary(&variant.label());
            writeln!(log, "  data {data}: {}", readable(&summary))?;
        }
    }
    if args.ablate {
        write!(
            log,
            "{}",
            ablation_table(&methods(args), &variants, &summaries)
        )?;
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

/// Per method and departure: what taking it out of this ranking and
/// adding it to RCAEval's did to AC@1 and Avg@5.
fn ablation_table(methods: &[Method], variants: &[Variant], summaries: &[Summary]) -> String {
    let find = |method: Method, scoring: Scoring| {
        variants
            .iter()
            .position(|v| v.method == method && v.scoring == scoring)
            .map(|i| &summaries[i])
    };
    let delta = |a: Option<&Summary>, b: Option<&Summary>, pick: fn(&Summary) -> Option<f64>| match (
        a.and_then(pick),
        b.and_then(pick),
    ) {
        (Some(a), Some(b)) => format!("{:+.3}", a - b),
        _ => "n/a".to_owned(),
    };
    let mut text = String::new();
    for &method in methods {
        let ours = find(method, Scoring::Shipped);
        let plain = find(method, Scoring::Rcaeval);
        text.push_str(&format!(
            "\n{method}: what each departure is worth (AC@1 and Avg@5 differences; positive: it helps)\n"
        ));
        text.push_str(
            "| departure | all but it: AC@1 lost | Avg@5 lost | RCAEval's plus it: AC@1 gained | Avg@5 gained |\n|---|---|---|---|---|\n",
        );
        for switch in Switch::all() {
            let without = find(method, Scoring::Without(vec![switch]));
            let with = find(method, Scoring::RcaevalWith(switch));
            text.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                switch.name(),
                delta(ours, without, |s| s.ac1),
                delta(ours, without, |s| s.avg5),
                delta(with, plain, |s| s.ac1),
                delta(with, plain, |s| s.avg5),
            ));
        }
    }
    text
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
