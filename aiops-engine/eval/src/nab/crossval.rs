//! Leave-one-category-out: for each category, the detector's settings
//! and the threshold are chosen on the other categories alone (the
//! standard profile's normalised score, over a fixed grid), then the
//! category left out is scored with them. What it scores there is what a
//! new user's data can expect; the in-sample figure beside it is what
//! tuning on everything buys.

use std::collections::BTreeSet;
use std::io::{self, Write};

use aiops_detect::nab::NabSettings;

use super::data::Series;
use super::labels::Profile;
use super::score::{self, Costs, FileInput};
use super::{Corpus, detect_with};

/// The settings tried: the shipped ones first (they win ties), then every
/// combination of a few values around them.
pub fn grid() -> Vec<NabSettings> {
    let shipped = NabSettings::default();
    let mut out = vec![shipped];
    for window in [150, 250, 400] {
        for clip in [12.0, 18.0, 27.0] {
            for quiet in [15, 30, 60] {
                for fade in [0.01, 0.02, 0.05] {
                    let s = NabSettings {
                        window,
                        clip,
                        quiet,
                        fade,
                    };
                    if s != shipped {
                        out.push(s);
                    }
                }
            }
        }
    }
    out
}

/// One category left out.
#[derive(Debug, Clone)]
pub struct Fold {
    pub held_out: String,
    pub settings: NabSettings,
    pub threshold: f64,
    /// The normalised score on the other categories, where it was chosen.
    pub train_score: f64,
    /// The held-out category's raw score at the chosen threshold.
    pub raw: f64,
    /// Normalised by the category's own null and perfect scores; `None`
    /// for a category without windows (nothing to normalise by).
    pub held_out_score: Option<f64>,
    pub windows: usize,
    pub windows_found: usize,
    pub fp_rows: usize,
}

#[derive(Debug, Clone)]
pub struct CrossValidation {
    pub profile: String,
    pub grid_size: usize,
    pub folds: Vec<Fold>,
    /// The mean of the held-out scores of the categories with windows.
    pub mean_held_out: f64,
    /// Every file scored by the settings and threshold chosen without its
    /// category, normalised as one corpus.
    pub pooled_held_out: f64,
    /// Settings chosen on every category, and their (in-sample) score.
    pub in_sample_settings: NabSettings,
    pub in_sample: f64,
    /// The shipped settings' in-sample score.
    pub shipped: f64,
}

/// The best settings on `files` (indices into the corpus): the index into
/// the grid, the threshold and the normalised score.
fn choose<'a>(
    scores: &'a [Vec<Vec<f64>>],
    corpus: &'a Corpus,
    files: &[usize],
    costs: Costs,
) -> (usize, f64, f64) {
    let mut best = (0, 1.1, f64::NEG_INFINITY);
    let windows: usize = files.iter().map(|&i| corpus.files[i].1.len()).sum();
    let inputs_of = |per_file: &'a [Vec<f64>]| -> Vec<FileInput<'a>> {
        files
            .iter()
            .map(|&i| FileInput {
                scores: &per_file[i],
                windows: &corpus.files[i].1,
            })
            .collect()
    };
    // the null detector reads only the files' lengths and windows: the
    // same for every setting
    let null = match scores.first() {
        Some(per_file) => score::null_score(&inputs_of(per_file), costs),
        None => return best,
    };
    for (g, per_file) in scores.iter().enumerate() {
        let inputs = inputs_of(per_file);
        let optimum = score::optimize(&inputs, costs);
        let normalized = score::normalize(optimum.score, null, costs.tp * windows as f64);
        if normalized > best.2 {
            best = (g, optimum.threshold, normalized);
        }
    }
    best
}

/// Runs the grid over the corpus (both cores), then the folds.
pub fn cross_validate(corpus: &Corpus, profile: &Profile) -> anyhow::Result<CrossValidation> {
    let grid = grid();
    let series: Vec<&Series> = corpus.files.iter().map(|(s, _)| s).collect();
    let scores = detect_grid(&grid, &series)?;
    folds(&grid, &scores, corpus, profile)
}

