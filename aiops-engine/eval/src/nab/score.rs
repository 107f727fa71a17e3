//! NAB's scoring, as `nab/sweeper.py`, `nab/optimizer.py` and
//! `Runner.normalize` do it (numenta/NAB v1.x):
//!
//! - each row gets a weight: inside a labelled window a scaled sigmoid of
//!   its position (the window's first row is worth `tp`, its last nearly
//!   nothing); outside, a false positive costs `fp` times a scaled sigmoid
//!   of the distance past the closest preceding window (nearly nothing just
//!   after a window, the full `fp` far from it or before any window);
//! - the first 15% of each file (at most 750 rows) is probation, not scored,
//!   and a window with no row after probation does not count;
//! - a window scores its best (earliest) detection, or `-fn` if none;
//! - one threshold per profile for the whole corpus: every distinct anomaly
//!   score is tried, highest first, and the best total wins (the highest
//!   threshold among equal totals);
//! - the total is normalised between the null detector (a constant 0.5,
//!   optimised the same way) and a perfect one (`tp` per window).

/// NAB's fraction of each file that is probation.
pub const PROBATION_PERCENT: f64 = 0.15;

/// The weights of one scoring profile (NAB's `CostMatrix`; `tnWeight` is
/// read by NAB but never used in a score).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    pub tp: f64,
    pub fp: f64,
    pub fn_: f64,
}

/// A labelled anomaly window, as row indices, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: usize,
    pub end: usize,
}

impl Window {
    fn width(&self) -> usize {
        self.end - self.start + 1
    }
}

/// One file's detector output and labels. Windows are sorted, disjoint and
/// inside the file (the loader checks).
#[derive(Debug, Clone, Copy)]
pub struct FileInput<'a> {
    pub scores: &'a [f64],
    pub windows: &'a [Window],
}

/// Rows scored per file before probation ends: NAB's
/// `min(floor(0.15 * rows), 0.15 * 5000)`, kept a float as NAB compares it.
pub fn probation_length(rows: usize) -> f64 {
    (PROBATION_PERCENT * rows as f64)
        .floor()
        .min(PROBATION_PERCENT * 5000.0)
}

/// NAB's scaled sigmoid: about 0.987 at -1 (a window's left edge), 0 at 0
/// (its right edge), about -0.987 at 1, and -1 beyond 3.
pub fn scaled_sigmoid(relative_position: f64) -> f64 {
    if relative_position > 3.0 {
        return -1.0;
    }
    2.0 * sigmoid(-5.0 * relative_position) - 1.0
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Where a row stands for scoring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowKind {
    Probation,
    /// Inside the file's window with this index.
    InWindow(usize),
    Outside,
}

/// One row's weight if it were a detection (NAB's `sweepScore`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowWeight {
    pub kind: RowKind,
    pub weight: f64,
}

/// The weight of every row of a file of `rows` rows (NAB's
/// `calcSweepScore`).
pub fn row_weights(rows: usize, windows: &[Window], costs: Costs) -> Vec<RowWeight> {
    let max_tp = scaled_sigmoid(-1.0);
    let probation = probation_length(rows);
    let mut out = Vec::with_capacity(rows);
    let mut next_window = 0usize;
    let mut current: Option<usize> = None;
    let mut previous: Option<Window> = None;
    for i in 0..rows {
        if current.is_none() && windows.get(next_window).is_some_and(|w| w.start == i) {
            current = Some(next_window);
            next_window += 1;
        }
        let weight = match current {
            Some(w) => {
                let window = windows[w];
                let position = -((window.end - i + 1) as f64) / window.width() as f64;
                scaled_sigmoid(position) * costs.tp / max_tp
            }
            None => {
                let unweighted = match previous {
                    None => -1.0,
                    Some(prev) => {
                        let distance = i.abs_diff(prev.end) as f64;
                        // NAB divides by zero after a one-row window; count
                        // such a false positive as far from any window.
                        let span = (prev.width() - 1) as f64;
                        if span == 0.0 {
                            -1.0
                        } else {
                            scaled_sigmoid(distance / span)
                        }
                    }
                };
                unweighted * costs.fp
            }
        };
        let kind = if (i as f64) < probation {
            RowKind::Probation
        } else {
            match current {
                Some(w) => RowKind::InWindow(w),
                None => RowKind::Outside,
            }
        };
        out.push(RowWeight { kind, weight });
        if let Some(w) = current
            && windows[w].end == i
        {
            previous = Some(windows[w]);
            current = None;
        }
    }
    out
}

