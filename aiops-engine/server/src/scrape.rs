//! Scraping for the embedded mode: each configured target's `/metrics` on an
//! interval, with `job` and `instance` labels and the `up`,
//! `scrape_duration_seconds` and `scrape_samples_scraped` series Prometheus
//! adds, appended through the same path as remote-write.

use std::time::{Duration, Instant};

use aiops_core::model::{METRIC_NAME, SampleBatch, SampleValue, SeriesSamples};
use aiops_ingest::{ExpositionFormat, ExpositionLimits, parse_exposition};

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
        let scraped = fetch(&client, &url)
            .await
            .and_then(|(text, format)| to_batch(&text, format, &job, &instance, now_ms));
        let duration = started.elapsed();
        let batch = match scraped {
            Ok(mut batch) => {
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
        state.remediation.saw_telemetry(now_ms);
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

/// The body and its dialect, from the reply's Content-Type.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<(String, ExpositionFormat), String> {
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
    let format = ExpositionFormat::from_content_type(
        response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_SCRAPE_BYTES {
            return Err(format!("reply larger than {MAX_SCRAPE_BYTES} bytes"));
        }
    }
    let text = String::from_utf8(body).map_err(|_| "reply is not UTF-8".to_string())?;
    Ok((text, format))
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

/// Parses an exposition into series, with the target's labels (which win
/// over the exposed `job` and `instance`, as with `honor_labels: false`);
/// labels with empty values are dropped and a sample's own timestamp is
/// kept, as Prometheus does. One malformed line fails the scrape.
pub fn to_batch(
    text: &str,
    format: ExpositionFormat,
    job: &str,
    instance: &str,
    now_ms: i64,
) -> Result<SampleBatch, String> {
    let samples = parse_exposition(text, format, &ExpositionLimits::default())
        .map_err(|e| format!("unreadable exposition: {e}"))?;
    let series = samples
        .into_iter()
        .map(|sample| {
            let mut labels: Vec<(String, String)> = sample
                .labels
                .into_iter()
                .filter(|(k, v)| !v.is_empty() && k != "job" && k != "instance" && k != METRIC_NAME)
                .collect();
            labels.push((METRIC_NAME.into(), sample.name));
            labels.push(("job".into(), job.into()));
            labels.push(("instance".into(), instance.into()));
            labels.sort();
            SeriesSamples {
                labels,
                samples: vec![SampleValue {
                    ts_ms: sample.ts_ms.unwrap_or(now_ms),
                    value: sample.value,
                }],
            }
        })
        .collect();
    Ok(SampleBatch {
        series,
        ..SampleBatch::default()
    })
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
        let batch = to_batch(
            EXPOSITION,
            ExpositionFormat::OpenMetrics,
            "shop",
            "127.0.0.1:8081",
            1_700_000_000_000,
        )
        .expect("parses");
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
    fn templated_routes_survive() {
        // the shop's routes: prometheus-parse dropped every one of these
        let text = "http_server_request_duration_seconds_count{http_route=\"/carts/{session}\",http_request_method=\"GET\",http_response_status_code=\"200\",empty=\"\"} 31 1699999999000\n";
        let batch =
            to_batch(text, ExpositionFormat::PrometheusText, "cart", "a:1", 5).expect("parses");
        assert_eq!(batch.series.len(), 1);
        let labels = &batch.series[0].labels;
        assert!(
            labels.contains(&("http_route".into(), "/carts/{session}".into())),
            "{labels:?}"
        );
        assert!(
            !labels.iter().any(|(k, _)| k == "empty"),
            "empty values are dropped"
        );
        assert_eq!(batch.series[0].samples[0].ts_ms, 1_699_999_999_000);
    }

    #[test]
    fn garbage_fails_the_scrape_and_up_series_are_added() {
        let err = to_batch(
            "ok 1\nthis is not { an exposition",
            ExpositionFormat::PrometheusText,
            "j",
            "i:1",
            0,
        )
        .expect_err("garbage");
        assert!(err.contains("line 2"), "{err}");
        let s = scrape_series("j", "i:1", 5, false, Duration::from_millis(20), 0);
        assert_eq!(s[0].labels[0].1, "up");
        assert_eq!(s[0].samples[0].value, 0.0);
    }
}
