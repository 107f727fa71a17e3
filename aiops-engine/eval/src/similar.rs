//! `aiops eval similar`: similar past incidents judged on recorded chaos
//! incidents (the `incident-<service>_<fault>.at-clear.json` files of two
//! or more `aiops eval chaos` runs). Each incident asks for its nearest
//! incidents among the *other* runs' with the engine's fingerprints and
//! threshold: the same fault should be found (first, and above the
//! threshold), a different fault never shown. Families are formed as the
//! engine forms them, one incident at a time, run after run.

use std::path::PathBuf;

use aiops_analysis::similar::{INDEX_CAPACITY, SIMILAR_FROM};
use aiops_analysis::{Fingerprint, Incident, IncidentState, PastIncident, SimilarIndex};
use anyhow::bail;
use serde_json::{Value, json};

use crate::summaries::{Case, find, load};

#[derive(clap::Args)]
pub struct SimilarArgs {
    /// One folder per run (searched recursively for
    /// `incident-*.at-clear.json`); at least two, so that a fault has
    /// another run's incident to find.
    #[arg(required = true, num_args = 2..)]
    pub runs: Vec<PathBuf>,
}

struct Recorded {
    run: usize,
    case: Case,
    fingerprint: Fingerprint,
}

fn rounded(x: f64) -> Value {
    json!((x * 1000.0).round() / 1000.0)
}

fn median(values: &mut [f64]) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    values.sort_by(f64::total_cmp);
    rounded(values[values.len() / 2])
}

fn share(n: usize, of: usize) -> Value {
    if of == 0 {
        Value::Null
    } else {
        rounded(n as f64 / of as f64)
    }
}

/// The incident as the index keeps past ones: resolved when the fault was
/// cleared, opened in run order (so later runs find earlier ones).
fn as_past(recorded: &Recorded, order: i64) -> Option<PastIncident> {
    let mut incident: Incident = recorded.case.incident.clone();
    incident.id = format!("run{}/{}", recorded.run, recorded.case.name);
    incident.state = IncidentState::Resolved;
    incident.opened_at_ms = order;
    incident.resolved_at_ms = Some(order);
    PastIncident::of(&incident, vec![])
}

pub fn run(args: &SimilarArgs) -> anyhow::Result<()> {
    let (lines, summary) = judge(&args.runs)?;
    for line in lines {
        println!("{line}");
    }
    println!("{summary}");
    Ok(())
}

