//! Scraping for the embedded mode: each configured target's `/metrics` on an
//! interval, with `job` and `instance` labels and the `up`,
//! `scrape_duration_seconds` and `scrape_samples_scraped` series Prometheus
//! adds, appended through the same path as remote-write.

use std::time::{Duration, Instant};

use aiops_core::model::{METRIC_NAME, SampleBatch, SampleValue, SeriesSamples};
use prometheus_parse::{Scrape, Value};

use crate::routes::write::count_store_rejects;
use crate::state::AppState;
use crate::telemetry::SourceLabels;

/// Scrape replies larger than this are refused (the target is reported down).
pub const MAX_SCRAPE_BYTES: usize = 32 << 20;

/// Starts one loop per target; they stop when `shutdown` fires.
pub fn spawn_all(
    state: &AppState,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::builder()
        .timeout(state.config.scrape.timeout)
        .build()
        .unwrap_or_default();
    let mut handles = Vec::new();
    for job in &state.config.scrape.jobs {
        for target in &job.targets {
            handles.push(tokio::spawn(scrape_loop(
                state.clone(),
                client.clone(),
                Target {
                    job: job.job.clone(),
                    instance: target.clone(),
                    url: format!("http://{target}{}", job.metrics_path),
                    readiness_url: job
                        .readiness_path
                        .as_ref()
                        .map(|path| format!("http://{target}{path}")),
                },
                shutdown.clone(),
            )));
        }
    }
    handles
}

struct Target {
    job: String,
    instance: String,
    url: String,
    readiness_url: Option<String>,
}

/// The series a readiness probe records.
pub const READY_METRIC: &str = "aiops_target_ready";

async fn scrape_loop(
    state: AppState,
    client: reqwest::Client,
    target: Target,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let Target {
        job,
        instance,
        url,
        readiness_url,
    } = target;
    let mut ticker = tokio::time::interval(state.config.scrape.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now_ms = state.clock.now_ms();
        let started = Instant::now();
        let scraped = fetch(&client, &url).await;
        let duration = started.elapsed();
        let batch = match scraped {
            Ok(text) => {
                let mut batch = to_batch(&text, &job, &instance, now_ms);
                let scraped_samples = batch.sample_count();
                batch.series.extend(scrape_series(
                    &job,
                    &instance,
                    now_ms,
                    true,
                    duration,
                    scraped_samples,
                ));
                if let Some(readiness) = &readiness_url {
                    let ready = probe(&client, readiness).await;
                    batch.series.push(series(
                        &job,
                        &instance,
                        now_ms,
                        READY_METRIC,
                        f64::from(u8::from(ready)),
                    ));
                }
                batch
            }
            Err(reason) => {
                tracing::warn!(job = %job, instance = %instance, reason = %reason, "scrape failed");
                SampleBatch {
                    series: scrape_series(&job, &instance, now_ms, false, duration, 0),
                    ..SampleBatch::default()
                }
            }
        };
        let outcome = state.series.append(&batch, now_ms);
        state.scraped.notify_one();
        state
            .metrics
            .samples_ingested
            .get_or_create(&SourceLabels { source: "scrape" })
            .inc_by(outcome.samples_appended);
        count_store_rejects(&state, "scrape", &outcome.rejected);
    }
}

/// A readiness probe: ready when the path answers 2xx within the timeout.
async fn probe(client: &reqwest::Client, url: &str) -> bool {
    client
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let mut response = client
        .get(url)
        .header(
            "accept",
            "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5",
        )
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_SCRAPE_BYTES {
            return Err(format!("reply larger than {MAX_SCRAPE_BYTES} bytes"));
        }
    }
    String::from_utf8(body).map_err(|_| "reply is not UTF-8".to_string())
}

fn scrape_series(
    job: &str,
    instance: &str,
    now_ms: i64,
    up: bool,
    duration: Duration,
    samples: usize,
) -> Vec<SeriesSamples> {
    [
        ("up", if up { 1.0 } else { 0.0 }),
        ("scrape_duration_seconds", duration.as_secs_f64()),
        ("scrape_samples_scraped", samples as f64),
    ]
    .into_iter()
    .map(|(name, value)| series(job, instance, now_ms, name, value))
    .collect()
}

