//! Append throughput: batches of 2,000 series x 10 samples (a typical
//! remote-write request) into a store already holding 20,000 series.
//! Reported as samples per second.

use std::hint::black_box;

use aiops_core::model::{SampleBatch, SampleValue, SeriesSamples};
use aiops_core::{SeriesStore, StoreConfig};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const T0: i64 = 1_700_000_000_000;
const EXISTING_SERIES: usize = 20_000;
const SERIES_PER_BATCH: usize = 2_000;
const SAMPLES_PER_SERIES: usize = 10;
const SAMPLE_SPACING_MS: i64 = 1_000;

fn labels(i: usize) -> Vec<(String, String)> {
    // sorted by name, as the intake delivers them
    vec![
        ("__name__".to_owned(), "http_requests_total".to_owned()),
        (
            "instance".to_owned(),
            format!("10.0.{}.{}:9090", i / 250, i % 250),
        ),
        ("job".to_owned(), "shop".to_owned()),
        (
            "method".to_owned(),
            if i.is_multiple_of(3) { "POST" } else { "GET" }.to_owned(),
        ),
        ("route".to_owned(), format!("/api/items/{}", i % 97)),
        ("service".to_owned(), format!("svc-{}", i % 40)),
        ("status".to_owned(), "200".to_owned()),
    ]
}

/// Round `round` covers one block of 2,000 of the 20,000 series, 10 s after
/// the previous round, so every series' samples stay in order.
fn batch(all_labels: &[Vec<(String, String)>], round: u64) -> (SampleBatch, i64) {
    let block = (round as usize) % (EXISTING_SERIES / SERIES_PER_BATCH);
    let base = T0 + round as i64 * SAMPLES_PER_SERIES as i64 * SAMPLE_SPACING_MS;
    let series = (0..SERIES_PER_BATCH)
        .map(|k| {
            let index = block * SERIES_PER_BATCH + k;
            SeriesSamples {
                labels: all_labels[index].clone(),
                samples: (0..SAMPLES_PER_SERIES)
                    .map(|j| SampleValue {
                        ts_ms: base + j as i64 * SAMPLE_SPACING_MS,
                        value: (round * SAMPLES_PER_SERIES as u64 + j as u64 + index as u64 % 7)
                            as f64,
                    })
                    .collect(),
            }
        })
        .collect();
    let now = base + SAMPLES_PER_SERIES as i64 * SAMPLE_SPACING_MS;
    (
        SampleBatch {
            series,
            ..Default::default()
        },
        now,
    )
}

fn prepared_store(all_labels: &[Vec<(String, String)>]) -> (SeriesStore, u64) {
    let store = SeriesStore::new(StoreConfig::default());
    let rounds = (EXISTING_SERIES / SERIES_PER_BATCH) as u64;
    for round in 0..rounds {
        let (b, now) = batch(all_labels, round);
        let out = store.append(&b, now);
        assert_eq!(
            out.samples_appended as usize,
            SERIES_PER_BATCH * SAMPLES_PER_SERIES
        );
    }
    assert_eq!(store.stats().active_series as usize, EXISTING_SERIES);
    (store, rounds)
}

fn append(c: &mut Criterion) {
    let all_labels: Vec<_> = (0..EXISTING_SERIES).map(labels).collect();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(
        (SERIES_PER_BATCH * SAMPLES_PER_SERIES) as u64,
    ));

    for subscribed in [false, true] {
        let (store, mut round) = prepared_store(&all_labels);
        let _subscriber = subscribed.then(|| store.subscribe());
        let name = if subscribed {
            "2000x10_into_20k_series_with_subscriber"
        } else {
            "2000x10_into_20k_series"
        };
        group.bench_function(name, |b| {
            // by reference, so dropping the request isn't measured
            b.iter_batched_ref(
                || {
                    round += 1;
                    batch(&all_labels, round)
                },
                |(b, now)| {
                    let out = store.append(black_box(b), *now);
                    debug_assert_eq!(out.rejected.total(), 0);
                    out
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
