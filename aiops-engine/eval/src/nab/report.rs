//! The table `aiops eval nab` prints: per profile the normalised score and
//! its corpus threshold, then per category what the detector found at that
//! threshold.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::score::{self, FileInput, FileScore};
use super::{Evaluation, ProfileResult};

/// Per-category totals at one profile's corpus threshold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CategoryResult {
    pub files: usize,
    pub rows: usize,
    pub windows: usize,
    pub windows_found: usize,
    pub tp_rows: usize,
    pub fp_rows: usize,
    pub raw: f64,
    /// The category's score normalised by its own null and perfect scores
    /// (at the corpus threshold); `None` for a category without windows.
    pub normalized: Option<f64>,
}

pub fn categories(
    evaluation: &Evaluation,
    profile: &ProfileResult,
) -> BTreeMap<String, CategoryResult> {
    let costs = profile.profile.costs;
    let mut by_category: BTreeMap<String, (CategoryResult, Vec<FileInput<'_>>)> = BTreeMap::new();
    for file in &evaluation.files {
        let input = FileInput {
            scores: &file.scores,
            windows: &file.windows,
        };
        let s: FileScore = score::score_file(input, costs, profile.threshold);
        let (c, inputs) = by_category.entry(file.series.category.clone()).or_default();
        c.files += 1;
        c.rows += file.scores.len();
        c.windows += file.windows.len();
        c.windows_found += s.windows_found;
        c.tp_rows += s.tp;
        c.fp_rows += s.fp;
        c.raw += s.score;
        inputs.push(input);
    }
    by_category
        .into_iter()
        .map(|(name, (mut c, inputs))| {
            if c.windows > 0 {
                let null = score::null_score(&inputs, costs);
                let perfect = costs.tp * c.windows as f64;
                c.normalized = Some(score::normalize(c.raw, null, perfect));
            }
            (name, c)
        })
        .collect()
}

/// One line per file at each profile's threshold: NAB's `*_scores.csv`
/// columns.
pub fn print_files(out: &mut impl Write, evaluation: &Evaluation) -> io::Result<()> {
    for p in &evaluation.profiles {
        writeln!(out)?;
        writeln!(
            out,
            "{} per file at threshold {:.6}:",
            p.profile.name, p.threshold
        )?;
        writeln!(
            out,
            "{:<60} {:>9} {:>5} {:>6} {:>5} {:>6} {:>8}",
            "file", "score", "tp", "tn", "fp", "fn", "windows"
        )?;
        for file in &evaluation.files {
            let input = FileInput {
                scores: &file.scores,
                windows: &file.windows,
            };
            let s = score::score_file(input, p.profile.costs, p.threshold);
            writeln!(
                out,
                "{:<60} {:>9.4} {:>5} {:>6} {:>5} {:>6} {:>5}/{:<2}",
                file.series.key, s.score, s.tp, s.tn, s.fp, s.fn_, s.windows_found, s.windows
            )?;
        }
    }
    Ok(())
}

pub fn print(out: &mut impl Write, evaluation: &Evaluation) -> io::Result<()> {
    let rows: usize = evaluation.files.iter().map(|f| f.scores.len()).sum();
    let windows: usize = evaluation.files.iter().map(|f| f.windows.len()).sum();
    writeln!(
        out,
        "NAB: detector {}, {} files, {rows} rows, {windows} windows",
        evaluation.detector.as_str(),
        evaluation.files.len()
    )?;
    writeln!(
        out,
        "{:<20} {:>10} {:>12} {:>10} {:>8} {:>8}",
        "profile", "score", "threshold", "raw", "null", "perfect"
    )?;
    for p in &evaluation.profiles {
        // without a scorable window null and perfect coincide
        let normalized = if p.normalized.is_finite() {
            format!("{:.2}", p.normalized)
        } else {
            "n/a".to_string()
        };
        writeln!(
            out,
            "{:<20} {:>10} {:>12.6} {:>10.3} {:>8.2} {:>8.2}",
            p.profile.name, normalized, p.threshold, p.raw, p.null, p.perfect
        )?;
    }
    for p in &evaluation.profiles {
        writeln!(out)?;
        writeln!(out, "{} at threshold {:.6}:", p.profile.name, p.threshold)?;
        writeln!(
            out,
            "{:<24} {:>5} {:>7} {:>7} {:>6} {:>8} {:>8} {:>9} {:>7}  data",
            "category", "files", "rows", "windows", "found", "tp rows", "fp rows", "raw", "score"
        )?;
        for (name, c) in categories(evaluation, p) {
            let normalized = c
                .normalized
                .map_or_else(|| "-".to_string(), |n| format!("{n:.2}"));
            writeln!(
                out,
                "{:<24} {:>5} {:>7} {:>7} {:>6} {:>8} {:>8} {:>9.3} {:>7}  {}",
                name,
                c.files,
                c.rows,
                c.windows,
                c.windows_found,
                c.tp_rows,
                c.fp_rows,
                c.raw,
                normalized,
                crate::provenance::nab_category(&name)
            )?;
        }
    }
    Ok(())
}
