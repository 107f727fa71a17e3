//! RCAEval's `data.csv` through polars' reader: what is kept, what is
//! left out, and what is refused with which message.

// helpers outside #[test] functions unwrap too: a failed setup is a failed test
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use aiops_rca::synthetic::Scenario;
use aiops_rca::{
    AlignOptions, CsvOptions, Method, MetricFrame, RankOptions, RcaError, SeriesInput, rank,
};

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("data.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn read(text: &str) -> Result<MetricFrame, RcaError> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, text);
    MetricFrame::from_csv(&path, &CsvOptions::default())
}

#[test]
fn columns_split_into_service_and_metric_and_time_becomes_milliseconds() {
    let f = read(
        "time,cart_cpu,cart_latency-90,frontend_mem,time.1,weird\n\
         1700000000,0.5,0.01,100,1700000000,1\n\
         1700000001,0.6,0.02,,1700000001,2\n\
         1700000002.5,inf,0.03,102,1700000002,3\n",
    )
    .unwrap();
    let names: Vec<String> = f.keys().iter().map(|k| k.column_name()).collect();
    assert_eq!(names, ["cart_cpu", "cart_latency-90", "frontend_mem"]);
    assert_eq!(f.keys()[1].metric, "latency-90");
    assert_eq!(
        f.time_range_ms(),
        Some((1_700_000_000_000, 1_700_000_002_500))
    );
    let dropped: Vec<(&str, &str)> = f
        .dropped()
        .iter()
        .map(|d| (d.column.as_str(), d.reason.as_str()))
        .collect();
    assert_eq!(
        dropped,
        [
            ("time.1", "a second time column"),
            ("weird", "no `_` between a service and a metric in its name"),
        ]
    );
    // the empty cell is filled from the row before; inf is no number, and
    // is filled the same way
    let mem: Vec<Option<f64>> = f
        .data()
        .column("frontend_mem")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(mem, [Some(100.0), Some(100.0), Some(102.0)]);
    let cpu: Vec<Option<f64>> = f
        .data()
        .column("cart_cpu")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(cpu, [Some(0.5), Some(0.6), Some(0.6)]);
}

#[test]
fn suffixes_can_be_left_out_like_rcaeval_does_latency_50() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "time,a_latency-50,a_latency-90\n1,1,2\n2,1,2\n");
    let options = CsvOptions {
        drop_suffixes: vec!["_latency-50".into()],
        ..CsvOptions::default()
    };
    let f = MetricFrame::from_csv(&path, &options).unwrap();
    assert_eq!(f.keys().len(), 1);
    assert_eq!(f.dropped()[0].column, "a_latency-50");
}

#[test]
fn bad_files_are_refused_with_file_line_and_column() {
    let err = read("stamp,a_cpu\n1,2\n").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RcaError::NoTimeColumn { .. }), "{text}");
    assert!(
        text.contains("data.csv: no `time` column (the header has: stamp, a_cpu)"),
        "{text}"
    );

    let err = read("time,a_cpu,b_cpu\n1,2,3\n2,3,4\n3,oops,5\n").unwrap_err();
    let text = err.to_string();
    assert!(
        text.ends_with("data.csv: line 4, column `a_cpu`: \"oops\" is not a number"),
        "{text}"
    );

    let err = read("time,a_cpu\n1,true\n2,false\n").unwrap_err();
    assert!(matches!(err, RcaError::NotNumeric { line: 2, .. }), "{err}");

    let err = read("time,a_cpu\n1,2\n,3\n").unwrap_err();
    assert!(
        err.to_string().contains("line 3: the `time` cell is empty"),
        "{err}"
    );

    let err = read("time,a_cpu\n2023-01-01,2\n").unwrap_err();
    assert!(err.to_string().contains("line 2, column `time`"), "{err}");

    let err = read("time,a_cpu\n").unwrap_err();
    assert!(matches!(err, RcaError::NoRows { .. }), "{err}");

    let err = read("").unwrap_err();
    assert!(
        matches!(err, RcaError::NoTimeColumn { .. } | RcaError::Csv { .. }),
        "{err}"
    );

    let err = read("time,weird\n1,2\n").unwrap_err();
    assert!(matches!(err, RcaError::NoMetricColumns(_)), "{err}");

    let err = read("time,a_cpu\n1,2\n2,3,4,5\n").unwrap_err();
    assert!(err.to_string().contains("data.csv"), "{err}");

    let err = MetricFrame::from_csv(
        &PathBuf::from("/nonexistent/data.csv"),
        &CsvOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("/nonexistent/data.csv: "),
        "{err}"
    );
}

#[test]
fn the_csv_and_the_in_memory_series_rank_alike() {
    let case = Scenario::default().generate();
    let dir = tempfile::tempdir().unwrap();
    case.write_rcaeval(dir.path()).unwrap();
    let from_csv =
        MetricFrame::from_csv(&dir.path().join("data.csv"), &CsvOptions::default()).unwrap();
    let series = case.series();
    let inputs: Vec<SeriesInput<'_>> = series.iter().map(|s| s.input()).collect();
    let from_series = MetricFrame::from_series(
        &inputs,
        &AlignOptions {
            step_ms: 1000,
            origin_ms: case.inject_s * 1000,
            max_fill_steps: 5,
        },
    )
    .unwrap();
    let onset = case.inject_s * 1000;
    for method in [Method::Baro, Method::Nsigma] {
        let a = rank(&from_csv, onset, method, &RankOptions::default()).unwrap();
        let b = rank(&from_series, onset, method, &RankOptions::default()).unwrap();
        assert_eq!(a, b, "{method}");
        assert_eq!(a.services[0].service, case.root);
    }
}
