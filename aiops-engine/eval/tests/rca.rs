//! `aiops eval rca` on folders the test writes: synthetic incidents in
//! both RCAEval layouts, and broken cases that must each fail alone.

// helpers outside #[test] functions unwrap too: a failed setup is a failed test
#![allow(clippy::unwrap_used)]

use std::path::Path;

use aiops_eval::cli::EvalCommand;
use aiops_rca::synthetic::{Fault, Scenario};
use clap::Parser;
use serde_json::Value;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: EvalCommand,
}

fn args(list: &[&str]) -> aiops_eval::rca::RcaArgs {
    let mut argv = vec!["aiops-eval", "rca"];
    argv.extend_from_slice(list);
    match Cli::try_parse_from(argv).unwrap().command {
        EvalCommand::Rca(args) => args,
        _ => panic!("parsed as another subcommand"),
    }
}

struct Run {
    lines: Vec<Value>,
    log: String,
    result: anyhow::Result<Vec<aiops_eval::rca::accuracy::Summary>>,
}

fn run(list: &[&str]) -> Run {
    let mut out = Vec::new();
    let mut log = Vec::new();
    let result = aiops_eval::rca::run_with(&args(list), &mut out, &mut log);
    let lines = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Run {
        lines,
        log: String::from_utf8(log).unwrap(),
        result,
    }
}

/// Ten good cases: 3 to 7 services, latency or error faults, a load step
/// in every other one; half as `<svc>_<fault>_<n>/`, half as RCAEval's
/// `<svc>_<fault>/<n>/`.
fn good_cases(root: &Path) -> Vec<(String, String)> {
    let mut written = Vec::new();
    for seed in 0..10u64 {
        let services = 3 + (seed as usize % 5);
        let fault = if seed % 2 == 0 {
            Fault::Latency
        } else {
            Fault::Errors
        };
        let s = Scenario {
            services,
            root: (seed as usize * 3 + 1) % services,
            fault,
            size: if fault == Fault::Latency { 1.5 } else { 0.1 },
            load_step: if seed % 4 < 2 { 0.8 } else { 0.0 },
            seed,
            ..Scenario::default()
        };
        let case = s.generate();
        let kind = if fault == Fault::Latency {
            "delay"
        } else {
            "errors"
        };
        let name = if seed < 5 {
            format!("{}_{kind}_{seed}", case.root)
        } else {
            format!("{}_{kind}/{seed}", case.root)
        };
        case.write_rcaeval(&root.join(&name)).unwrap();
        written.push((name, case.root));
    }
    written
}

