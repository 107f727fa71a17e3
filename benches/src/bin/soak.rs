//! `soak`: overload an engine for minutes and check what it promises under
//! overload (`benches/scripts/soak.sh` starts everything and runs this).
//!
//! 1. **Capacity.** Remote-write and Loki push requests are sent back to back
//!    (closed loop, a few in flight) for `--capacity-for`: the samples and
//!    lines accepted per second are the engine's capacity on this machine.
//! 2. **Overload.** For `--duration` the same mix is *offered* at
//!    `--factor` times that capacity, open loop: requests go out on a clock
//!    whether or not earlier ones were answered, as many senders would.
//!    Every answer is classed: accepted (2xx), refused (429, which must name
//!    a `Retry-After`), or anything else (a failure).
//! 3. **Meanwhile** the engine's resident memory is read every second, and
//!    the console's incident page and the incidents API are timed every
//!    half second.
//! 4. **No loss through a retrying sender.** A real Prometheus scrapes
//!    `soak exporter` (counters that rise by one per scrape) and
//!    remote-writes them to the same engine through the overload, retrying
//!    429s. Once its queue has drained, the engine's copy of those series must
//!    equal Prometheus' own, point for point.
//!
//! Prints one JSON report on stdout and a summary on stderr; exits 1 when a
//! promise was broken.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aiops_core::model::{
    LabelPairs, LogBatch, LogEntry, LogStream, SampleBatch, SampleValue, SeriesSamples,
};
use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::{Value, json};

const PROBE_METRIC: &str = "soak_probe_total";

#[derive(Parser)]
#[command(name = "soak", about = "Overload an engine and check what it promises")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve `/metrics` with counters that rise by one per scrape.
    Exporter(ExporterArgs),
    /// Measure capacity, overload, then compare with Prometheus.
    Run(RunArgs),
}

#[derive(Args)]
struct ExporterArgs {
    #[arg(long)]
    listen: String,
    #[arg(long, default_value_t = 2_000)]
    series: usize,
}

#[derive(Args)]
struct RunArgs {
    /// The engine's base URL.
    #[arg(long)]
    engine: String,
    /// The engine's process, whose resident memory is read.
    #[arg(long)]
    pid: u32,
    /// Prometheus' base URL (it scrapes the exporter and remote-writes to the engine).
    #[arg(long)]
    prometheus: String,
    /// The memory the engine is given (its container's limit): peak RSS must stay below.
    #[arg(long)]
    memory_limit_bytes: u64,
    #[arg(long, default_value = "60s", value_parser = duration)]
    capacity_for: Duration,
    #[arg(long, default_value = "600s", value_parser = duration)]
    duration: Duration,
    #[arg(long, default_value_t = 2.0)]
    factor: f64,
    /// Flood series (remote-write), split into lanes of `--series-per-request`.
    #[arg(long, default_value_t = 51_200)]
    series: usize,
    #[arg(long, default_value_t = 200)]
    series_per_request: usize,
    #[arg(long, default_value_t = 25)]
    samples_per_request: usize,
    /// Flood log streams (Loki push), split into lanes of `--streams-per-request`.
    #[arg(long, default_value_t = 200)]
    streams: usize,
    #[arg(long, default_value_t = 1)]
    streams_per_request: usize,
    #[arg(long, default_value_t = 1000)]
    lines_per_stream: usize,
    /// Requests in flight per kind while measuring capacity: enough that
    /// the engine never waits for the next one.
    #[arg(long, default_value_t = 16)]
    capacity_concurrency: usize,
    /// How long Prometheus may take to drain its queue after the overload.
    #[arg(long, default_value = "300s", value_parser = duration)]
    drain_timeout: Duration,
    /// A viewer's API token, sent with the reads of the console's page.
    #[arg(long)]
    token: Option<String>,
    /// Goal for the incident page while overloaded.
    #[arg(long, default_value_t = 200.0)]
    page_goal_ms: f64,
}