/// A line per recorded incident, then the summary.
pub fn judge(runs: &[PathBuf]) -> anyhow::Result<(Vec<Value>, Value)> {
    let mut recorded = Vec::new();
    let mut lines = Vec::new();
    for (run, dir) in runs.iter().enumerate() {
        let mut files = Vec::new();
        find(dir, &mut files)?;
        files.sort();
        for f in files {
            match load(&f) {
                Ok(case) => recorded.push(Recorded {
                    run,
                    fingerprint: Fingerprint::of(&case.incident),
                    case,
                }),
                Err(e) => eprintln!("skipping {}: {e:#}", f.display()),
            }
        }
    }
    if recorded.is_empty() {
        bail!("no incident-*.at-clear.json under {runs:?}");
    }
    let (mut same, mut different) = (Vec::new(), Vec::new());
    let (mut with_twin, mut first_is_twin, mut twin_shown, mut wrong_shown) = (0, 0, 0, 0);
    for q in &recorded {
        // every incident of the other runs, most similar first
        let mut others: Vec<(f64, &Recorded)> = recorded
            .iter()
            .filter(|o| o.run != q.run)
            .map(|o| (q.fingerprint.similarity(&o.fingerprint), o))
            .collect();
        others.sort_by(|a, b| b.0.total_cmp(&a.0));
        let is_twin = |o: &Recorded| o.case.name == q.case.name;
        let has_twin = others.iter().any(|(_, o)| is_twin(o));
        for (s, o) in &others {
            // each unordered pair once
            if o.run > q.run {
                if is_twin(o) {
                    same.push(*s);
                } else {
                    different.push(*s);
                }
            }
        }
        let shown: Vec<&(f64, &Recorded)> = others
            .iter()
            .filter(|(s, _)| *s >= SIMILAR_FROM)
            .take(3)
            .collect();
        let first_twin = shown.first().is_some_and(|(_, o)| is_twin(o));
        let twin_in_shown = shown.iter().any(|(_, o)| is_twin(o));
        let wrong: Vec<String> = shown
            .iter()
            .filter(|(_, o)| !is_twin(o))
            .map(|(s, o)| format!("run{}/{} ({:.2})", o.run, o.case.name, s))
            .collect();
        if has_twin {
            with_twin += 1;
            first_is_twin += usize::from(first_twin);
            twin_shown += usize::from(twin_in_shown);
        }
        wrong_shown += usize::from(!wrong.is_empty());
        let best_twin = others.iter().find(|(_, o)| is_twin(o)).map(|(s, _)| *s);
        let best_other = others.iter().find(|(_, o)| !is_twin(o));
        lines.push(json!({
            "run": q.run, "case": q.case.name,
            "twin_similarity": best_twin.map(rounded),
            "nearest_other_fault": best_other.map(|(s, o)| json!({"case": o.case.name, "similarity": rounded(*s)})),
            "first_shown_is_twin": first_twin,
            "wrong_shown": wrong,
        }));
    }
    // families as the engine forms them: runs in order, each incident
    // joining the family of its most similar earlier one
    let mut index = SimilarIndex::new(recorded.len());
    let mut ordered: Vec<&Recorded> = recorded.iter().collect();
    ordered.sort_by_key(|r| (r.run, r.case.name.clone()));
    for (order, r) in ordered.iter().enumerate() {
        if let Some(past) = as_past(r, i64::try_from(order).unwrap_or(i64::MAX)) {
            index.insert(past);
        }
    }
    let families = families(&index, &ordered);
    let scan_us = scan_cost(&ordered);
    let labels: std::collections::BTreeSet<&str> =
        recorded.iter().map(|r| r.case.name.as_str()).collect();
    let min_same = same.iter().copied().fold(f64::INFINITY, f64::min);
    let max_different = different.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let same_above = same.iter().filter(|s| **s >= SIMILAR_FROM).count();
    let different_above = different.iter().filter(|s| **s >= SIMILAR_FROM).count();
    let summary = json!({
            "incidents": recorded.len(),
            "runs": runs.len(),
            "faults": labels.len(),
            "threshold": SIMILAR_FROM,
            "found_first": share(first_is_twin, with_twin),
            "found_in_shown": share(twin_shown, with_twin),
            "incidents_with_a_wrong_one_shown": wrong_shown,
            "same_fault_pairs": {"n": same.len(), "above_threshold": share(same_above, same.len()),
                                  "min": if same.is_empty() { Value::Null } else { rounded(min_same) },
                                  "median": median(&mut same)},
            "different_fault_pairs": {"n": different.len(), "above_threshold": different_above,
                                       "max": if different.is_empty() { Value::Null } else { rounded(max_different) },
                                       "median": median(&mut different)},
            "families": families,
            "microseconds_per_search_of_a_full_index": scan_us,
    });
    Ok((lines, summary))
}

/// What one search costs when the index is full: the recorded incidents
/// copied under new ids up to the engine's capacity, each searched for in
/// turn (the median of five rounds).
fn scan_cost(ordered: &[&Recorded]) -> Value {
    let mut index = SimilarIndex::new(INDEX_CAPACITY);
    let mut order = 0i64;
    'fill: loop {
        for r in ordered {
            if index.len() >= INDEX_CAPACITY {
                break 'fill;
            }
            order += 1;
            if let Some(mut past) = as_past(r, order) {
                past.id = format!("copy-{order}");
                index.insert(past);
            }
        }
        if ordered.is_empty() {
            return Value::Null;
        }
    }
    let queries: Vec<Incident> = ordered
        .iter()
        .map(|r| {
            let mut i = r.case.incident.clone();
            i.opened_at_ms = order + 1;
            i
        })
        .collect();
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let mut found = 0;
        for q in &queries {
            found += index.nearest(q, 3).len();
        }
        std::hint::black_box(found);
        rounds.push(started.elapsed().as_secs_f64() * 1e6 / queries.len() as f64);
    }
    median(&mut rounds)
}