/// Seven broken cases, each with the words its error must carry.
fn broken_cases(root: &Path) -> Vec<(&'static str, &'static str)> {
    let good = Scenario::default().generate();
    let dir = |name: &str| {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    good.write_rcaeval(&dir("cart_nodata")).unwrap();
    std::fs::remove_file(root.join("cart_nodata/data.csv")).unwrap();
    good.write_rcaeval(&dir("cart_noinject")).unwrap();
    std::fs::remove_file(root.join("cart_noinject/inject_time.txt")).unwrap();
    let d = dir("cart_notime");
    std::fs::write(d.join("data.csv"), "stamp,a_cpu\n1,2\n").unwrap();
    std::fs::write(d.join("inject_time.txt"), "1\n").unwrap();
    let d = dir("cart_text");
    std::fs::write(d.join("data.csv"), "time,a_cpu\n1,2\n2,n/a?\n").unwrap();
    std::fs::write(d.join("inject_time.txt"), "2\n").unwrap();
    good.write_rcaeval(&dir("cart_late")).unwrap();
    std::fs::write(root.join("cart_late/inject_time.txt"), "1900000000\n").unwrap();
    good.write_rcaeval(&dir("cart_early")).unwrap();
    std::fs::write(
        root.join("cart_early/inject_time.txt"),
        format!("{}\n", good.time_s[2]),
    )
    .unwrap();
    good.write_rcaeval(&dir("nounderscore")).unwrap();
    vec![
        ("cart_nodata", "data.csv: missing"),
        ("cart_noinject", "inject_time.txt: missing"),
        ("cart_notime", "no `time` column"),
        (
            "cart_text",
            "line 3, column `a_cpu`: \"n/a?\" is not a number",
        ),
        (
            "cart_late",
            "inject time 1900000000 s is outside its time range",
        ),
        ("cart_early", "only 2 rows before the inject time"),
        ("nounderscore", "no folder name with a `_`"),
    ]
}

#[test]
fn cases_are_ranked_scored_and_broken_ones_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_cases(dir.path());
    let broken = broken_cases(dir.path());
    let cases = dir.path().to_str().unwrap();
    let run = run(&["--cases", cases, "--method", "baro,nsigma", "--top", "3"]);
    let summaries = run.result.unwrap();

    let per_method = good.len() + broken.len();
    assert_eq!(run.lines.len(), 2 * per_method + 2);
    for (name, root) in &good {
        for method in ["baro", "nsigma"] {
            let line = run
                .lines
                .iter()
                .find(|l| l["case"] == name.as_str() && l["method"] == method)
                .unwrap_or_else(|| panic!("no line for {name} {method}"));
            assert_eq!(line["truth"], root.as_str());
            let ranking = line["ranking"].as_array().unwrap();
            assert!(ranking.len() <= 3 && !ranking.is_empty());
            assert!(ranking[0]["score"].as_f64().unwrap() > 0.0);
            assert!(ranking[0]["reason"].as_str().unwrap().contains("pre-onset"));
            if method == "baro" {
                assert_eq!(line["rank"], 1, "{name} {method}: {line}");
            } else {
                // n-sigma can put a caller first when an idle error
                // ratio's rare blips made its standard deviation tiny
                assert!(
                    line["rank"].as_u64().is_some_and(|r| r <= 2),
                    "{name} {method}: {line}"
                );
            }
        }
    }
    for (name, words) in &broken {
        let line = run
            .lines
            .iter()
            .find(|l| l["case"] == *name && l["method"] == "baro")
            .unwrap();
        let error = line["error"].as_str().unwrap();
        assert!(error.contains(words), "{name}: {error}");
        assert!(run.log.contains(error), "{name} missing from the log");
    }
    for (summary, method) in summaries.iter().zip(["baro", "nsigma"]) {
        assert_eq!(summary.method, method);
        assert_eq!((summary.cases, summary.ranked, summary.failed), (17, 10, 7));
        let floor = if method == "baro" { 1.0 } else { 0.8 };
        assert!(summary.ac1.unwrap() >= floor, "{summary:?}");
        assert!(summary.avg5.unwrap() >= floor, "{summary:?}");
        // 3 to 7 services: a random ranking is far below
        assert!(summary.chance_avg5.unwrap() < 0.8);
        let line = run
            .lines
            .iter()
            .find(|l| l["method"] == method && l.get("ac@1").is_some())
            .unwrap();
        assert_eq!(line["failed"], 7);
        assert_eq!(line["ac@3"], 1.0);
    }
    assert!(
        run.log
            .contains("baro: 17 cases (7 failed): AC@1 1.00, AC@3 1.00"),
        "{}",
        run.log
    );
}

#[test]
fn figures_follow_the_ranks_when_some_cases_miss() {
    let dir = tempfile::tempdir().unwrap();
    // a load step with a small fault: RCAEval's scoring (no shared shift)
    // ranks a loaded service first in some of these
    for seed in 0..8u64 {
        let s = Scenario {
            services: 6,
            root: 1 + seed as usize % 5,
            size: 1.0,
            load_step: 1.2,
            seed,
            ..Scenario::default()
        };
        let case = s.generate();
        case.write_rcaeval(&dir.path().join(format!("{}_delay_{seed}", case.root)))
            .unwrap();
    }
    let cases = dir.path().to_str().unwrap();
    let plain = run(&["--cases", cases, "--without", "shared-shift"]);
    let summary = &plain.result.unwrap()[0];
    let ranks: Vec<Option<u64>> = plain
        .lines
        .iter()
        .filter(|l| l.get("case").is_some())
        .map(|l| l["rank"].as_u64())
        .collect();
    assert_eq!(ranks.len(), 8);
    let within = |k: u64| ranks.iter().filter(|r| r.is_some_and(|r| r <= k)).count() as f64 / 8.0;
    assert_eq!(summary.ac1, Some(within(1)));
    assert_eq!(summary.ac3, Some(within(3)));
    let avg = (1..=5).map(within).sum::<f64>() / 5.0;
    assert!((summary.avg5.unwrap() - avg).abs() < 1e-4);
    assert!(
        within(1) < 1.0,
        "the load never outranked the fault: {ranks:?}"
    );

    let shared = run(&["--cases", cases]);
    let summary = &shared.result.unwrap()[0];
    assert!(summary.ac1.unwrap() > within(1), "{summary:?} vs {ranks:?}");
}

