//! Detector throughput: samples per second for each detector kind on a
//! realistic series (a p99 latency at 5 s intervals with noise, a daily
//! cycle and a fault every few hours), streamed without end: each
//! iteration continues the same series where the last one stopped.
//!
//! Time is this thread's CPU time where Linux exposes it
//! (`/proc/thread-self/schedstat`), so the throughput reads as samples per
//! CPU-second even on a busy machine; elsewhere it is wall time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aiops_detect::{
    Detector, DetectorConfig, DetectorKind, SeasonConfig, SeriesDetector, SignalKind,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const STEP_MS: i64 = 5_000;
const CHUNK: usize = 10_000;
/// One day of 5 s points, the series repeats after it.
const DAY: usize = 17_280;

fn latency_day() -> Vec<f64> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..DAY)
        .map(|i| {
            let phase = i as f64 / DAY as f64;
            let daily = 1.0 + 0.3 * (2.0 * std::f64::consts::PI * phase).sin();
            let noise = (0..4).map(|_| uniform()).sum::<f64>() - 2.0;
            let fault = if i % 2_000 < 60 { 0.4 } else { 0.0 };
            0.120 * daily * (1.0 + 0.05 * noise) + fault
        })
        .collect()
}

fn detectors() -> Vec<(&'static str, DetectorConfig)> {
    let base = DetectorConfig::default_for(SignalKind::Latency);
    let season = Some(SeasonConfig {
        period: 86_400_000,
        slots: 288,
        periods: 4,
    });
    vec![
        (
            "robust",
            DetectorConfig {
                kind: DetectorKind::Robust,
                ..base.clone()
            },
        ),
        (
            "changepoint",
            DetectorConfig {
                kind: DetectorKind::Changepoint,
                ..base.clone()
            },
        ),
        (
            "seasonal",
            DetectorConfig {
                kind: DetectorKind::Seasonal,
                season,
                ..base.clone()
            },
        ),
        ("auto", base.clone()),
        (
            "auto_seasonal",
            DetectorConfig {
                season,
                ..base.clone()
            },
        ),
        (
            "robust_window_1024",
            DetectorConfig {
                kind: DetectorKind::Robust,
                window: 1024,
                ..base
            },
        ),
    ]
}

/// Nanoseconds this thread has run on a CPU, if the kernel says.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn throughput(c: &mut Criterion) {
    let day = latency_day();
    let mut group = c.benchmark_group("detect");
    group.throughput(Throughput::Elements(CHUNK as u64));
    for (name, cfg) in detectors() {
        let mut d = SeriesDetector::new(&cfg).expect("valid config");
        // start past warm-up and two seasonal periods, as in steady state
        let mut i = 0usize;
        for _ in 0..3 * DAY {
            d.observe(i as i64 * STEP_MS, day[i % DAY]);
            i += 1;
        }
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let cpu = thread_cpu_ns();
                let wall = Instant::now();
                let mut anomalous = 0u32;
                for _ in 0..iters {
                    for _ in 0..CHUNK {
                        let v = d.observe(i as i64 * STEP_MS, day[i % DAY]);
                        anomalous += u32::from(v.started.is_some());
                        i += 1;
                    }
                }
                black_box(anomalous);
                match (cpu, thread_cpu_ns()) {
                    (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
                    _ => wall.elapsed(),
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
