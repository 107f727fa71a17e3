//! `aiops eval nab` on small fixtures written by the test: the results
//! files, the score against a hand-computed value, and the refusals of bad
//! input.

use std::fs;
use std::path::Path;

use aiops_eval::nab::{self, DetectorName, NabArgs};

/// Five-minute timestamps from 2014-04-01 00:00.
fn timestamp(i: usize) -> String {
    let minutes = i * 5;
    format!(
        "2014-04-{:02} {:02}:{:02}:00",
        1 + minutes / 1440,
        (minutes / 60) % 24,
        minutes % 60
    )
}

fn write_series(dir: &Path, key: &str, values: &[f64]) {
    let path = dir.join("data").join(key);
    fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    let mut text = String::from("timestamp,value\n");
    for (i, v) in values.iter().enumerate() {
        text.push_str(&format!("{},{v}\n", timestamp(i)));
    }
    fs::write(path, text).expect("write series");
}

/// Two files: `spike/a.csv` (20 rows of 1.0 with 10.0 at row 12, window
/// rows 10..=14) and `flat/b.csv` (20 rows of 1.0, no window).
fn fixture(dir: &Path) {
    let mut a = vec![1.0; 20];
    a[12] = 10.0;
    write_series(dir, "spike/a.csv", &a);
    write_series(dir, "flat/b.csv", &[1.0; 20]);
    let windows = format!(
        r#"{{"spike/a.csv": [["{}.000000", "{}.000000"]], "flat/b.csv": []}}"#,
        timestamp(10),
        timestamp(14)
    );
    fs::write(dir.join("combined_windows.json"), windows).expect("write windows");
}

fn args(dir: &Path, out: &Path, detector: DetectorName) -> NabArgs {
    NabArgs {
        data: dir.to_path_buf(),
        out: out.to_path_buf(),
        detector,
        windows: None,
        per_file: false,
        cross_validate: false,
    }
}

fn scaled_sigmoid(x: f64) -> f64 {
    2.0 / (1.0 + (5.0 * x).exp()) - 1.0
}

#[test]
fn windowed_gaussian_scores_the_fixture_as_computed_by_hand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    fixture(dir.path());
    let evaluation = nab::evaluate(
        dir.path(),
        &dir.path().join("combined_windows.json"),
        DetectorName::WindowedGaussian,
    )
    .expect("evaluates");

    // By hand. Windowed Gaussian: row 0 scores 0; rows 1..=11 sit on the
    // mean of a constant window, tail probability 1/2, score 0.5; row 12
    // is 9 / 1e-6 deviations away, score 1.0; the rows after it are below
    // a mean pulled up by the spike and score between 0.5 and 1.
    let a = evaluation
        .files
        .iter()
        .find(|f| f.series.key == "spike/a.csv")
        .expect("a scored");
    assert_eq!(a.scores[0], 0.0);
    assert!(a.scores[1..12].iter().all(|s| *s == 0.5));
    assert_eq!(a.scores[12], 1.0);
    assert!(a.scores[13..].iter().all(|s| *s > 0.5 && *s < 1.0));

    // NAB: probation is floor(0.15 * 20) = 3 rows; the best threshold is
    // 1.0, detecting row 12 only, the third row of the five-row window:
    // weight S(-(14 - 12 + 1) / 5) / S(-1). Null: the one window missed,
    // -fn. Perfect: tp.
    let tp = scaled_sigmoid(-0.6) / scaled_sigmoid(-1.0);
    for (profile, fn_weight) in [
        ("standard", 1.0),
        ("reward_low_FP_rate", 1.0),
        ("reward_low_FN_rate", 2.0),
    ] {
        let p = evaluation
            .profiles
            .iter()
            .find(|p| p.profile.name == profile)
            .expect("profile");
        assert_eq!(p.threshold, 1.0, "{profile}");
        assert!((p.raw - tp).abs() < 1e-12, "{profile} raw {}", p.raw);
        assert_eq!(p.null, -fn_weight, "{profile}");
        assert_eq!(p.perfect, 1.0);
        let expected = 100.0 * (tp + fn_weight) / (1.0 + fn_weight);
        assert!((p.normalized - expected).abs() < 1e-9, "{profile}");
    }
    assert!((evaluation.profiles[0].normalized - 95.871_5).abs() < 1e-3);

    nab::write_results(&out, &evaluation).expect("writes");
    let written = fs::read_to_string(out.join("spike/windowed-gaussian_a.csv")).expect("results a");
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines[0], "timestamp,value,anomaly_score");
    assert_eq!(lines.len(), 21);
    assert_eq!(lines[13], format!("{},10,1", timestamp(12)));
    assert_eq!(lines[1], format!("{},1,0", timestamp(0)));
    assert!(out.join("flat/windowed-gaussian_b.csv").is_file());
}

#[test]
fn the_command_runs_the_engine_detector_and_writes_every_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("results");
    fixture(dir.path());
    nab::run(args(dir.path(), &out, DetectorName::Aiops)).expect("runs");
    for path in ["spike/aiops_a.csv", "flat/aiops_b.csv"] {
        let text = fs::read_to_string(out.join(path)).expect("results file");
        assert_eq!(text.lines().count(), 21, "{path}");
        for line in text.lines().skip(1) {
            let score: f64 = line
                .rsplit(',')
                .next()
                .and_then(|s| s.parse().ok())
                .expect("a score column");
            assert!((0.0..=1.0).contains(&score), "{path}: {line}");
        }
    }
}