/// Family purity: how many families, and how many hold one fault only and
/// all of that fault's incidents.
fn families(index: &SimilarIndex, ordered: &[&Recorded]) -> Value {
    use std::collections::BTreeMap;
    let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in ordered {
        let id = format!("run{}/{}", r.run, r.case.name);
        let group = index
            .entry(&id)
            .map_or_else(|| id.clone(), |p| p.group.clone());
        by_group.entry(group).or_default().push(r.case.name.clone());
    }
    let mut per_fault: BTreeMap<&str, usize> = BTreeMap::new();
    for r in ordered {
        *per_fault.entry(r.case.name.as_str()).or_default() += 1;
    }
    let exact = by_group
        .values()
        .filter(|names| {
            names.iter().all(|n| n == &names[0])
                && per_fault.get(names[0].as_str()) == Some(&names.len())
        })
        .count();
    let mixed: Vec<&Vec<String>> = by_group
        .values()
        .filter(|names| names.iter().any(|n| n != &names[0]))
        .collect();
    json!({"n": by_group.len(), "one_fault_all_its_runs": exact, "mixed": mixed})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An incident as `aiops eval chaos` saves it, reduced to what a
    /// fingerprint reads.
    fn incident(cause: &str, keys: &[&str]) -> Value {
        let signals: Vec<Value> = keys
            .iter()
            .map(|k| {
                let service = k.split(['/', '-']).next().unwrap_or_default();
                json!({"signal": {"key": k, "kind": "metric_anomaly", "service": service,
                    "metric": "m", "score": 0.9, "direction": "up", "weight": "strong",
                    "onset_ms": 0, "detected_ms": 0, "why": ""},
                    "joined_at_ms": 0, "reason": "", "starts": 1})
            })
            .collect();
        json!({"status": "success", "data": {
            "id": "inc-1", "state": "open", "title": "t", "opened_at_ms": 0, "updated_at_ms": 0,
            "last_active_ms": 0, "services": [cause], "revision": 1, "timeline": [],
            "root_cause": [{"service": cause, "score": 0.7, "reasons": [], "evidence": []}],
            "signals": signals, "evidence": []}})
    }

    #[test]
    fn repeated_runs_find_each_other_and_other_faults_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let faults = [
            (
                "payments_errors",
                incident(
                    "payments",
                    &[
                        "payments/error_ratio",
                        "checkout->payments/peer_error_ratio",
                    ],
                ),
            ),
            (
                "cart_latency",
                incident(
                    "cart",
                    &["cart/latency_p99", "frontend->cart/peer_latency_p99"],
                ),
            ),
            (
                "recommendation_errors",
                incident(
                    "recommendation",
                    &[
                        "recommendation/error_ratio",
                        "frontend->recommendation/peer_error_ratio",
                    ],
                ),
            ),
        ];
        let mut runs = Vec::new();
        for run in ["a", "b"] {
            let run_dir = dir.path().join(run).join("scenario");
            std::fs::create_dir_all(&run_dir).unwrap();
            for (label, doc) in &faults {
                std::fs::write(
                    run_dir.join(format!("incident-{label}.at-clear.json")),
                    doc.to_string(),
                )
                .unwrap();
            }
            runs.push(dir.path().join(run));
        }
        std::fs::write(
            dir.path().join("a/scenario/incident-x_y.at-clear.json"),
            "not json",
        )
        .unwrap();
        let (lines, summary) = judge(&runs).unwrap();
        assert_eq!(lines.len(), 6, "the broken file is passed over");
        assert_eq!(summary["found_first"], 1.0, "{summary}");
        assert_eq!(summary["incidents_with_a_wrong_one_shown"], 0, "{summary}");
        assert_eq!(summary["different_fault_pairs"]["n"], 6);
        assert_eq!(summary["different_fault_pairs"]["above_threshold"], 0);
        assert_eq!(summary["families"]["n"], 3, "{summary}");
        assert_eq!(summary["families"]["one_fault_all_its_runs"], 3);
        assert!(judge(&[dir.path().join("nothing")]).is_err());
    }
}