#[test]
fn a_run_where_every_case_fails_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("cart_delay_1")).unwrap();
    let run1 = run(&["--cases", dir.path().to_str().unwrap()]);
    let err = run1.result.unwrap_err().to_string();
    assert!(err.contains("every one of the 1 cases failed"), "{err}");
    assert!(
        run1.lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("inject_time.txt: missing")
    );

    let empty = tempfile::tempdir().unwrap();
    let err = run(&["--cases", empty.path().to_str().unwrap()])
        .result
        .unwrap_err();
    assert!(err.to_string().contains("no case folders"), "{err}");
    let err = run(&["--cases", "/nonexistent/cases"]).result.unwrap_err();
    assert!(err.to_string().contains("not a folder"), "{err}");
}

#[test]
fn a_single_case_folder_can_be_given_directly() {
    let dir = tempfile::tempdir().unwrap();
    let case = Scenario::default().generate();
    let path = dir.path().join(format!("{}_delay_1", case.root));
    case.write_rcaeval(&path).unwrap();
    let run = run(&["--cases", path.to_str().unwrap(), "--method", "nsigma"]);
    run.result.unwrap();
    assert_eq!(run.lines[0]["rank"], 1);
    assert_eq!(run.lines[0]["method"], "nsigma");

    let compared = self::run(&["--cases", path.to_str().unwrap(), "--rcaeval-scoring"]);
    let summary = &compared.result.unwrap()[0];
    assert_eq!(summary.method, "baro-rcaeval");
    assert_eq!(compared.lines[0]["method"], "baro-rcaeval");
    assert!(compared.lines[0]["rank"].as_u64().is_some());
}

#[test]
fn a_folder_of_other_files_beside_the_cases_is_passed_over() {
    // `aiops eval chaos --record <dir>` writes its labelled logs in
    // `<dir>/logs/` beside the cases: not a case, and not a failed one
    let dir = tempfile::tempdir().unwrap();
    let case = Scenario::default().generate();
    case.write_rcaeval(&dir.path().join(format!("{}_delay_1", case.root)))
        .unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("s.log"), "{}\n").unwrap();
    std::fs::write(logs.join("s.log_structured.csv"), "LineId\n").unwrap();
    let run = run(&["--cases", dir.path().to_str().unwrap()]);
    let summary = &run.result.unwrap()[0];
    assert_eq!(
        run.lines.len(),
        2,
        "one case and the summary: {:?}",
        run.lines
    );
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert!(run.log.contains("skipped logs"), "{}", run.log);
}

#[test]
fn ablation_weighs_every_departure_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    good_cases(dir.path());
    let cases = dir.path().to_str().unwrap();
    let run = run(&["--cases", cases, "--ablate"]);
    let summaries = run.result.unwrap();
    let labels: Vec<&str> = summaries.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(labels.len(), 14, "{labels:?}");
    for label in [
        "baro",
        "baro-rcaeval",
        "baro-without-absolute",
        "baro-without-fill-limit",
        "baro-rcaeval+shared-shift",
        "baro-rcaeval+keep-constant",
    ] {
        assert!(labels.contains(&label), "{label} not in {labels:?}");
    }
    // every variant ranked every case
    assert!(summaries.iter().all(|s| s.ranked == 10 && s.failed == 0));
    assert!(
        run.log.contains("| shared-shift | "),
        "no ablation table in: {}",
        run.log
    );
    // the cases are said to be data the ranking was tuned on (synthetic)
    assert!(
        run.log.contains("data tuned on (synthetic): baro:"),
        "{}",
        run.log
    );
    assert!(
        run.lines
            .iter()
            .any(|l| l["data"] == "tuned on (synthetic)")
    );
    // each case has one line per variant
    let per_case = run.lines.iter().filter(|l| l.get("case").is_some()).count();
    assert_eq!(per_case, 10 * 14);
}

#[test]
fn departures_are_switched_off_by_name_and_an_unknown_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    good_cases(dir.path());
    let cases = dir.path().to_str().unwrap();
    let run = run(&["--cases", cases, "--without", "absolute,peer-scale"]);
    assert_eq!(
        run.result.unwrap()[0].method,
        "baro-without-absolute+peer-scale"
    );
    let err = Cli::try_parse_from(["aiops-eval", "rca", "--cases", cases, "--without", "signed"])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("unknown departure \"signed\""), "{err}");
    assert!(err.contains("fill-limit"), "{err}");
}