#[test]
fn profiles_are_read_from_the_data_dir_when_present() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture(dir.path());
    fs::write(
        dir.path().join("profiles.json"),
        r#"{"strict": {"CostMatrix": {"tpWeight": 1.0, "fpWeight": 0.5, "fnWeight": 3.0, "tnWeight": 1.0}}}"#,
    )
    .expect("write profiles");
    let evaluation = nab::evaluate(
        dir.path(),
        &dir.path().join("combined_windows.json"),
        DetectorName::WindowedGaussian,
    )
    .expect("evaluates");
    assert_eq!(evaluation.profiles.len(), 1);
    assert_eq!(evaluation.profiles[0].profile.name, "strict");
    assert_eq!(evaluation.profiles[0].null, -3.0);
}

fn error_of(dir: &Path) -> String {
    let out = dir.join("out");
    match nab::run(args(dir, &out, DetectorName::Aiops)) {
        Ok(()) => panic!("bad input accepted"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn a_missing_data_dir_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nowhere");
    let e = error_of(&missing);
    assert!(e.contains("nowhere") && e.contains("does not exist"), "{e}");
}

#[test]
fn a_csv_without_the_header_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture(dir.path());
    fs::write(
        dir.path().join("data/spike/a.csv"),
        "2014-04-01 00:00:00,1\n",
    )
    .expect("write");
    let e = error_of(dir.path());
    assert!(
        e.contains("spike/a.csv:1:") && e.contains("timestamp,value"),
        "{e}"
    );
}

#[test]
fn a_malformed_row_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture(dir.path());
    let path = dir.path().join("data/flat/b.csv");
    let mut text = fs::read_to_string(&path).expect("read");
    text.push_str("2014-04-02 00:00:00,not-a-number\n");
    fs::write(&path, text).expect("write");
    let e = error_of(dir.path());
    assert!(
        e.contains("flat/b.csv:22:") && e.contains("not-a-number"),
        "{e}"
    );

    fs::write(&path, "timestamp,value\n2014-04-01 00:00:00\n").expect("write");
    let e = error_of(dir.path());
    assert!(e.contains("flat/b.csv:2:"), "{e}");

    fs::write(&path, "timestamp,value\n01/04/2014 00:00,1\n").expect("write");
    let e = error_of(dir.path());
    assert!(
        e.contains("flat/b.csv:2:") && e.contains("timestamp"),
        "{e}"
    );
}

/// Real NAB data steps back an hour at a clock change: the run goes on in
/// file order, as NAB's runner does, and says where.
#[test]
fn a_timestamp_going_back_is_kept_in_file_order_and_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture(dir.path());
    fs::write(
        dir.path().join("data/flat/b.csv"),
        "timestamp,value\n2014-04-01 00:10:00,1\n2014-04-01 00:05:00,1\n",
    )
    .expect("write");
    let evaluation = nab::evaluate(
        dir.path(),
        &dir.path().join("combined_windows.json"),
        DetectorName::Aiops,
    )
    .expect("evaluates");
    assert_eq!(evaluation.warnings.len(), 1, "{:?}", evaluation.warnings);
    let w = &evaluation.warnings[0];
    assert!(w.contains("flat/b.csv:3:") && w.contains("earlier"), "{w}");
    let b = evaluation
        .files
        .iter()
        .find(|f| f.series.key == "flat/b.csv")
        .expect("scored");
    assert_eq!(b.scores.len(), 2, "every row scored");
}

#[test]
fn a_file_without_windows_entry_is_skipped_as_nab_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture(dir.path());
    write_series(dir.path(), "extra/c.csv", &[1.0; 20]);
    let evaluation = nab::evaluate(
        dir.path(),
        &dir.path().join("combined_windows.json"),
        DetectorName::Aiops,
    )
    .expect("evaluates");
    assert_eq!(evaluation.skipped, vec!["extra/c.csv".to_string()]);
    assert_eq!(evaluation.files.len(), 2);
}

#[test]
fn windows_that_do_not_match_the_data_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture(dir.path());
    let windows = dir.path().join("combined_windows.json");
    // a window limit that is not a timestamp of the file
    fs::write(
        &windows,
        r#"{"spike/a.csv": [["2014-04-01 00:07:00.000000", "2014-04-01 01:00:00.000000"]], "flat/b.csv": []}"#,
    )
    .expect("write");
    let e = error_of(dir.path());
    assert!(
        e.contains("spike/a.csv window 1") && e.contains("is not a row of"),
        "{e}"
    );

    // windows for a data file that is not there
    fs::write(
        &windows,
        r#"{"spike/a.csv": [], "flat/b.csv": [], "gone/d.csv": [["2014-04-01 00:00:00", "2014-04-01 00:05:00"]]}"#,
    )
    .expect("write");
    let e = error_of(dir.path());
    assert!(
        e.contains("gone/d.csv") && e.contains("does not exist"),
        "{e}"
    );

    // not JSON of the expected shape
    fs::write(&windows, r#"{"spike/a.csv": "soon"}"#).expect("write");
    let e = error_of(dir.path());
    assert!(e.contains("combined_windows.json"), "{e}");
}
