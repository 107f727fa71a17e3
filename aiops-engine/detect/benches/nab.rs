//! Throughput of `nab::NabDetector`: samples per second on one thread, on
//! a five-minute series with a daily cycle, noise, spikes and level
//! shifts, streamed without end (each iteration continues the series).
//!
//! Time is this thread's CPU time where Linux exposes it
//! (`/proc/thread-self/schedstat`), so the figure reads as samples per
//! CPU-second even on a busy machine; elsewhere it is wall time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aiops_detect::nab::NabDetector;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const STEP_MS: i64 = 300_000;
const CHUNK: usize = 10_000;
/// Two weeks of five-minute points; the series repeats after it.
const PERIOD: usize = 4032;

fn series() -> Vec<f64> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..PERIOD)
        .map(|i| {
            let day = (i % 288) as f64 / 288.0;
            let daily = 40.0 + 20.0 * (2.0 * std::f64::consts::PI * day).sin();
            let noise = 4.0 * (uniform() - 0.5);
            let spike = if i % 997 == 0 { 60.0 } else { 0.0 };
            let shift = if (i / 1500) % 2 == 1 { 15.0 } else { 0.0 };
            daily + noise + spike + shift
        })
        .collect()
}

/// Nanoseconds this thread has run on a CPU, if the kernel says.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn throughput(c: &mut Criterion) {
    let values = series();
    let mut group = c.benchmark_group("nab");
    group.throughput(Throughput::Elements(CHUNK as u64));
    let mut d = NabDetector::new();
    // past warm-up and the first days, as in steady state
    let mut i = 0usize;
    for _ in 0..PERIOD {
        d.observe(i as i64 * STEP_MS, values[i % PERIOD]);
        i += 1;
    }
    group.bench_function("observe", |b| {
        b.iter_custom(|iters| {
            let cpu = thread_cpu_ns();
            let wall = Instant::now();
            let mut total = 0.0;
            for _ in 0..iters {
                for _ in 0..CHUNK {
                    total += d.observe(i as i64 * STEP_MS, values[i % PERIOD]);
                    i += 1;
                }
            }
            black_box(total);
            match (cpu, thread_cpu_ns()) {
                (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
                _ => wall.elapsed(),
            }
        })
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