/// One sample of a series the scraper itself adds (`job`, `instance`).
fn series(job: &str, instance: &str, now_ms: i64, name: &str, value: f64) -> SeriesSamples {
    SeriesSamples {
        labels: vec![
            (METRIC_NAME.to_string(), name.to_string()),
            ("instance".to_string(), instance.to_string()),
            ("job".to_string(), job.to_string()),
        ],
        samples: vec![SampleValue {
            ts_ms: now_ms,
            value,
        }],
    }
}

/// Prometheus' text format for label values of `le` and `quantile`.
fn format_bound(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Parses an exposition and flattens it to series, with the target's labels
/// (which win over the exposed `job` and `instance`, as with `honor_labels: false`).
pub fn to_batch(text: &str, job: &str, instance: &str, now_ms: i64) -> SampleBatch {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    let Ok(scrape) = Scrape::parse_at(lines, now) else {
        return SampleBatch::default();
    };
    let mut series = Vec::with_capacity(scrape.samples.len());
    for sample in scrape.samples {
        let ts_ms = sample.timestamp.timestamp_millis();
        let mut base: Vec<(String, String)> = sample
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "job" && k.as_str() != "instance")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        base.push(("job".into(), job.into()));
        base.push(("instance".into(), instance.into()));
        let mut push = |name: String, extra: Option<(&str, String)>, value: f64| {
            let mut labels = base.clone();
            labels.push((METRIC_NAME.into(), name));
            if let Some((k, v)) = extra {
                labels.push((k.into(), v));
            }
            labels.sort();
            series.push(SeriesSamples {
                labels,
                samples: vec![SampleValue { ts_ms, value }],
            });
        };
        match sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => push(sample.metric, None, v),
            Value::Histogram(buckets) => {
                for b in buckets {
                    push(
                        format!("{}_bucket", sample.metric),
                        Some(("le", format_bound(b.less_than))),
                        b.count,
                    );
                }
            }
            Value::Summary(quantiles) => {
                for q in quantiles {
                    push(
                        sample.metric.clone(),
                        Some(("quantile", format_bound(q.quantile))),
                        q.count,
                    );
                }
            }
        }
    }
    SampleBatch {
        series,
        ..SampleBatch::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = r#"# HELP http_server_request_duration_seconds Duration.
# TYPE http_server_request_duration_seconds histogram
# UNIT http_server_request_duration_seconds seconds
http_server_request_duration_seconds_sum{http_route="/products",job="fake"} 0.5
http_server_request_duration_seconds_count{http_route="/products",job="fake"} 3
http_server_request_duration_seconds_bucket{le="0.1",http_route="/products",job="fake"} 2
http_server_request_duration_seconds_bucket{le="+Inf",http_route="/products",job="fake"} 3
# TYPE process_cpu_seconds counter
process_cpu_seconds_total 1.5
# EOF
"#;

    #[test]
    fn an_exposition_becomes_labelled_series() {
        let batch = to_batch(EXPOSITION, "shop", "127.0.0.1:8081", 1_700_000_000_000);
        let names: Vec<String> = batch
            .series
            .iter()
            .map(|s| {
                s.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        assert_eq!(batch.series.len(), 5, "{names:#?}");
        assert!(names.contains(&"__name__=http_server_request_duration_seconds_bucket,http_route=/products,instance=127.0.0.1:8081,job=shop,le=+Inf".to_string()), "{names:#?}");
        assert!(
            names.contains(
                &"__name__=process_cpu_seconds_total,instance=127.0.0.1:8081,job=shop".to_string()
            ),
            "{names:#?}"
        );
        assert!(
            batch
                .series
                .iter()
                .all(|s| s.samples[0].ts_ms == 1_700_000_000_000)
        );
        let bucket = batch
            .series
            .iter()
            .find(|s| s.labels.iter().any(|(k, v)| k == "le" && v == "0.1"))
            .expect("bucket");
        assert_eq!(bucket.samples[0].value, 2.0);
    }

    #[test]
    fn garbage_yields_nothing_and_up_series_are_added() {
        assert_eq!(
            to_batch("this is not { an exposition", "j", "i:1", 0)
                .series
                .len(),
            0
        );
        let s = scrape_series("j", "i:1", 5, false, Duration::from_millis(20), 0);
        assert_eq!(s[0].labels[0].1, "up");
        assert_eq!(s[0].samples[0].value, 0.0);
    }
}
