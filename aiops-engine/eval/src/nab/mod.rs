//! `aiops eval nab`: runs a detector over a NAB data directory, writes
//! NAB's results files and scores them as NAB does (see [`score`]).
//!
//! Layout read: `<dir>/data/<category>/<file>.csv`, `<dir>/combined_windows.json`
//! and, if present, `<dir>/profiles.json` (NAB's three profiles otherwise).
//! Layout written: `<out>/<category>/<detector>_<file>.csv` with
//! `timestamp,value,anomaly_score`, as NAB's results corpus.

pub mod crossval;
pub mod data;
pub mod labels;
pub mod report;
pub mod score;
pub mod windowed_gaussian;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};

use data::Series;
use labels::Profile;
use score::{FileInput, Window};

#[derive(Debug, Clone, Args)]
pub struct NabArgs {
    /// NAB data directory: `data/<category>/<file>.csv` and
    /// `combined_windows.json` inside it.
    #[arg(long)]
    pub data: PathBuf,
    /// Where the results files go (`<out>/<category>/<detector>_<file>.csv`).
    #[arg(long)]
    pub out: PathBuf,
    /// The detector to run.
    #[arg(long, value_enum, default_value_t = DetectorName::Aiops)]
    pub detector: DetectorName,
    /// Windows file, if not `<data>/combined_windows.json`.
    #[arg(long)]
    pub windows: Option<PathBuf>,
    /// Also print every file's score and counts.
    #[arg(long)]
    pub per_file: bool,
    /// Also choose the engine detector's settings leaving each category
    /// out in turn, and score the category left out with them.
    #[arg(long)]
    pub cross_validate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DetectorName {
    /// The engine's streaming detector for NAB (`aiops_detect::nab`).
    Aiops,
    /// NAB's windowed Gaussian reference detector.
    WindowedGaussian,
}

impl DetectorName {
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorName::Aiops => "aiops",
            DetectorName::WindowedGaussian => "windowed-gaussian",
        }
    }
}

/// One file with its detector scores and resolved windows.
#[derive(Debug, Clone)]
pub struct Scored {
    pub series: Series,
    pub windows: Vec<Window>,
    pub scores: Vec<f64>,
}

/// A profile's outcome over the corpus.
#[derive(Debug, Clone)]
pub struct ProfileResult {
    pub profile: Profile,
    pub threshold: f64,
    pub raw: f64,
    pub null: f64,
    pub perfect: f64,
    pub normalized: f64,
}

/// The whole evaluation, for the report and for tests.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub detector: DetectorName,
    pub files: Vec<Scored>,
    pub profiles: Vec<ProfileResult>,
    /// Data files that had no entry in the windows file (skipped, as NAB).
    pub skipped: Vec<String>,
    /// Odd rows kept (a clock change), by file and line.
    pub warnings: Vec<String>,
}

/// Runs the detector over one series: one score in [0, 1] per row, each
/// from that row and the rows before it.
pub fn detect(detector: DetectorName, series: &Series) -> Vec<f64> {
    match detector {
        DetectorName::WindowedGaussian => {
            let mut d = windowed_gaussian::WindowedGaussian::default();
            series.values.iter().map(|v| d.observe(*v)).collect()
        }
        DetectorName::Aiops => detect_with(aiops_detect::nab::NabSettings::default(), series),
    }
}

/// The engine's detector with `settings` over one series.
pub fn detect_with(settings: aiops_detect::nab::NabSettings, series: &Series) -> Vec<f64> {
    let mut d = aiops_detect::nab::NabDetector::with_settings(settings);
    series
        .timestamps
        .iter()
        .zip(&series.values)
        .map(|(ts, v)| d.observe(ts.and_utc().timestamp_millis(), *v))
        .collect()
}

/// A NAB directory read: every file with a windows entry and its windows
/// resolved, in key order.
pub struct Corpus {
    pub files: Vec<(Series, Vec<Window>)>,
    pub profiles: Vec<Profile>,
    /// Data files that had no entry in the windows file (skipped, as NAB).
    pub skipped: Vec<String>,
    /// Odd rows kept (a clock change), by file and line.
    pub warnings: Vec<String>,
}

