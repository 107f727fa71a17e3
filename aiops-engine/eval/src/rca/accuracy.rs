//! RCAEval's figures: AC@k, the share of cases whose true root cause is
//! among the first k services, and Avg@k, the mean of AC@1..AC@k; and
//! what a uniformly random ranking over the same candidates would reach
//! (min(k, n) / n per case), to read them against.

use serde::Serialize;

#[derive(Debug, Default, Clone)]
pub struct Accuracy {
    /// Per ranked case: the truth's 1-based rank (`None`: not ranked at
    /// all) and how many services were ranked.
    ranked: Vec<(Option<usize>, usize)>,
    failed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub method: String,
    pub cases: usize,
    pub ranked: usize,
    pub failed: usize,
    #[serde(rename = "ac@1")]
    pub ac1: Option<f64>,
    #[serde(rename = "ac@3")]
    pub ac3: Option<f64>,
    #[serde(rename = "ac@5")]
    pub ac5: Option<f64>,
    #[serde(rename = "avg@5")]
    pub avg5: Option<f64>,
    #[serde(rename = "chance_avg@5")]
    pub chance_avg5: Option<f64>,
}

impl Accuracy {
    pub fn add(&mut self, rank: Option<usize>, candidates: usize) {
        self.ranked.push((rank, candidates));
    }

    pub fn fail(&mut self) {
        self.failed += 1;
    }

    pub fn ranked(&self) -> usize {
        self.ranked.len()
    }

    /// `None` when no case was ranked.
    pub fn ac(&self, k: usize) -> Option<f64> {
        if self.ranked.is_empty() {
            return None;
        }
        let hits = self
            .ranked
            .iter()
            .filter(|(rank, _)| rank.is_some_and(|r| r <= k))
            .count();
        Some(hits as f64 / self.ranked.len() as f64)
    }

    pub fn avg(&self, k: usize) -> Option<f64> {
        let sum: Option<f64> = (1..=k).map(|j| self.ac(j)).sum();
        sum.map(|s| s / k as f64)
    }

    fn chance_ac(&self, k: usize) -> Option<f64> {
        if self.ranked.is_empty() {
            return None;
        }
        let sum: f64 = self
            .ranked
            .iter()
            .map(|(_, n)| {
                if *n == 0 {
                    0.0
                } else {
                    k.min(*n) as f64 / *n as f64
                }
            })
            .sum();
        Some(sum / self.ranked.len() as f64)
    }

    pub fn chance_avg(&self, k: usize) -> Option<f64> {
        let sum: Option<f64> = (1..=k).map(|j| self.chance_ac(j)).sum();
        sum.map(|s| s / k as f64)
    }

    pub fn summary(&self, method: &str) -> Summary {
        let round = |x: Option<f64>| x.map(|x| (x * 10_000.0).round() / 10_000.0);
        Summary {
            method: method.to_owned(),
            cases: self.ranked.len() + self.failed,
            ranked: self.ranked.len(),
            failed: self.failed,
            ac1: round(self.ac(1)),
            ac3: round(self.ac(3)),
            ac5: round(self.ac(5)),
            avg5: round(self.avg(5)),
            chance_avg5: round(self.chance_avg(5)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_match_a_hand_count() {
        let mut a = Accuracy::default();
        a.add(Some(1), 5);
        a.add(Some(2), 5);
        a.add(Some(4), 5);
        a.add(None, 5);
        a.fail();
        assert_eq!(a.ac(1), Some(0.25));
        assert_eq!(a.ac(3), Some(0.5));
        assert_eq!(a.ac(5), Some(0.75));
        // (0.25 + 0.5 + 0.5 + 0.75 + 0.75) / 5
        assert_eq!(a.avg(5), Some(0.55));
        // five candidates: (1 + 2 + 3 + 4 + 5) / 5 / 5
        assert!((a.chance_avg(5).unwrap() - 0.6).abs() < 1e-12);
        let s = a.summary("baro");
        assert_eq!((s.cases, s.ranked, s.failed), (5, 4, 1));
    }

    #[test]
    fn nothing_ranked_has_no_figures() {
        let mut a = Accuracy::default();
        a.fail();
        assert_eq!(a.ac(1), None);
        assert_eq!(a.summary("nsigma").avg5, None);
    }
}