/// The folds over given scores, `[grid][file][row]`.
fn folds(
    grid: &[NabSettings],
    scores: &[Vec<Vec<f64>>],
    corpus: &Corpus,
    profile: &Profile,
) -> anyhow::Result<CrossValidation> {
    let series: Vec<&Series> = corpus.files.iter().map(|(s, _)| s).collect();
    let costs = profile.costs;
    let categories: BTreeSet<&str> = series.iter().map(|s| s.category.as_str()).collect();
    if categories.len() < 2 {
        anyhow::bail!("leave-one-category-out needs at least two categories");
    }
    let all: Vec<usize> = (0..series.len()).collect();
    let mut folds = Vec::new();
    let mut pooled_raw = 0.0;
    for category in &categories {
        let (held, train): (Vec<usize>, Vec<usize>) =
            all.iter().partition(|&&i| series[i].category == *category);
        let (g, threshold, train_score) = choose(scores, corpus, &train, costs);
        let inputs: Vec<FileInput<'_>> = held
            .iter()
            .map(|&i| FileInput {
                scores: &scores[g][i],
                windows: &corpus.files[i].1,
            })
            .collect();
        let mut fold = Fold {
            held_out: (*category).to_owned(),
            settings: grid[g],
            threshold,
            train_score,
            raw: 0.0,
            held_out_score: None,
            windows: 0,
            windows_found: 0,
            fp_rows: 0,
        };
        for input in &inputs {
            let s = score::score_file(*input, costs, threshold);
            fold.raw += s.score;
            fold.windows += s.windows;
            fold.windows_found += s.windows_found;
            fold.fp_rows += s.fp;
        }
        if fold.windows > 0 {
            let null = score::null_score(&inputs, costs);
            fold.held_out_score = Some(score::normalize(
                fold.raw,
                null,
                costs.tp * fold.windows as f64,
            ));
        }
        pooled_raw += fold.raw;
        folds.push(fold);
    }
    let every: Vec<FileInput<'_>> = all
        .iter()
        .map(|&i| FileInput {
            scores: &scores[0][i],
            windows: &corpus.files[i].1,
        })
        .collect();
    let windows: usize = corpus.files.iter().map(|(_, w)| w.len()).sum();
    let perfect = costs.tp * windows as f64;
    let null = score::null_score(&every, costs);
    let shipped = score::normalize(score::optimize(&every, costs).score, null, perfect);
    let (g, _, in_sample) = choose(scores, corpus, &all, costs);
    let held: Vec<f64> = folds.iter().filter_map(|f| f.held_out_score).collect();
    Ok(CrossValidation {
        profile: profile.name.clone(),
        grid_size: grid.len(),
        mean_held_out: held.iter().sum::<f64>() / held.len().max(1) as f64,
        pooled_held_out: score::normalize(pooled_raw, null, perfect),
        folds,
        in_sample_settings: grid[g],
        in_sample,
        shipped,
    })
}

/// Every setting's scores for every file: `[grid][file][row]`.
fn detect_grid(grid: &[NabSettings], series: &[&Series]) -> anyhow::Result<Vec<Vec<Vec<f64>>>> {
    let half = grid.len().div_ceil(2);
    let run = |part: &[NabSettings]| -> Vec<Vec<Vec<f64>>> {
        part.iter()
            .map(|s| series.iter().map(|f| detect_with(*s, f)).collect())
            .collect()
    };
    std::thread::scope(|scope| {
        let second = scope.spawn(|| run(&grid[half..]));
        let mut out = run(&grid[..half]);
        let rest = second
            .join()
            .map_err(|_| anyhow::anyhow!("the detector panicked on a NAB file (a bug)"))?;
        out.extend(rest);
        Ok(out)
    })
}