/// Reads the data, the windows and the profiles; refuses what NAB refuses.
pub fn load(data_dir: &Path, windows_path: &Path) -> anyhow::Result<Corpus> {
    let corpus = data::read_corpus(data_dir)?;
    let mut raw_windows = labels::read_windows(windows_path)?;
    let profiles = {
        let path = data_dir.join("profiles.json");
        if path.is_file() {
            labels::read_profiles(&path)?
        } else {
            labels::nab_profiles()
        }
    };
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let warnings = corpus.iter().flat_map(|s| s.warnings.clone()).collect();
    for series in corpus {
        let Some(raw) = raw_windows.remove(&series.key) else {
            skipped.push(series.key.clone());
            continue;
        };
        let windows = labels::resolve_windows(windows_path, &series, &raw)?;
        files.push((series, windows));
    }
    // NAB's labeler reads the data of every file with windows: one that is
    // missing is an error, one without windows is ignored.
    if let Some((key, _)) = raw_windows.iter().find(|(_, w)| !w.is_empty()) {
        anyhow::bail!(
            "{}: {key} has windows but {} does not exist",
            windows_path.display(),
            data_dir.join("data").join(key).display()
        );
    }
    if files.is_empty() {
        anyhow::bail!(
            "none of the data files has an entry in {}",
            windows_path.display()
        );
    }
    Ok(Corpus {
        files,
        profiles,
        skipped,
        warnings,
    })
}

/// Reads, detects and scores; writes nothing.
pub fn evaluate(
    data_dir: &Path,
    windows_path: &Path,
    detector: DetectorName,
) -> anyhow::Result<Evaluation> {
    let corpus = load(data_dir, windows_path)?;
    let files: Vec<Scored> = corpus
        .files
        .into_iter()
        .map(|(series, windows)| {
            let scores = detect(detector, &series);
            Scored {
                series,
                windows,
                scores,
            }
        })
        .collect();
    let inputs: Vec<FileInput<'_>> = files
        .iter()
        .map(|f| FileInput {
            scores: &f.scores,
            windows: &f.windows,
        })
        .collect();
    let total_windows: usize = files.iter().map(|f| f.windows.len()).sum();
    let profiles = corpus
        .profiles
        .into_iter()
        .map(|profile| {
            let best = score::optimize(&inputs, profile.costs);
            let null = score::null_score(&inputs, profile.costs);
            let perfect = profile.costs.tp * total_windows as f64;
            ProfileResult {
                threshold: best.threshold,
                raw: best.score,
                null,
                perfect,
                normalized: score::normalize(best.score, null, perfect),
                profile,
            }
        })
        .collect();
    Ok(Evaluation {
        detector,
        files,
        profiles,
        skipped: corpus.skipped,
        warnings: corpus.warnings,
    })
}

/// Writes `<out>/<category>/<detector>_<file>.csv` for every scored file.
pub fn write_results(out: &Path, evaluation: &Evaluation) -> anyhow::Result<()> {
    let prefix = evaluation.detector.as_str();
    for file in &evaluation.files {
        let dir = out.join(&file.series.category);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("{prefix}_{}.csv", file.series.name));
        let mut text = String::with_capacity(file.scores.len() * 40);
        text.push_str("timestamp,value,anomaly_score\n");
        for ((ts, value), score) in file
            .series
            .timestamp_text
            .iter()
            .zip(&file.series.value_text)
            .zip(&file.scores)
        {
            text.push_str(&format!("{ts},{value},{score}\n"));
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The command: evaluate, write the results, print the table.
pub fn run(args: NabArgs) -> anyhow::Result<()> {
    let windows = args
        .windows
        .clone()
        .unwrap_or_else(|| args.data.join("combined_windows.json"));
    let evaluation = evaluate(&args.data, &windows, args.detector)?;
    let mut stderr = std::io::stderr().lock();
    for warning in &evaluation.warnings {
        writeln!(stderr, "warning: {warning}")?;
    }
    for key in &evaluation.skipped {
        writeln!(
            stderr,
            "warning: {key} has no entry in {}; skipped (as NAB does)",
            windows.display()
        )?;
    }
    write_results(&args.out, &evaluation)?;
    let mut stdout = std::io::stdout().lock();
    report::print(&mut stdout, &evaluation)?;
    if args.per_file {
        report::print_files(&mut stdout, &evaluation)?;
    }
    if args.cross_validate {
        let corpus = load(&args.data, &windows)?;
        let standard = corpus
            .profiles
            .iter()
            .find(|p| p.name == "standard")
            .or(corpus.profiles.first())
            .cloned()
            .context("no scoring profile")?;
        let cv = crossval::cross_validate(&corpus, &standard)?;
        crossval::print(&mut stdout, &cv)?;
    }
    writeln!(
        stdout,
        "results: {}/<category>/{}_<file>.csv",
        args.out.display(),
        evaluation.detector.as_str()
    )?;
    Ok(())
}
