//! Ranking cost at RCAEval's largest scale: Train Ticket has a few
//! hundred metric columns; RCAEval scores 600 rows each side of the
//! inject time. Here 40 services x 5 metrics x 1200 rows at 1 s.

use std::hint::black_box;

use aiops_rca::synthetic::Scenario;
use aiops_rca::{AlignOptions, CsvOptions, Method, MetricFrame, RankOptions, SeriesInput, rank};
use criterion::{Criterion, criterion_group, criterion_main};

fn scenario() -> Scenario {
    Scenario {
        services: 40,
        root: 17,
        pre_rows: 600,
        post_rows: 600,
        load_step: 0.3,
        ..Scenario::default()
    }
}

fn bench(c: &mut Criterion) {
    let case = scenario().generate();
    let dir = std::env::temp_dir().join(format!("aiops-rca-bench-{}", std::process::id()));
    case.write_rcaeval(&dir).expect("bench data written");
    let csv = dir.join("data.csv");
    let onset = case.inject_s * 1000;
    let series = case.series();
    let inputs: Vec<SeriesInput<'_>> = series.iter().map(|s| s.input()).collect();
    let align = AlignOptions {
        step_ms: 1000,
        origin_ms: onset,
        max_fill_steps: 5,
    };
    let frame = MetricFrame::from_csv(&csv, &CsvOptions::default()).expect("bench csv read");

    let mut group = c.benchmark_group("rca_200_columns_1200_rows");
    group.bench_function("from_csv", |b| {
        b.iter(|| MetricFrame::from_csv(black_box(&csv), &CsvOptions::default()))
    });
    group.bench_function("from_series", |b| {
        b.iter(|| MetricFrame::from_series(black_box(&inputs), &align))
    });
    for method in [Method::Baro, Method::Nsigma] {
        group.bench_function(format!("rank_{method}"), |b| {
            b.iter(|| rank(black_box(&frame), onset, method, &RankOptions::default()))
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