/// The corpus score at one threshold, with NAB's row counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdScore {
    pub threshold: f64,
    pub score: f64,
    pub tp: usize,
    pub tn: usize,
    pub fp: usize,
    pub fn_: usize,
}

/// A scorable row of the corpus.
#[derive(Debug, Clone, Copy)]
struct Scorable {
    anomaly: f64,
    weight: f64,
    /// Corpus-wide window index, `None` outside windows.
    window: Option<usize>,
}

/// Every threshold's corpus score, highest threshold first (NAB's
/// `calcScoreByThreshold`): the first entry (1.1) detects nothing, each
/// next one counts the rows whose anomaly score is at least its threshold.
pub fn scores_by_threshold(files: &[FileInput<'_>], costs: Costs) -> Vec<ThresholdScore> {
    let mut rows = Vec::new();
    let mut window_base = 0usize;
    let mut window_best: Vec<Option<f64>> = Vec::new();
    for file in files {
        let weights = row_weights(file.scores.len(), file.windows, costs);
        for (row, &anomaly) in weights.iter().zip(file.scores) {
            let window = match row.kind {
                RowKind::Probation => continue,
                RowKind::InWindow(w) => Some(window_base + w),
                RowKind::Outside => None,
            };
            rows.push(Scorable {
                anomaly,
                weight: row.weight,
                window,
            });
        }
        window_best.resize(window_base + file.windows.len(), None);
        window_base += file.windows.len();
    }
    // Only windows with a scorable row count (NAB builds its per-window
    // parts from the scorable rows).
    let mut window_part: Vec<Option<f64>> = window_best;
    for row in &rows {
        if let Some(w) = row.window {
            window_part[w] = Some(-costs.fn_);
        }
    }
    let mut windows_total: f64 = window_part.iter().flatten().sum();
    let mut fp_total = 0.0;
    // Stable, so equal scores keep file order (NAB's `sorted`); the order
    // inside a tie does not change any total.
    rows.sort_by(|a, b| b.anomaly.total_cmp(&a.anomaly));

    let mut fn_ = rows.iter().filter(|r| r.window.is_some()).count();
    let mut tn = rows.len() - fn_;
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut out = Vec::new();
    let mut threshold = 1.1;
    for row in &rows {
        if row.anomaly != threshold {
            out.push(ThresholdScore {
                threshold,
                score: fp_total + windows_total,
                tp,
                tn,
                fp,
                fn_,
            });
            threshold = row.anomaly;
        }
        match row.window {
            Some(w) => {
                tp += 1;
                fn_ -= 1;
                if let Some(part) = window_part[w].as_mut()
                    && row.weight > *part
                {
                    windows_total += row.weight - *part;
                    *part = row.weight;
                }
            }
            None => {
                fp += 1;
                tn -= 1;
                fp_total += row.weight;
            }
        }
    }
    out.push(ThresholdScore {
        threshold,
        score: fp_total + windows_total,
        tp,
        tn,
        fp,
        fn_,
    });
    out
}

/// The best threshold for the corpus (NAB's `optimizeThreshold`): the
/// highest score, and among equal scores the highest threshold.
pub fn optimize(files: &[FileInput<'_>], costs: Costs) -> ThresholdScore {
    let all = scores_by_threshold(files, costs);
    let mut best = all[0];
    for candidate in &all[1..] {
        if candidate.score > best.score {
            best = *candidate;
        }
    }
    best
}

/// One file scored at a fixed threshold (NAB's `scoreDataSet`), plus how
/// many of its windows were found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileScore {
    pub score: f64,
    pub tp: usize,
    pub tn: usize,
    pub fp: usize,
    pub fn_: usize,
    /// Windows with a scorable row.
    pub windows: usize,
    /// Of those, windows with a detection.
    pub windows_found: usize,
}

/// Scores one file with detections at rows whose score is at least
/// `threshold`.
pub fn score_file(file: FileInput<'_>, costs: Costs, threshold: f64) -> FileScore {
    let weights = row_weights(file.scores.len(), file.windows, costs);
    let mut best: Vec<Option<f64>> = vec![None; file.windows.len()];
    let mut out = FileScore {
        score: 0.0,
        tp: 0,
        tn: 0,
        fp: 0,
        fn_: 0,
        windows: 0,
        windows_found: 0,
    };
    let mut fp_total = 0.0;
    for (row, &anomaly) in weights.iter().zip(file.scores) {
        let detected = anomaly >= threshold;
        match row.kind {
            RowKind::Probation => {}
            RowKind::InWindow(w) => {
                let part = best[w].get_or_insert(-costs.fn_);
                if detected {
                    out.tp += 1;
                    *part = part.max(row.weight);
                } else {
                    out.fn_ += 1;
                }
            }
            RowKind::Outside => {
                if detected {
                    out.fp += 1;
                    fp_total += row.weight;
                } else {
                    out.tn += 1;
                }
            }
        }
    }
    let mut windows_total = 0.0;
    for part in best.iter().flatten() {
        out.windows += 1;
        if *part > -costs.fn_ {
            out.windows_found += 1;
        }
        windows_total += part;
    }
    out.score = fp_total + windows_total;
    out
}

/// NAB's normalised score: 0 for the null detector, 100 for a perfect one;
/// NaN when the two coincide (no scorable window).
pub fn normalize(raw: f64, null: f64, perfect: f64) -> f64 {
    100.0 * (raw - null) / (perfect - null)
}

/// The null detector's raw score: a constant 0.5 everywhere, optimised like
/// any detector (NAB runs `null` and reads its total).
pub fn null_score(files: &[FileInput<'_>], costs: Costs) -> f64 {
    let constant: Vec<Vec<f64>> = files.iter().map(|f| vec![0.5; f.scores.len()]).collect();
    let inputs: Vec<FileInput<'_>> = files
        .iter()
        .zip(&constant)
        .map(|(f, scores)| FileInput {
            scores,
            windows: f.windows,
        })
        .collect();
    optimize(&inputs, costs).score
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDARD: Costs = Costs {
        tp: 1.0,
        fp: 0.11,
        fn_: 1.0,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn scaled_sigmoid_matches_nab_docstring() {
        assert!((scaled_sigmoid(-1.0) - 0.98661).abs() < 1e-5);
        assert!((scaled_sigmoid(-0.5) - 0.84828).abs() < 1e-5);
        assert!(close(scaled_sigmoid(0.0), 0.0));
        assert!((scaled_sigmoid(1.0) + 0.98661).abs() < 1e-5);
        assert!(close(scaled_sigmoid(3.5), -1.0));
        // below -3 NAB's sweeper does not clamp
        assert!(scaled_sigmoid(-4.0) < 1.0 && scaled_sigmoid(-4.0) > 0.9999);
    }

    #[test]
    fn probation_is_fifteen_percent_capped_at_750() {
        assert_eq!(probation_length(100), 15.0);
        assert_eq!(probation_length(4032), 604.0);
        assert_eq!(probation_length(10_000), 750.0);
        assert_eq!(probation_length(3), 0.0);
    }

    #[test]
    fn row_weights_by_hand() {
        // 20 rows: probation 3 rows; window rows 10..=14 (width 5).
        let windows = [Window { start: 10, end: 14 }];
        let w = row_weights(20, &windows, STANDARD);
        assert_eq!(w[2].kind, RowKind::Probation);
        assert_eq!(w[3].kind, RowKind::Outside);
        // before any window: the full false-positive cost
        assert!(close(w[5].weight, -0.11));
        // the window's first row is worth tp exactly
        assert_eq!(w[10].kind, RowKind::InWindow(0));
        assert!(close(w[10].weight, 1.0));
        // its third row: position -(14-12+1)/5 = -0.6
        let expected = scaled_sigmoid(-0.6) / scaled_sigmoid(-1.0);
        assert!(close(w[12].weight, expected));
        // last row: position -1/5
        assert!(close(
            w[14].weight,
            scaled_sigmoid(-0.2) / scaled_sigmoid(-1.0)
        ));
        // after the window: distance 2 over width-1 = 4, so position 0.5
        assert_eq!(w[16].kind, RowKind::Outside);
        assert!(close(w[16].weight, 0.11 * scaled_sigmoid(0.5)));
        // just after the window a false positive costs almost nothing
        assert!(w[15].weight < 0.0 && w[15].weight > -0.11 * 0.6);
    }

    #[test]
    fn corpus_score_by_hand() {
        // One file, 20 rows, one window 10..=14; detections at row 12
        // (score 0.9) and an early false positive at row 5 (score 0.8).
        let windows = [Window { start: 10, end: 14 }];
        let mut scores = vec![0.0; 20];
        scores[12] = 0.9;
        scores[5] = 0.8;
        let files = [FileInput {
            scores: &scores,
            windows: &windows,
        }];
        let all = scores_by_threshold(&files, STANDARD);
        // thresholds: 1.1 (nothing), 0.9, 0.8, 0.0
        assert_eq!(all.len(), 4);
        assert!(close(all[0].score, -1.0));
        let tp12 = scaled_sigmoid(-0.6) / scaled_sigmoid(-1.0);
        assert!(close(all[1].score, tp12));
        assert_eq!((all[1].tp, all[1].fp), (1, 0));
        assert!(close(all[2].score, tp12 - 0.11));
        let best = optimize(&files, STANDARD);
        assert_eq!(best.threshold, 0.9);
        assert!(close(best.score, tp12));
        let at = score_file(files[0], STANDARD, 0.9);
        assert!(close(at.score, tp12));
        assert_eq!((at.windows, at.windows_found), (1, 1));
        // 17 scorable rows, 5 in the window
        assert_eq!(at.tp + at.fn_, 5);
        assert_eq!(at.tn + at.fp, 12);
    }

    #[test]
    fn earliest_detection_in_a_window_counts_once() {
        let windows = [Window { start: 10, end: 14 }];
        let mut scores = vec![0.0; 20];
        for s in &mut scores[10..=14] {
            *s = 1.0;
        }
        let files = [FileInput {
            scores: &scores,
            windows: &windows,
        }];
        let best = optimize(&files, STANDARD);
        assert!(close(best.score, 1.0));
        assert_eq!(best.tp, 5);
    }

    #[test]
    fn windows_only_in_probation_do_not_count() {
        // 100 rows: probation 15; window 2..=5 lies inside it.
        let windows = [Window { start: 2, end: 5 }];
        let scores = vec![0.0; 100];
        let files = [FileInput {
            scores: &scores,
            windows: &windows,
        }];
        assert!(close(optimize(&files, STANDARD).score, 0.0));
        let at = score_file(files[0], STANDARD, 0.5);
        assert_eq!(at.windows, 0);
    }

    #[test]
    fn null_detector_and_normalisation() {
        let windows = [Window { start: 50, end: 59 }];
        let scores = vec![0.0; 100];
        let files = [FileInput {
            scores: &scores,
            windows: &windows,
        }];
        // detecting everything costs 75 false positives: nothing is better
        assert!(close(null_score(&files, STANDARD), -1.0));
        assert!(close(normalize(-1.0, -1.0, 1.0), 0.0));
        assert!(close(normalize(1.0, -1.0, 1.0), 100.0));
        assert!(close(normalize(0.0, -1.0, 1.0), 50.0));
    }

    #[test]
    fn ties_pick_the_highest_threshold() {
        // No windows: detecting nothing and detecting at a score no row has
        // both score 0; the first (1.1) wins.
        let scores = vec![0.0; 50];
        let files = [FileInput {
            scores: &scores,
            windows: &[],
        }];
        let best = optimize(&files, STANDARD);
        assert_eq!(best.threshold, 1.1);
        assert!(close(best.score, 0.0));
    }
}