/// The rules' duration syntax (`500ms`, `60s`, `10m`).
fn duration(raw: &str) -> Result<Duration, String> {
    aiops_detect::duration::parse_duration_ms(raw).map(|ms| Duration::from_millis(ms as u64))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // the sender encodes what it sends: on every core, or it and not the
    // engine would be what limits the offered load
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    match cli.command {
        Command::Exporter(args) => runtime.block_on(exporter(args)),
        Command::Run(args) => {
            let report = runtime.block_on(run(args))?;
            println!(
                "{}",
                serde_json::to_string(&report).context("report as JSON")?
            );
            if report["held"]
                .as_object()
                .is_some_and(|held| held.values().all(|v| v == true))
            {
                Ok(())
            } else {
                eprintln!("soak: a promise was broken, see \"held\"");
                std::process::exit(1)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The exporter Prometheus scrapes

async fn exporter(args: ExporterArgs) -> Result<()> {
    let scrapes = Arc::new(AtomicU64::new(0));
    let series = args.series;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let n = scrapes.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                let mut body = String::with_capacity(series * 40);
                body.push_str("# TYPE soak_probe_total counter\n");
                for i in 0..series {
                    body.push_str(&format!("{PROBE_METRIC}{{probe=\"{i}\"}} {n}\n"));
                }
                body
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("bind {}", args.listen))?;
    axum::serve(listener, app).await.context("serve")
}

// ---------------------------------------------------------------------------
// What is sent

/// The next request of a lane: a fixed set of series or streams whose
/// timestamps advance request by request, so a lane's data always arrives in
/// order (a lane has one request in flight at most).
struct Lane {
    kind: Kind,
    series: Vec<LabelPairs>,
    /// Next timestamp, ms for samples, ns for lines.
    next_ts: i64,
    counter: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    RemoteWrite,
    Loki,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::RemoteWrite => "remote_write",
            Kind::Loki => "loki",
        }
    }
}

/// Samples of one series are 1 ms apart and lines 100 µs: the data's clock
/// runs far slower than the wall clock at any rate this machine reaches, so
/// it starts ten minutes back and never runs into the future.
const SAMPLE_STEP_MS: i64 = 1;
const LINE_STEP_NS: i64 = 100_000;
const HEAD_START_MS: i64 = 10 * 60 * 1000;

fn lanes(args: &RunArgs) -> Vec<Lane> {
    let start_ms = now_ms() - HEAD_START_MS;
    let mut out = Vec::new();
    for lane in 0..args.series.div_ceil(args.series_per_request) {
        let lo = lane * args.series_per_request;
        let hi = (lo + args.series_per_request).min(args.series);
        let series = (lo..hi)
            .map(|i| {
                vec![
                    (
                        "__name__".to_string(),
                        [
                            "soak_requests_total",
                            "soak_queue_depth",
                            "soak_cpu_seconds_total",
                        ][i % 3]
                            .to_string(),
                    ),
                    (
                        "instance".to_string(),
                        format!("flood-{:04}:9100", i / 3 / 16),
                    ),
                    ("job".to_string(), "soak-flood".to_string()),
                    ("shard".to_string(), format!("{}", (i / 3) % 16)),
                ]
            })
            .collect();
        out.push(Lane {
            kind: Kind::RemoteWrite,
            series,
            next_ts: start_ms,
            counter: lane as u64,
        });
    }
    for lane in 0..args.streams.div_ceil(args.streams_per_request) {
        let lo = lane * args.streams_per_request;
        let hi = (lo + args.streams_per_request).min(args.streams);
        let series = (lo..hi)
            .map(|i| {
                vec![
                    (
                        "level".to_string(),
                        ["info", "warn", "error", "debug", "notice"][i % 5].to_string(),
                    ),
                    ("pod".to_string(), format!("soak-{}", i / 5)),
                    (
                        "service_name".to_string(),
                        format!("soak-svc-{}", i / 5 % 8),
                    ),
                ]
            })
            .collect();
        out.push(Lane {
            kind: Kind::Loki,
            series,
            next_ts: start_ms * 1_000_000,
            counter: lane as u64,
        });
    }
    out
}

impl Lane {
    /// Encodes the lane's next request; returns the body and the units
    /// (samples or lines) it carries.
    fn next_request(&mut self, per_request: usize) -> (Bytes, u64) {
        match self.kind {
            Kind::RemoteWrite => {
                let from = self.next_ts;
                self.next_ts += SAMPLE_STEP_MS * per_request as i64;
                self.counter += 1;
                let c = self.counter;
                let batch = SampleBatch {
                    series: self
                        .series
                        .iter()
                        .enumerate()
                        .map(|(i, labels)| SeriesSamples {
                            labels: labels.clone(),
                            samples: (0..per_request)
                                .map(|k| SampleValue {
                                    ts_ms: from + k as i64 * SAMPLE_STEP_MS,
                                    value: (c * per_request as u64 + k as u64 + i as u64 % 7)
                                        as f64,
                                })
                                .collect(),
                        })
                        .collect(),
                    ignored: Default::default(),
                };
                let units = (self.series.len() * per_request) as u64;
                (
                    Bytes::from(aiops_ingest::encode_remote_write_v1(&batch)),
                    units,
                )
            }
            Kind::Loki => {
                let from = self.next_ts;
                self.next_ts += LINE_STEP_NS * per_request as i64;
                self.counter += 1;
                let c = self.counter;
                let batch = LogBatch {
                    tenant: String::new(),
                    streams: self
                        .series
                        .iter()
                        .map(|labels| LogStream {
                            labels: labels.clone(),
                            entries: (0..per_request)
                                .map(|k| {
                                    let n = c * per_request as u64 + k as u64;
                                    LogEntry {
                                        ts_ns: from + k as i64 * LINE_STEP_NS,
                                        line: log_line(n, &labels[0].1),
                                        metadata: Vec::new(),
                                    }
                                })
                                .collect(),
                        })
                        .collect(),
                };
                let units = batch.line_count() as u64;
                (Bytes::from(aiops_ingest::encode_loki_push(&batch)), units)
            }
        }
    }
}

fn log_line(n: u64, level: &str) -> String {
    let user = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 100_000;
    match level {
        "error" => format!(
            r#"{{"level":"error","msg":"request failed","path":"/api/v1/orders/{user}","status":503,"error":"upstream timed out after 2s","attempt":{}}}"#,
            n % 3 + 1
        ),
        "warn" => format!(
            r#"{{"level":"warn","msg":"slow upstream call","upstream":"payments:8080","duration_ms":{}.{}}}"#,
            500 + n % 1500,
            n % 10
        ),
        "debug" => format!(
            r#"{{"level":"debug","msg":"cache lookup","key":"cart:u-{user}","hit":{}}}"#,
            !n.is_multiple_of(5)
        ),
        _ => format!(
            r#"{{"level":"info","msg":"request completed","method":"GET","path":"/api/v1/products/{}","status":200,"duration_ms":{}.{},"user_id":"u-{user}"}}"#,
            n % 977,
            n % 120,
            n % 1000
        ),
    }
}

// ---------------------------------------------------------------------------
// Sending

#[derive(Default, Clone)]
struct Tally {
    requests: u64,
    accepted_requests: u64,
    accepted_units: u64,
    refused_requests: u64,
    refused_units: u64,
    refused_without_retry_after: u64,
    retry_after_values: BTreeMap<String, u64>,
    other_requests: u64,
    other_statuses: BTreeMap<String, u64>,
    first_other: Option<String>,
    /// Requests the sender could not start because every lane was waiting.
    not_offered_requests: u64,
    not_offered_units: u64,
}

impl Tally {
    fn to_json(&self) -> Value {
        json!({
            "requests": self.requests,
            "accepted_requests": self.accepted_requests,
            "accepted_units": self.accepted_units,
            "refused_429_requests": self.refused_requests,
            "refused_429_units": self.refused_units,
            "refused_without_retry_after": self.refused_without_retry_after,
            "retry_after_values": self.retry_after_values,
            "other_requests": self.other_requests,
            "other_statuses": self.other_statuses,
            "first_other": self.first_other,
            "not_offered_requests": self.not_offered_requests,
            "not_offered_units": self.not_offered_units,
        })
    }
}

#[derive(Clone)]
struct Sender {
    client: reqwest::Client,
    engine: String,
    rw_headers: HeaderMap,
    loki_headers: HeaderMap,
}

impl Sender {
    fn new(engine: &str) -> Result<Self> {
        let rw_headers = benches::remote_write_headers();
        let mut loki_headers = HeaderMap::new();
        loki_headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        Ok(Sender {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(1024)
                .build()
                .context("http client")?,
            engine: engine.trim_end_matches('/').to_string(),
            rw_headers,
            loki_headers,
        })
    }

    async fn send(&self, kind: Kind, body: Bytes, units: u64, tally: &Mutex<Tally>) {
        let (path, headers) = match kind {
            Kind::RemoteWrite => ("/api/v1/write", &self.rw_headers),
            Kind::Loki => ("/loki/api/v1/push", &self.loki_headers),
        };
        let answer = self
            .client
            .post(format!("{}{path}", self.engine))
            .headers(headers.clone())
            .body(body)
            .send()
            .await;
        let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
        t.requests += 1;
        match answer {
            Ok(r) if r.status().is_success() => {
                t.accepted_requests += 1;
                t.accepted_units += units;
            }
            Ok(r) if r.status().as_u16() == 429 => {
                t.refused_requests += 1;
                t.refused_units += units;
                match r.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()) {
                    Some(v) => *t.retry_after_values.entry(v.to_string()).or_default() += 1,
                    None => t.refused_without_retry_after += 1,
                }
            }
            Ok(r) => {
                t.other_requests += 1;
                *t.other_statuses
                    .entry(r.status().as_u16().to_string())
                    .or_default() += 1;
                if t.first_other.is_none() {
                    t.first_other = Some(format!("{kind:?} {}", r.status()));
                }
            }
            Err(e) => {
                t.other_requests += 1;
                *t.other_statuses.entry("transport".into()).or_default() += 1;
                if t.first_other.is_none() {
                    t.first_other = Some(format!("{kind:?}: {e}"));
                }
            }
        }
    }
}

