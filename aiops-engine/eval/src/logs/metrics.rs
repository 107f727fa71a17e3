//! The four accuracy measures of log parsing, as the literature defines them.
//!
//! - GA, grouping accuracy (Zhu et al., ICSE-SEIP 2019, "Tools and
//!   Benchmarks for Automated Log Parsing"): the share of lines whose true
//!   group (lines with the same true template) is exactly one mined group.
//! - FGA (Jiang et al. 2024, Loghub-2.0): F1 of groups. A true group is
//!   right when a mined group holds exactly its lines; precision divides
//!   the right groups by the mined groups, recall by the true groups.
//! - PA, parsing accuracy (Dai et al., as Loghub-2.0 uses it): the share
//!   of lines whose mined template equals the true one.
//! - FTA (Khan et al. 2022): F1 of templates. A mined template (grouped by
//!   its text, as Loghub-2.0's `evaluate_template_level` does) is right
//!   when every line it holds has that same text as its true template.
//!
//! Groups of mined lines are keyed by the caller (the miner's template id
//! for GA and FGA), and so are true groups (the true template, or the
//! service and the true template when each service is mined apart);
//! templates are compared as the caller normalised them.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    pub ga: f64,
    pub fga: f64,
    pub pa: f64,
    pub fta: f64,
    pub true_templates: usize,
    pub true_groups: usize,
    pub mined_groups: usize,
    pub mined_templates: usize,
}