pub fn print(out: &mut impl Write, cv: &CrossValidation) -> io::Result<()> {
    writeln!(
        out,
        "\nleave one category out ({} profile; settings and threshold chosen on the other categories, from a grid of {}):",
        cv.profile, cv.grid_size
    )?;
    writeln!(
        out,
        "{:<24} {:>11} {:>9} {:>10} {:>14} {:>8}  settings chosen without it",
        "held out (not tuned on)",
        "train score",
        "threshold",
        "held-out",
        "windows found",
        "fp rows"
    )?;
    for f in &cv.folds {
        let held = match f.held_out_score {
            Some(s) => format!("{s:.2}"),
            None => format!("raw {:.2}", f.raw),
        };
        writeln!(
            out,
            "{:<24} {:>11.2} {:>9.4} {:>10} {:>14} {:>8}  {}",
            f.held_out,
            f.train_score,
            f.threshold,
            held,
            format!("{}/{}", f.windows_found, f.windows),
            f.fp_rows,
            f.settings
        )?;
    }
    writeln!(
        out,
        "mean held-out score (categories with windows): {:.2}",
        cv.mean_held_out
    )?;
    writeln!(
        out,
        "pooled held-out score (each file scored without its category's tuning): {:.2}",
        cv.pooled_held_out
    )?;
    writeln!(
        out,
        "in sample (tuned on all): {:.2} with {}; the shipped settings: {:.2}",
        cv.in_sample, cv.in_sample_settings, cv.shipped
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nab::score::Window;

    #[test]
    fn the_grid_starts_with_the_shipped_settings_and_has_no_duplicates() {
        let g = grid();
        assert_eq!(g[0], NabSettings::default());
        for (i, a) in g.iter().enumerate() {
            assert!(!g[i + 1..].contains(a), "{a} twice");
        }
        assert_eq!(g.len(), 81);
    }

    fn series(category: &str, rows: usize) -> Series {
        let t0 = chrono::NaiveDate::from_ymd_opt(2014, 4, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a time");
        Series {
            key: format!("{category}/f.csv"),
            category: category.into(),
            name: "f".into(),
            path: format!("{category}/f.csv").into(),
            timestamps: (0..rows)
                .map(|i| t0 + chrono::Duration::minutes(5 * i as i64))
                .collect(),
            timestamp_text: vec![String::new(); rows],
            values: vec![0.0; rows],
            value_text: vec![String::new(); rows],
            warnings: Vec::new(),
        }
    }

    /// A fold never sees its category's files: each of two settings finds
    /// the anomaly of one category only, so each category is scored with
    /// the setting the other chose, and scores badly.
    #[test]
    fn a_fold_is_chosen_without_its_category() {
        let rows = 400;
        let window = Window {
            start: 200,
            end: 240,
        };
        let corpus = Corpus {
            files: vec![
                (series("a", rows), vec![window]),
                (series("b", rows), vec![window]),
            ],
            profiles: Vec::new(),
            skipped: Vec::new(),
            warnings: Vec::new(),
        };
        let mut finds_a = vec![vec![0.0; rows], vec![0.0; rows]];
        finds_a[0][205] = 0.9;
        let mut finds_b = vec![vec![0.0; rows], vec![0.0; rows]];
        finds_b[1][205] = 0.9;
        let first = NabSettings::default();
        let second = NabSettings {
            window: 400,
            ..first
        };
        let profile = crate::nab::labels::nab_profiles().remove(0);
        let cv = folds(&[first, second], &[finds_a, finds_b], &corpus, &profile)
            .expect("two categories");
        let a = &cv.folds[0];
        let b = &cv.folds[1];
        assert_eq!((a.held_out.as_str(), a.settings), ("a", second));
        assert_eq!((b.held_out.as_str(), b.settings), ("b", first));
        for f in [a, b] {
            assert_eq!(f.windows_found, 0, "{f:?}");
            assert!(f.train_score > 90.0, "{f:?}");
            assert!(f.held_out_score.is_some_and(|s| s <= 0.0), "{f:?}");
        }
        assert!(
            cv.mean_held_out <= 0.0 && cv.pooled_held_out <= 0.0,
            "{cv:?}"
        );
        assert!(cv.in_sample < 60.0, "one setting finds one of two: {cv:?}");
    }

    #[test]
    fn one_category_is_not_enough() {
        let corpus = Corpus {
            files: vec![(series("a", 10), Vec::new())],
            profiles: Vec::new(),
            skipped: Vec::new(),
            warnings: Vec::new(),
        };
        let profile = crate::nab::labels::nab_profiles().remove(0);
        let e = folds(
            &[NabSettings::default()],
            &[vec![vec![0.0; 10]]],
            &corpus,
            &profile,
        )
        .expect_err("refused");
        assert!(e.to_string().contains("at least two categories"), "{e}");
    }
}