fn per_request(args: &RunArgs, kind: Kind) -> usize {
    match kind {
        Kind::RemoteWrite => args.samples_per_request,
        Kind::Loki => args.lines_per_stream,
    }
}

/// Closed loop: `concurrency` requests per kind in flight, back to back.
async fn measure_capacity(
    args: &RunArgs,
    sender: &Sender,
    lanes: Vec<Lane>,
) -> Result<(Vec<Lane>, Tally, Tally, f64)> {
    let rw = Arc::new(Mutex::new(Tally::default()));
    let loki = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + args.capacity_for;
    let started = Instant::now();
    let (rw_lanes, loki_lanes): (Vec<Lane>, Vec<Lane>) =
        lanes.into_iter().partition(|l| l.kind == Kind::RemoteWrite);
    let mut workers = Vec::new();
    for (kind_lanes, tally) in [(rw_lanes, rw.clone()), (loki_lanes, loki.clone())] {
        let n = args.capacity_concurrency.min(kind_lanes.len()).max(1);
        let mut groups: Vec<Vec<Lane>> = (0..n).map(|_| Vec::new()).collect();
        for (i, lane) in kind_lanes.into_iter().enumerate() {
            groups[i % n].push(lane);
        }
        for mut group in groups {
            let sender = sender.clone();
            let tally = tally.clone();
            let per = group.first().map_or(1, |l| per_request(args, l.kind));
            workers.push(tokio::spawn(async move {
                let mut i = 0;
                while Instant::now() < deadline && !group.is_empty() {
                    let n = group.len();
                    let lane = &mut group[i % n];
                    let (body, units) = lane.next_request(per);
                    sender.send(lane.kind, body, units, &tally).await;
                    i += 1;
                }
                group
            }));
        }
    }
    let mut lanes = Vec::new();
    for w in workers {
        lanes.extend(w.await.context("a capacity worker failed")?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let take = |t: &Arc<Mutex<Tally>>| t.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok((lanes, take(&rw), take(&loki), seconds))
}

/// Open loop: each kind's requests are due at `rate` units per second; a due
/// request goes out on an idle lane, or is counted as not offered when every
/// lane still waits for an answer.
async fn overload(
    args: &RunArgs,
    sender: &Sender,
    lanes: Vec<Lane>,
    rates: [(Kind, f64); 2],
    until: Instant,
) -> Result<(Tally, Tally)> {
    let tallies: BTreeMap<&'static str, Arc<Mutex<Tally>>> = rates
        .iter()
        .map(|(k, _)| (k.name(), Arc::new(Mutex::new(Tally::default()))))
        .collect();
    let idle: Arc<Mutex<BTreeMap<&'static str, VecDeque<Lane>>>> =
        Arc::new(Mutex::new(BTreeMap::new()));
    let units_per_request: BTreeMap<&'static str, f64> = lanes
        .iter()
        .map(|l| {
            (
                l.kind.name(),
                (l.series.len() * per_request(args, l.kind)) as f64,
            )
        })
        .collect();
    {
        let mut idle = idle.lock().unwrap_or_else(|e| e.into_inner());
        for lane in lanes {
            idle.entry(lane.kind.name()).or_default().push_back(lane);
        }
    }
    let mut credit: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut last = Instant::now();
    let mut in_flight = tokio::task::JoinSet::new();
    while Instant::now() < until {
        tick.tick().await;
        let now = Instant::now();
        let dt = now.duration_since(last).as_secs_f64();
        last = now;
        for (kind, rate) in rates {
            let name = kind.name();
            let per = units_per_request.get(name).copied().unwrap_or(1.0);
            let c = credit.entry(name).or_default();
            *c += rate * dt / per;
            while *c >= 1.0 {
                *c -= 1.0;
                let lane = idle
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(name)
                    .and_then(|q| q.pop_front());
                let tally = tallies[name].clone();
                let Some(mut lane) = lane else {
                    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                    t.not_offered_requests += 1;
                    t.not_offered_units += per as u64;
                    continue;
                };
                let sender = sender.clone();
                let idle = idle.clone();
                let per_req = per_request(args, kind);
                in_flight.spawn(async move {
                    let (body, units) = lane.next_request(per_req);
                    sender.send(kind, body, units, &tally).await;
                    idle.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(name)
                        .or_default()
                        .push_back(lane);
                });
            }
        }
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    let take = |k: Kind| {
        tallies[k.name()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    };
    Ok((take(Kind::RemoteWrite), take(Kind::Loki)))
}

// ---------------------------------------------------------------------------
// Watching

#[derive(Default)]
struct Watch {
    rss_peak: u64,
    rss_samples: Vec<(f64, u64)>,
    page_ms: Vec<f64>,
    api_ms: Vec<f64>,
    page_failures: u64,
    engine_gone: bool,
}

/// A client for the reads: a viewer's token when given, and no redirects
/// followed (the console sends one to its login page: a failed read).
fn reader(token: Option<&str>) -> Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    if let Some(token) = token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).context("--token")?,
        );
    }
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .context("http client")
}