/// One evaluated line.
#[derive(Clone, Debug)]
pub struct Judged<'a, G> {
    /// The true template, normalised.
    pub truth: &'a str,
    /// What makes a true group: usually `truth` itself.
    pub true_group: &'a str,
    pub group: G,
    pub mined: &'a str,
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Scores the lines; an empty input scores 0 everywhere.
pub fn score<G: Eq + Hash + Copy>(lines: &[Judged<'_, G>]) -> Scores {
    let mut by_truth: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut group_size: HashMap<G, usize> = HashMap::new();
    for (i, l) in lines.iter().enumerate() {
        by_truth.entry(l.true_group).or_default().push(i);
        *group_size.entry(l.group).or_default() += 1;
    }
    let mut right_lines = 0;
    let mut right_groups = 0;
    for members in by_truth.values() {
        let g = lines[members[0]].group;
        let one_group = members.iter().all(|&i| lines[i].group == g);
        if one_group && group_size[&g] == members.len() {
            right_lines += members.len();
            right_groups += 1;
        }
    }
    let pga = ratio(right_groups, group_size.len());
    let rga = ratio(right_groups, by_truth.len());

    let parsed = lines.iter().filter(|l| l.mined == l.truth).count();

    let true_templates: HashSet<&str> = lines.iter().map(|l| l.truth).collect();
    let mut truths_of_template: HashMap<&str, HashSet<&str>> = HashMap::new();
    for l in lines {
        truths_of_template
            .entry(l.mined)
            .or_default()
            .insert(l.truth);
    }
    let right_templates = truths_of_template
        .iter()
        .filter(|(mined, truths)| truths.len() == 1 && truths.contains(*mined))
        .count();
    let pta = ratio(right_templates, truths_of_template.len());
    let rta = ratio(right_templates, true_templates.len());

    Scores {
        ga: ratio(right_lines, lines.len()),
        fga: f1(pga, rga),
        pa: ratio(parsed, lines.len()),
        fta: f1(pta, rta),
        true_templates: true_templates.len(),
        true_groups: by_truth.len(),
        mined_groups: group_size.len(),
        mined_templates: truths_of_template.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged<'a>(rows: &[(&'a str, u32, &'a str)]) -> Vec<Judged<'a, u32>> {
        rows.iter()
            .map(|&(truth, group, mined)| Judged {
                truth,
                true_group: truth,
                group,
                mined,
            })
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn perfect_parse_scores_one() {
        let lines = judged(&[("a <*>", 1, "a <*>"), ("a <*>", 1, "a <*>"), ("b", 2, "b")]);
        let s = score(&lines);
        assert_eq!((s.ga, s.fga, s.pa, s.fta), (1.0, 1.0, 1.0, 1.0));
        assert_eq!(
            (s.true_templates, s.mined_groups, s.mined_templates),
            (2, 2, 2)
        );
    }

    /// Hand-computed: truth A x3, B x2, C x1 (6 lines). The miner merges
    /// B and C into one group and splits nothing else; A's template text is
    /// right, B+C's is over-general.
    #[test]
    fn merged_groups() {
        let lines = judged(&[
            ("A <*>", 1, "A <*>"),
            ("A <*>", 1, "A <*>"),
            ("A <*>", 1, "A <*>"),
            ("B x", 2, "<*> x"),
            ("B x", 2, "<*> x"),
            ("C x", 2, "<*> x"),
        ]);
        let s = score(&lines);
        // only A's 3 lines are grouped right
        assert!(close(s.ga, 3.0 / 6.0));
        // 1 right group of 2 mined and 3 true: P 1/2, R 1/3, F1 0.4
        assert!(close(s.fga, 0.4), "{}", s.fga);
        // A's 3 lines parsed right
        assert!(close(s.pa, 0.5));
        // templates: "A <*>" right; "<*> x" holds two truths: P 1/2, R 1/3
        assert!(close(s.fta, 0.4), "{}", s.fta);
    }

    /// Hand-computed: truth A x4 split over two mined groups, one of them
    /// with the right text; truth B x2 grouped right with a wrong text.
    #[test]
    fn split_groups_and_wrong_text() {
        let lines = judged(&[
            ("A <*>", 1, "A <*>"),
            ("A <*>", 1, "A <*>"),
            ("A <*>", 3, "A 7"),
            ("A <*>", 3, "A 7"),
            ("B <*>", 2, "B y"),
            ("B <*>", 2, "B y"),
        ]);
        let s = score(&lines);
        // A is split: wrong; B is exactly group 2: right
        assert!(close(s.ga, 2.0 / 6.0));
        // 1 right group of 3 mined and 2 true: P 1/3, R 1/2, F1 0.4
        assert!(close(s.fga, 0.4), "{}", s.fga);
        assert!(close(s.pa, 2.0 / 6.0));
        // "A <*>" holds only truth "A <*>": right (purity, as Loghub-2.0);
        // "A 7" and "B y" are not true texts. P 1/3, R 1/2
        assert!(close(s.fta, 0.4), "{}", s.fta);
    }

    /// One statement logged by two services, each mined apart: with the
    /// service in the true group, the two mined groups are both right.
    #[test]
    fn groups_per_service() {
        let lines = vec![
            Judged {
                truth: "up <*>",
                true_group: "a\u{1f}up <*>",
                group: 1u32,
                mined: "up <*>",
            },
            Judged {
                truth: "up <*>",
                true_group: "a\u{1f}up <*>",
                group: 1,
                mined: "up <*>",
            },
            Judged {
                truth: "up <*>",
                true_group: "b\u{1f}up <*>",
                group: 2,
                mined: "up <*>",
            },
        ];
        let s = score(&lines);
        assert_eq!((s.ga, s.fga, s.pa, s.fta), (1.0, 1.0, 1.0, 1.0));
        assert_eq!((s.true_templates, s.true_groups, s.mined_groups), (1, 2, 2));
        // Grouped by the text alone, the split counts against GA.
        let text_only: Vec<Judged<'_, u32>> = lines
            .iter()
            .map(|l| Judged {
                true_group: l.truth,
                ..l.clone()
            })
            .collect();
        assert_eq!(score(&text_only).ga, 0.0);
    }

    #[test]
    fn empty_input() {
        let s = score::<u32>(&[]);
        assert_eq!((s.ga, s.fga, s.pa, s.fta), (0.0, 0.0, 0.0, 0.0));
    }
}