fn rss_bytes(pid: u32) -> Option<u64> {
    benches::status_bytes(pid, "VmRSS").ok()
}

async fn watch(
    client: reqwest::Client,
    pid: u32,
    page: String,
    api: String,
    until: Instant,
    started: Instant,
) -> Watch {
    let mut w = Watch::default();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut n = 0u64;
    while Instant::now() < until {
        tick.tick().await;
        n += 1;
        if n.is_multiple_of(2) {
            match rss_bytes(pid) {
                Some(rss) => {
                    w.rss_peak = w.rss_peak.max(rss);
                    w.rss_samples.push((started.elapsed().as_secs_f64(), rss));
                }
                None => {
                    w.engine_gone = true;
                    return w;
                }
            }
        }
        for (url, into) in [(&page, &mut w.page_ms), (&api, &mut w.api_ms)] {
            let t = Instant::now();
            match client.get(url.as_str()).send().await {
                Ok(r) if r.status().is_success() => {
                    if r.bytes().await.is_ok() {
                        into.push(t.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        w.page_failures += 1;
                    }
                }
                _ => w.page_failures += 1,
            }
        }
    }
    w
}

fn percentiles(ms: &[f64]) -> Value {
    if ms.is_empty() {
        return json!(null);
    }
    let mut v = ms.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| round(v[((v.len() - 1) as f64 * q).round() as usize], 1);
    json!({"count": v.len(), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": round(v[v.len() - 1], 1)})
}

// ---------------------------------------------------------------------------
// Metrics pages and Prometheus' view

async fn metrics_sum(
    client: &reqwest::Client,
    url: &str,
    prefixes: &[&str],
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(r) = client.get(url).send().await else {
        return out;
    };
    let Ok(text) = r.text().await else { return out };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        let Some(key) = prefixes.iter().find(|p| name == **p) else {
            continue;
        };
        let Some(value) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        let label = if line[name_end..].starts_with('{') {
            line[name_end..]
                .split('}')
                .next()
                .unwrap_or("")
                .trim_start_matches('{')
        } else {
            ""
        };
        let key = if *key == "aiops_ingest_rejected_requests_total" {
            format!("{key}{{{label}}}")
        } else {
            key.to_string()
        };
        *out.entry(key).or_default() += value;
    }
    out
}

fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> Value {
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    json!(
        keys.into_iter()
            .map(|k| (
                k.clone(),
                after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0)
            ))
            .collect::<BTreeMap<_, _>>()
    )
}

const ENGINE_METRICS: &[&str] = &[
    "aiops_ingest_samples_total",
    "aiops_ingest_log_lines_total",
    "aiops_ingest_rejected_requests_total",
    "aiops_store_rejected_samples_total",
    "aiops_store_log_entries_dropped_total",
    "aiops_store_series_evicted_total",
];
const PROMETHEUS_METRICS: &[&str] = &[
    "prometheus_remote_storage_samples_total",
    "prometheus_remote_storage_samples_retried_total",
    "prometheus_remote_storage_samples_failed_total",
    "prometheus_remote_storage_samples_dropped_total",
    "prometheus_remote_storage_samples_pending",
];

/// Waits until Prometheus has sent everything up to `sent_until` (unix
/// seconds) for three reads in a row; it keeps scraping meanwhile, so some
/// newer samples are always pending.
async fn drained(
    client: &reqwest::Client,
    prometheus: &str,
    sent_until: f64,
    timeout: Duration,
) -> Result<f64> {
    let started = Instant::now();
    let mut calm = 0;
    while started.elapsed() < timeout {
        let m = metrics_sum(
            client,
            &format!("{prometheus}/metrics"),
            &["prometheus_remote_storage_queue_highest_sent_timestamp_seconds"],
        )
        .await;
        let sent = m
            .get("prometheus_remote_storage_queue_highest_sent_timestamp_seconds")
            .copied()
            .unwrap_or(0.0);
        calm = if sent >= sent_until { calm + 1 } else { 0 };
        if calm >= 3 {
            return Ok(started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!("prometheus had not sent everything up to the end of the overload after {timeout:?}")
}

type Matrix = BTreeMap<String, Vec<(i64, String)>>;

async fn query_range(client: &reqwest::Client, base: &str, start: f64, end: f64) -> Result<Matrix> {
    let r = client
        .get(format!("{base}/api/v1/query_range"))
        .query(&[
            ("query", PROBE_METRIC.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", "1".to_string()),
        ])
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .with_context(|| format!("query_range on {base}"))?;
    let body: Value = r
        .json()
        .await
        .with_context(|| format!("query_range on {base}: not JSON"))?;
    let Some(result) = body["data"]["result"].as_array() else {
        bail!("query_range on {base}: {body}");
    };
    let mut out = Matrix::new();
    for series in result {
        let probe = series["metric"]["probe"].as_str().unwrap_or("").to_string();
        let points = series["values"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .filter_map(|p| {
                        Some((
                            (p[0].as_f64()? * 1000.0).round() as i64,
                            p[1].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.insert(probe, points);
    }
    Ok(out)
}

fn compare(engine: &Matrix, prometheus: &Matrix) -> Value {
    let mut points = 0u64;
    let mut differing = 0u64;
    let mut first = None;
    let missing_series = prometheus
        .keys()
        .filter(|k| !engine.contains_key(*k))
        .count();
    for (probe, theirs) in prometheus {
        let ours: BTreeMap<i64, &String> = engine
            .get(probe)
            .map(|v| v.iter().map(|(t, x)| (*t, x)).collect())
            .unwrap_or_default();
        for (t, value) in theirs {
            points += 1;
            if ours.get(t) != Some(&value) {
                differing += 1;
                if first.is_none() {
                    first = Some(format!(
                        "probe {probe} at {t}: prometheus {value}, engine {:?}",
                        ours.get(t)
                    ));
                }
            }
        }
    }
    json!({
        "series_in_prometheus": prometheus.len(),
        "series_in_engine": engine.len(),
        "series_missing_in_engine": missing_series,
        "points_compared": points,
        "points_differing": differing,
        "first_difference": first,
    })
}

// ---------------------------------------------------------------------------

async fn run(args: RunArgs) -> Result<Value> {
    ensure!(args.factor > 0.0, "--factor must be positive");
    ensure!(
        args.series_per_request > 0 && args.streams_per_request > 0,
        "lanes must hold something"
    );
    let engine = args.engine.trim_end_matches('/').to_string();
    let prometheus = args.prometheus.trim_end_matches('/').to_string();
    let client = reader(args.token.as_deref())?;
    let sender = Sender::new(&engine)?;

    // An incident to open in the console while overloaded.
    let incidents: Value = client
        .get(format!("{engine}/api/v1/incidents"))
        .send()
        .await?
        .json()
        .await?;
    let incident = incidents["data"]
        .as_array()
        .and_then(|list| list.first())
        .and_then(|i| {
            i["id"]
                .as_str()
                .map(str::to_string)
                .or_else(|| i["id"].as_u64().map(|n| n.to_string()))
        })
        .context("the engine has no incident to open (the script fires an alert first)")?;
    let page = format!("{engine}/incidents/{incident}");
    let api = format!("{engine}/api/v1/incidents/{incident}");

    let engine_metrics = format!("{engine}/metrics");
    let prom_metrics = format!("{prometheus}/metrics");
    let engine_before = metrics_sum(&client, &engine_metrics, ENGINE_METRICS).await;
    let prom_before = metrics_sum(&client, &prom_metrics, PROMETHEUS_METRICS).await;

    eprintln!("soak: idle latency of the incident page");
    let idle = watch(
        client.clone(),
        args.pid,
        page.clone(),
        api.clone(),
        Instant::now() + Duration::from_secs(10),
        Instant::now(),
    )
    .await;
    let rss_idle = rss_bytes(args.pid).unwrap_or(0);

    eprintln!("soak: capacity, closed loop for {:?}", args.capacity_for);
    let (lanes, cap_rw, cap_loki, cap_seconds) =
        measure_capacity(&args, &sender, lanes(&args)).await?;
    let samples_per_s = cap_rw.accepted_units as f64 / cap_seconds;
    let lines_per_s = cap_loki.accepted_units as f64 / cap_seconds;
    eprintln!("soak: capacity {samples_per_s:.0} samples/s and {lines_per_s:.0} lines/s at once");
    ensure!(
        samples_per_s > 0.0 && lines_per_s > 0.0,
        "nothing was accepted while measuring capacity"
    );

    let offered = [
        (Kind::RemoteWrite, samples_per_s * args.factor),
        (Kind::Loki, lines_per_s * args.factor),
    ];
    eprintln!("soak: offering {:.0}x for {:?}", args.factor, args.duration);
    let started = Instant::now();
    let overload_start_unix = now_ms() as f64 / 1000.0;
    let until = started + args.duration;
    // on a thread, a runtime and connections of its own: the sender's
    // encoding must not delay the reads whose latency is measured
    let watcher = {
        let (pid, page, api) = (args.pid, page.clone(), api.clone());
        let token = args.token.clone();
        std::thread::spawn(move || -> Result<Watch> {
            let client = reader(token.as_deref())?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(runtime.block_on(watch(client, pid, page, api, until, started)))
        })
    };
    let (rw, loki) = overload(&args, &sender, lanes, offered, until).await?;
    let seconds = started.elapsed().as_secs_f64();
    let overload_end_unix = now_ms() as f64 / 1000.0;
    let watched = watcher
        .join()
        .map_err(|_| anyhow::anyhow!("the watcher panicked"))?
        .context("the watcher's runtime")?;
    let alive = rss_bytes(args.pid).is_some();
    let healthy = client
        .get(format!("{engine}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());

    eprintln!("soak: waiting for Prometheus to drain its remote-write queue");
    let drain = drained(
        &client,
        &prometheus,
        overload_end_unix + 15.0,
        args.drain_timeout,
    )
    .await;
    let (range_start, range_end) = (overload_start_unix - 30.0, overload_end_unix + 5.0);
    let comparison = match (
        query_range(&client, &prometheus, range_start, range_end).await,
        query_range(&client, &engine, range_start, range_end).await,
    ) {
        (Ok(theirs), Ok(ours)) => compare(&ours, &theirs),
        (Err(e), _) | (_, Err(e)) => json!({"error": format!("{e:#}")}),
    };
    let engine_after = metrics_sum(&client, &engine_metrics, ENGINE_METRICS).await;
    let prom_after = metrics_sum(&client, &prom_metrics, PROMETHEUS_METRICS).await;
    let prom_delta = delta(&prom_before, &prom_after);

    let page_p99 = percentiles(&watched.page_ms)["p99"]
        .as_f64()
        .unwrap_or(f64::INFINITY);
    let lost = prom_delta["prometheus_remote_storage_samples_failed_total"]
        .as_f64()
        .unwrap_or(f64::NAN)
        + prom_delta["prometheus_remote_storage_samples_dropped_total"]
            .as_f64()
            .unwrap_or(f64::NAN);
    let held = json!({
        "engine_alive_and_healthy": alive && healthy && !watched.engine_gone,
        "every_429_names_retry_after": rw.refused_without_retry_after + loki.refused_without_retry_after == 0,
        "only_2xx_or_429": rw.other_requests + loki.other_requests == 0,
        "overload_was_refused": rw.refused_requests + loki.refused_requests > 0,
        "rss_peak_below_memory_limit": watched.rss_peak < args.memory_limit_bytes,
        "prometheus_drained": drain.is_ok(),
        "prometheus_lost_nothing": lost == 0.0,
        "engine_equals_prometheus": comparison["points_differing"] == 0 && comparison["series_missing_in_engine"] == 0
            && comparison["points_compared"].as_u64().unwrap_or(0) > 0,
        "incident_page_p99_below_goal": page_p99 < args.page_goal_ms,
    });
    let rss_series: Vec<Value> = watched
        .rss_samples
        .iter()
        .step_by(10)
        .map(|(t, b)| json!([round(*t, 0), b]))
        .collect();
    let report = json!({
        "held": held,
        "capacity": {
            "seconds": round(cap_seconds, 1),
            "samples_per_second": round(samples_per_s, 0),
            "lines_per_second": round(lines_per_s, 0),
            "remote_write": cap_rw.to_json(),
            "loki": cap_loki.to_json(),
        },
        "overload": {
            "factor": args.factor,
            "seconds": round(seconds, 1),
            "offered_samples_per_second": round(offered[0].1, 0),
            "offered_lines_per_second": round(offered[1].1, 0),
            "sent_samples_per_second": round((rw.accepted_units + rw.refused_units) as f64 / seconds, 0),
            "sent_lines_per_second": round((loki.accepted_units + loki.refused_units) as f64 / seconds, 0),
            "accepted_samples_per_second": round(rw.accepted_units as f64 / seconds, 0),
            "accepted_lines_per_second": round(loki.accepted_units as f64 / seconds, 0),
            "remote_write": rw.to_json(),
            "loki": loki.to_json(),
        },
        "memory": {
            "limit_bytes": args.memory_limit_bytes,
            "rss_idle_bytes": rss_idle,
            "rss_peak_bytes": watched.rss_peak,
            "rss_every_5s": rss_series,
        },
        "latency_ms": {
            "incident_page_idle": percentiles(&idle.page_ms),
            "incident_page_overloaded": percentiles(&watched.page_ms),
            "incident_api_idle": percentiles(&idle.api_ms),
            "incident_api_overloaded": percentiles(&watched.api_ms),
            "failed_reads": watched.page_failures,
            "goal_ms": args.page_goal_ms,
        },
        "prometheus": {
            "drained_after_seconds": drain.as_ref().ok().map(|s| round(*s, 1)),
            "drain_error": drain.as_ref().err().map(|e| format!("{e:#}")),
            "remote_storage": prom_delta,
            "engine_vs_prometheus": comparison,
        },
        "engine_metrics": delta(&engine_before, &engine_after),
        "incident": incident,
    });
    eprintln!(
        "soak: {}",
        serde_json::to_string_pretty(&report["held"]).unwrap_or_default()
    );
    Ok(report)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}
