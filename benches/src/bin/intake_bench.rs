//! `intake-bench`: drives a remote-write or Loki push receiver over loopback
//! with pre-encoded requests and measures what the receiving process spent:
//! CPU seconds (utime + stime from `/proc/<pid>/stat`) while the requests were
//! sent, wall time, and resident memory after a settle pause.
//!
//! Every request body is built and encoded before the clock starts, so the
//! numbers are the target's cost, not this tool's. Requests are sent in
//! time-block order: request `k` of a series (or stream) is sent only after
//! request `k - 1` of the same series got its response, so each series'
//! samples arrive in time order, while up to `--concurrency` requests for
//! different series chunks are in flight at once.
//!
//! Prints one JSON object on stdout; progress goes to stderr.
//!
//! ```text
//! intake-bench remote-write --url http://127.0.0.1:19800/api/v1/write --pid 1234
//! intake-bench loki --url http://127.0.0.1:19800/loki/api/v1/push --pid 1234
//! ```
//! Use a fresh target for each run: a second run would send the same series
//! with older timestamps, which a TSDB rightly refuses as out of order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aiops_core::model::{
    LabelPairs, LogBatch, LogEntry, LogStream, SampleBatch, SampleValue, SeriesSamples,
};
use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use serde_json::{Map, Value, json};

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`).
const USER_HZ: f64 = 100.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const NS_PER_MS: i64 = 1_000_000;

/// Metric-name prefixes read from the target's `/metrics` before and after,
/// outside the timed window: what it says it stored, refused and holds.
const METRIC_PREFIXES: &[&str] = &[
    "aiops_ingest_samples_total",
    "aiops_ingest_log_lines_total",
    "aiops_ingest_log_bytes_total",
    "aiops_ingest_rejected_requests_total",
    "aiops_store_rejected_samples_total",
    "aiops_store_active_series",
    "aiops_store_samples",
    "aiops_store_series_memory_bytes",
    "aiops_store_log_streams",
    "aiops_store_log_entries",
    "aiops_store_log_memory_bytes",
    "aiops_store_log_entries_dropped_total",
    "aiops_store_series_evicted_total",
    "prometheus_tsdb_head_series",
    "prometheus_tsdb_head_samples_appended_total",
    "prometheus_tsdb_head_chunks",
    "prometheus_tsdb_out_of_order_samples_total",
    "prometheus_tsdb_out_of_bound_samples_total",
    "prometheus_tsdb_too_old_samples_total",
    "go_memstats_heap_inuse_bytes",
    "go_memstats_heap_alloc_bytes",
    "go_memstats_sys_bytes",
];
/// Counters whose increase is what the target stored, by target kind.
const STORED_SAMPLE_COUNTERS: &[&str] = &[
    "aiops_ingest_samples_total",
    "prometheus_tsdb_head_samples_appended_total",
];
const STORED_LINE_COUNTERS: &[&str] = &["aiops_ingest_log_lines_total"];
const ACTIVE_SERIES_GAUGES: &[&str] = &["aiops_store_active_series", "prometheus_tsdb_head_series"];

#[derive(Parser)]
#[command(
    name = "intake-bench",
    about = "Remote-write and Loki push intake cost of a receiving process"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prometheus remote-write 1.0 (snappy protobuf) of node-exporter-like series.
    RemoteWrite(RemoteWriteArgs),
    /// Loki push (protobuf + snappy) of JSON log lines.
    Loki(LokiArgs),
}

#[derive(Args)]
struct TargetArgs {
    /// URL the requests are POSTed to.
    #[arg(long)]
    url: String,
    /// Process whose CPU time and resident memory are measured.
    #[arg(long)]
    pid: u32,
    /// Name in the report; the URL when absent.
    #[arg(long)]
    name: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Pause after the last response before resident memory is read.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    settle: Duration,
    /// Per-request timeout.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    timeout: Duration,
    /// The target's metrics page, read before and after (never inside the
    /// timed window); `<scheme>://<host:port>/metrics` when absent, `none` to skip.
    #[arg(long)]
    metrics_url: Option<String>,
    /// Sent as `Authorization: Bearer <token>`.
    #[arg(long)]
    token: Option<String>,
}

#[derive(Args)]
struct RemoteWriteArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Distinct series.
    #[arg(long, default_value_t = 20_000)]
    series: usize,
    /// Samples per series in total.
    #[arg(long, default_value_t = 300)]
    samples_per_series: usize,
    /// Samples of each series in one request (one time block).
    #[arg(long, default_value_t = 10)]
    samples_per_request: usize,
    /// Series in one request.
    #[arg(long, default_value_t = 2_000)]
    series_per_request: usize,
    /// Time between a series' samples (the scrape interval).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    interval: Duration,
}

#[derive(Args)]
struct LokiArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Log lines in total (rounded up to whole requests).
    #[arg(long, default_value_t = 2_000_000)]
    lines: usize,
    /// Distinct streams ({service_name, level}); spread over requests of
    /// `--streams-per-request`, so several requests can be in flight while each
    /// stream's lines still arrive in order.
    #[arg(long, default_value_t = 400)]
    streams: usize,
    /// Streams in one request.
    #[arg(long, default_value_t = 100)]
    streams_per_request: usize,
    /// Lines of each stream in one request.
    #[arg(long, default_value_t = 100)]
    lines_per_stream: usize,
    /// Time between a stream's lines.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    line_interval: Duration,
    /// Sent as `X-Scope-OrgID` when given.
    #[arg(long)]
    tenant: Option<String>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let report = match cli.command {
        Command::RemoteWrite(args) => runtime.block_on(remote_write(args))?,
        Command::Loki(args) => runtime.block_on(loki(args))?,
    };
    println!(
        "{}",
        serde_json::to_string(&report).context("report as JSON")?
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Remote write

async fn remote_write(args: RemoteWriteArgs) -> Result<Value> {
    ensure!(
        args.series > 0 && args.samples_per_series > 0,
        "--series and --samples-per-series must be positive"
    );
    ensure!(
        args.samples_per_request > 0 && args.series_per_request > 0,
        "--samples-per-request and --series-per-request must be positive"
    );
    let interval_ms = i64::try_from(args.interval.as_millis()).context("--interval")?;
    ensure!(interval_ms > 0, "--interval must be at least 1ms");
    // The last sample a scrape interval before now, the first one
    // samples_per_series intervals before now: all in the past, all inside
    // a 3 h retention for the defaults, and Prometheus' head accepts them as
    // they arrive oldest first.
    let now = now_ms();
    let first_ts = now - interval_ms * args.samples_per_series as i64;
    let started = Instant::now();
    let plan = plan_remote_write(&args, first_ts, interval_ms);
    let encode_seconds = started.elapsed().as_secs_f64();
    let samples_sent: u64 = plan.requests.iter().map(|r| r.units).sum();
    eprintln!(
        "intake-bench: {} remote-write requests, {} series x {} samples = {} samples, {:.1} MB snappy, encoded in {:.1}s",
        plan.requests.len(),
        args.series,
        args.samples_per_series,
        samples_sent,
        plan.body_bytes as f64 / 1e6,
        encode_seconds
    );

    let headers = benches::remote_write_headers();
    let run = measure(&args.target, headers, plan.requests, plan.lanes).await?;

    let n = args.series as f64;
    let mut report = Map::new();
    report.insert("target".into(), json!(run.name));
    report.insert("kind".into(), json!("remote_write_v1"));
    report.insert("url".into(), json!(args.target.url));
    report.insert("samples_sent".into(), json!(samples_sent));
    report.insert("samples_accepted".into(), json!(run.sent.ok_units));
    report.insert(
        "samples_stored".into(),
        opt(run.metrics.delta_sum(STORED_SAMPLE_COUNTERS)),
    );
    report.insert("cpu_seconds".into(), json!(round(run.cpu_seconds, 3)));
    report.insert(
        "samples_per_cpu_second".into(),
        json!(round(per(run.sent.ok_units as f64, run.cpu_seconds), 0)),
    );
    report.insert("wall_seconds".into(), json!(round(run.wall_seconds, 3)));
    report.insert(
        "samples_per_wall_second".into(),
        json!(round(per(run.sent.ok_units as f64, run.wall_seconds), 0)),
    );
    report.insert(
        "cpu_seconds_with_settle".into(),
        json!(round(run.cpu_seconds_with_settle, 3)),
    );
    report.insert("rss_bytes_before".into(), json!(run.rss_before));
    report.insert("rss_bytes".into(), json!(run.rss_after));
    report.insert("rss_peak_bytes".into(), json!(run.rss_peak));
    report.insert("active_series".into(), json!(args.series));
    report.insert(
        "active_series_reported".into(),
        opt(run.metrics.after_sum(ACTIVE_SERIES_GAUGES)),
    );
    report.insert(
        "rss_bytes_per_series".into(),
        json!(round(run.rss_after as f64 / n, 0)),
    );
    report.insert(
        "rss_delta_bytes_per_series".into(),
        json!(round((run.rss_after as f64 - run.rss_before as f64) / n, 0)),
    );
    report.insert(
        "requests".into(),
        json!(run.sent.ok_requests + run.sent.failed_requests),
    );
    report.insert("requests_failed".into(), json!(run.sent.failed_requests));
    report.insert("status_counts".into(), json!(run.sent.statuses));
    report.insert("first_error".into(), json!(run.sent.first_error));
    report.insert("series".into(), json!(args.series));
    report.insert("samples_per_series".into(), json!(args.samples_per_series));
    report.insert(
        "samples_per_request".into(),
        json!(args.samples_per_request),
    );
    report.insert("series_per_request".into(), json!(args.series_per_request));
    report.insert("concurrency".into(), json!(args.target.concurrency));
    // Nominal times; each simulated target scrapes 0-5 s earlier than these.
    report.insert("first_timestamp_ms".into(), json!(first_ts));
    report.insert(
        "last_timestamp_ms".into(),
        json!(first_ts + interval_ms * (args.samples_per_series as i64 - 1)),
    );
    report.insert("body_bytes_sent".into(), json!(plan.body_bytes));
    report.insert("encode_seconds".into(), json!(round(encode_seconds, 3)));
    report.insert(
        "client_cpu_seconds".into(),
        json!(round(run.client_cpu_seconds, 3)),
    );
    report.insert("target_metrics".into(), run.metrics.to_json());
    Ok(Value::Object(report))
}

struct Plan {
    requests: Vec<Planned>,
    lanes: usize,
    body_bytes: u64,
}

/// One pre-encoded request: `seq` is its time block within `lane` (a fixed
/// set of series or streams); it is sent only after `seq - 1` of its lane
/// got a response.
struct Planned {
    lane: usize,
    seq: usize,
    body: Bytes,
    /// Samples or lines it carries.
    units: u64,
    /// Uncompressed log line bytes it carries (0 for samples).
    line_bytes: u64,
}

fn plan_remote_write(args: &RemoteWriteArgs, first_ts: i64, interval_ms: i64) -> Plan {
    let template = node_exporter_template();
    let lanes = args.series.div_ceil(args.series_per_request);
    let blocks = args.samples_per_series.div_ceil(args.samples_per_request);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(lanes);
    let by_lane: Vec<(usize, Vec<Bytes>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let template = &template;
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for lane in (t..lanes).step_by(threads) {
                        let lo = lane * args.series_per_request;
                        let hi = (lo + args.series_per_request).min(args.series);
                        let mut series: Vec<SeriesGen> =
                            (lo..hi).map(|i| SeriesGen::new(i, template)).collect();
                        let mut bodies = Vec::with_capacity(blocks);
                        for block in 0..blocks {
                            let from = block * args.samples_per_request;
                            let to = (from + args.samples_per_request).min(args.samples_per_series);
                            let batch = SampleBatch {
                                series: series
                                    .iter_mut()
                                    .map(|s| SeriesSamples {
                                        labels: s.labels.clone(),
                                        samples: (from..to)
                                            .map(|i| {
                                                let ts_ms =
                                                    first_ts + interval_ms * i as i64 + s.offset_ms;
                                                SampleValue {
                                                    ts_ms,
                                                    value: s.next(ts_ms, interval_ms),
                                                }
                                            })
                                            .collect(),
                                    })
                                    .collect(),
                                ignored: Default::default(),
                            };
                            bodies.push(Bytes::from(aiops_ingest::encode_remote_write_v1(&batch)));
                        }
                        out.push((lane, bodies));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("an encoder thread panicked"))
            .collect()
    });
    let mut by_lane: BTreeMap<usize, Vec<Bytes>> = by_lane.into_iter().collect();
    let mut requests = Vec::with_capacity(lanes * blocks);
    for seq in 0..blocks {
        let from = seq * args.samples_per_request;
        let samples = (from + args.samples_per_request).min(args.samples_per_series) - from;
        for lane in 0..lanes {
            let lo = lane * args.series_per_request;
            let hi = (lo + args.series_per_request).min(args.series);
            let body = by_lane
                .get_mut(&lane)
                .and_then(|b| b.get_mut(seq))
                .map(std::mem::take)
                .expect("every lane encodes every block");
            requests.push(Planned {
                lane,
                seq,
                body,
                units: ((hi - lo) * samples) as u64,
                line_bytes: 0,
            });
        }
    }
    let body_bytes = requests.iter().map(|r| r.body.len() as u64).sum();
    Plan {
        requests,
        lanes,
        body_bytes,
    }
}

/// How a series' values move from sample to sample.
#[derive(Clone, Copy)]
enum Model {
    /// CPU seconds: rises by about `share` of each interval, in 1/100 s.
    CpuSeconds { share: f64 },
    /// A byte or event counter rising by about `rate` per second.
    Counter { rate: f64 },
    /// Errors and drops: mostly flat, now and then one more.
    Rare,
    /// A byte gauge wandering around a fraction of `scale`, in 4 KiB pages.
    Bytes { scale: f64, wander: f64 },
    /// A value that does not change (totals, sizes, boot time).
    Constant { scale: f64 },
    /// Load average: a mean-reverting float with two decimals.
    Load { mean: f64 },
    /// A small integer gauge around `mean` (running processes, file handles).
    Small { mean: f64 },
    /// node_time_seconds: the scrape time.
    Time,
}

struct TemplateSeries {
    name: String,
    labels: Vec<(String, String)>,
    model: Model,
}

/// One node exporter's worth of series (90 of them).
fn node_exporter_template() -> Vec<TemplateSeries> {
    let mut t = Vec::new();
    let mut add = |name: &str, labels: &[(&str, &str)], model: Model| {
        t.push(TemplateSeries {
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            model,
        })
    };
    let modes = [
        ("idle", 0.70),
        ("iowait", 0.01),
        ("irq", 0.002),
        ("nice", 0.001),
        ("softirq", 0.01),
        ("steal", 0.002),
        ("system", 0.06),
        ("user", 0.2),
    ];
    for cpu in ["0", "1", "2", "3"] {
        for (mode, share) in modes {
            add(
                "node_cpu_seconds_total",
                &[("cpu", cpu), ("mode", mode)],
                Model::CpuSeconds { share },
            );
        }
    }
    for (name, model) in [
        (
            "node_memory_MemTotal_bytes",
            Model::Constant { scale: 16.0 * GIB },
        ),
        (
            "node_memory_MemFree_bytes",
            Model::Bytes {
                scale: 4.0 * GIB,
                wander: 8e6,
            },
        ),
        (
            "node_memory_MemAvailable_bytes",
            Model::Bytes {
                scale: 10.0 * GIB,
                wander: 8e6,
            },
        ),
        (
            "node_memory_Buffers_bytes",
            Model::Bytes {
                scale: 0.3 * GIB,
                wander: 2e5,
            },
        ),
        (
            "node_memory_Cached_bytes",
            Model::Bytes {
                scale: 6.0 * GIB,
                wander: 4e6,
            },
        ),
        (
            "node_memory_Active_bytes",
            Model::Bytes {
                scale: 5.0 * GIB,
                wander: 4e6,
            },
        ),
        (
            "node_memory_Inactive_bytes",
            Model::Bytes {
                scale: 4.0 * GIB,
                wander: 4e6,
            },
        ),
        (
            "node_memory_Dirty_bytes",
            Model::Bytes {
                scale: 0.01 * GIB,
                wander: 1e6,
            },
        ),
        (
            "node_memory_SwapTotal_bytes",
            Model::Constant { scale: 2.0 * GIB },
        ),
        (
            "node_memory_SwapFree_bytes",
            Model::Bytes {
                scale: 1.9 * GIB,
                wander: 1e4,
            },
        ),
        (
            "node_memory_Shmem_bytes",
            Model::Bytes {
                scale: 0.2 * GIB,
                wander: 1e5,
            },
        ),
        (
            "node_memory_Slab_bytes",
            Model::Bytes {
                scale: 0.5 * GIB,
                wander: 2e5,
            },
        ),
    ] {
        add(name, &[], model);
    }
    for device in ["eth0", "lo"] {
        for (direction, bytes_rate) in [("receive", 2e5), ("transmit", 1e5)] {
            let rate = if device == "lo" {
                bytes_rate / 10.0
            } else {
                bytes_rate
            };
            add(
                &format!("node_network_{direction}_bytes_total"),
                &[("device", device)],
                Model::Counter { rate },
            );
            add(
                &format!("node_network_{direction}_packets_total"),
                &[("device", device)],
                Model::Counter { rate: rate / 800.0 },
            );
            add(
                &format!("node_network_{direction}_errs_total"),
                &[("device", device)],
                Model::Rare,
            );
            add(
                &format!("node_network_{direction}_drop_total"),
                &[("device", device)],
                Model::Rare,
            );
        }
    }
    for (device, fstype, mountpoint, size) in [
        ("/dev/sda1", "ext4", "/", 50.0 * GIB),
        ("/dev/sdb1", "xfs", "/data", 500.0 * GIB),
        ("tmpfs", "tmpfs", "/run", 1.6 * GIB),
    ] {
        let labels = [
            ("device", device),
            ("fstype", fstype),
            ("mountpoint", mountpoint),
        ];
        add(
            "node_filesystem_avail_bytes",
            &labels,
            Model::Bytes {
                scale: size * 0.4,
                wander: size * 1e-6,
            },
        );
        add(
            "node_filesystem_free_bytes",
            &labels,
            Model::Bytes {
                scale: size * 0.45,
                wander: size * 1e-6,
            },
        );
        add(
            "node_filesystem_size_bytes",
            &labels,
            Model::Constant { scale: size },
        );
    }
    for device in ["sda", "sdb"] {
        let labels = [("device", device)];
        add(
            "node_disk_read_bytes_total",
            &labels,
            Model::Counter { rate: 5e4 },
        );
        add(
            "node_disk_written_bytes_total",
            &labels,
            Model::Counter { rate: 2e5 },
        );
        add(
            "node_disk_reads_completed_total",
            &labels,
            Model::Counter { rate: 5.0 },
        );
        add(
            "node_disk_writes_completed_total",
            &labels,
            Model::Counter { rate: 20.0 },
        );
        add(
            "node_disk_io_time_seconds_total",
            &labels,
            Model::CpuSeconds { share: 0.02 },
        );
    }
    add("node_load1", &[], Model::Load { mean: 0.8 });
    add("node_load5", &[], Model::Load { mean: 0.7 });
    add("node_load15", &[], Model::Load { mean: 0.6 });
    add(
        "node_context_switches_total",
        &[],
        Model::Counter { rate: 3000.0 },
    );
    add("node_intr_total", &[], Model::Counter { rate: 1500.0 });
    add("node_forks_total", &[], Model::Counter { rate: 2.0 });
    add("node_procs_running", &[], Model::Small { mean: 2.0 });
    add("node_procs_blocked", &[], Model::Small { mean: 0.2 });
    add(
        "node_boot_time_seconds",
        &[],
        Model::Constant { scale: 1.7e9 },
    );
    add("node_time_seconds", &[], Model::Time);
    add("node_filefd_allocated", &[], Model::Small { mean: 2000.0 });
    t
}

/// Scrape offsets of the simulated targets, all at or before the nominal time.
const MAX_SCRAPE_OFFSET_MS: i64 = 5_000;

struct SeriesGen {
    labels: LabelPairs,
    model: Model,
    offset_ms: i64,
    value: f64,
    rng: SplitMix,
}

impl SeriesGen {
    /// Series `index`: template entry `index % template.len()` of instance
    /// `index / template.len()`, so any count gives exactly that many series.
    fn new(index: usize, template: &[TemplateSeries]) -> Self {
        let entry = &template[index % template.len()];
        let instance = index / template.len();
        let jobs = ["node", "node", "node-db", "node-edge", "node-k8s"];
        let mut labels: LabelPairs = vec![
            (
                aiops_core::model::METRIC_NAME.to_string(),
                entry.name.clone(),
            ),
            (
                "instance".to_string(),
                format!("host-{instance:05}.dc{}.example.net:9100", instance % 3 + 1),
            ),
            ("job".to_string(), jobs[instance % jobs.len()].to_string()),
        ];
        labels.extend(entry.labels.iter().cloned());
        labels.sort();
        // Series of one target are scraped together: one offset per instance.
        let offset_ms =
            -(SplitMix::new(instance as u64 ^ 0x5eed).below(MAX_SCRAPE_OFFSET_MS as u64) as i64);
        let mut rng = SplitMix::new(index as u64);
        let uptime_s = 1e5 + rng.unit() * 3e6;
        let value = match entry.model {
            Model::CpuSeconds { share } => round(uptime_s * share * (0.5 + rng.unit()), 2),
            Model::Counter { rate } => (uptime_s * rate * (0.5 + rng.unit())).round(),
            Model::Rare => (rng.unit() * 20.0).floor(),
            Model::Bytes { scale, .. } => pages(scale * (0.7 + 0.6 * rng.unit())),
            Model::Constant { scale } => pages(scale * (0.9 + 0.2 * rng.unit())),
            Model::Load { mean } => round(mean * (0.5 + rng.unit()), 2),
            Model::Small { mean } => (mean * (0.5 + rng.unit())).round(),
            Model::Time => 0.0,
        };
        SeriesGen {
            labels,
            model: entry.model,
            offset_ms,
            value,
            rng,
        }
    }

    /// The value at `ts_ms`, one interval after the previous call.
    fn next(&mut self, ts_ms: i64, interval_ms: i64) -> f64 {
        let secs = interval_ms as f64 / 1000.0;
        let rng = &mut self.rng;
        self.value = match self.model {
            Model::CpuSeconds { share } => {
                round(self.value + secs * share * (0.4 + 1.2 * rng.unit()), 2)
            }
            Model::Counter { rate } => {
                self.value + (secs * rate * (0.2 + 1.6 * rng.unit())).round()
            }
            Model::Rare => self.value + if rng.unit() < 0.02 { 1.0 } else { 0.0 },
            Model::Bytes { scale, wander } => {
                let pull = (scale - self.value) * 0.01;
                pages((self.value + pull + wander * (rng.unit() - 0.5) * 2.0).max(0.0))
            }
            Model::Constant { .. } => self.value,
            Model::Load { mean } => round(
                (self.value + (mean - self.value) * 0.1 + (rng.unit() - 0.5) * 0.2).max(0.0),
                2,
            ),
            Model::Small { mean } => (mean + (rng.unit() - 0.5) * 2.0 * mean.max(1.0) * 0.3)
                .max(0.0)
                .round(),
            Model::Time => ts_ms as f64 / 1000.0 + round(rng.unit() * 0.01, 6),
        };
        self.value
    }
}

fn pages(bytes: f64) -> f64 {
    (bytes / 4096.0).round() * 4096.0
}

// ---------------------------------------------------------------------------
// Loki

async fn loki(args: LokiArgs) -> Result<Value> {
    ensure!(
        args.lines > 0
            && args.streams > 0
            && args.streams_per_request > 0
            && args.lines_per_stream > 0,
        "--lines, --streams, --streams-per-request and --lines-per-stream must be positive"
    );
    let step_ns = i64::try_from(args.line_interval.as_nanos()).context("--line-interval")?;
    ensure!(step_ns > 0, "--line-interval must be positive");
    let lanes = args.streams.div_ceil(args.streams_per_request);
    let lane_streams = |lane: usize| {
        let lo = lane * args.streams_per_request;
        lo..(lo + args.streams_per_request).min(args.streams)
    };
    // Whole requests, round-robin over the lanes, until enough lines.
    let mut slots = Vec::new();
    let mut planned_lines = 0;
    while planned_lines < args.lines {
        let r = slots.len();
        let (lane, seq) = (r % lanes, r / lanes);
        planned_lines += lane_streams(lane).len() * args.lines_per_stream;
        slots.push((lane, seq));
    }
    let blocks = slots.last().map_or(0, |&(_, seq)| seq + 1);
    // Each stream's last line a second before now.
    let per_stream = (blocks * args.lines_per_stream) as i64;
    let first_ns = now_ms() * NS_PER_MS - 1_000 * NS_PER_MS - per_stream * step_ns;
    let streams = log_streams(args.streams);

    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let requests: Vec<Planned> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (slots, streams, lane_streams) = (&slots, &streams, &lane_streams);
                let lines_per_stream = args.lines_per_stream;
                scope.spawn(move || {
                    slots
                        .iter()
                        .enumerate()
                        .skip(t)
                        .step_by(threads)
                        .map(|(r, &(lane, seq))| {
                            let mut rng = SplitMix::new(r as u64 ^ 0x10c1);
                            let batch = LogBatch {
                                tenant: String::new(),
                                streams: lane_streams(lane)
                                    .map(|s| {
                                        let (service, level) = &streams[s];
                                        LogStream {
                                            labels: vec![
                                                ("level".to_string(), level.to_string()),
                                                ("service_name".to_string(), service.clone()),
                                            ],
                                            entries: (0..lines_per_stream)
                                                .map(|j| {
                                                    let n = (seq * lines_per_stream + j) as i64;
                                                    let ts_ns = first_ns
                                                        + n * step_ns
                                                        + s as i64 * 1_000
                                                        + rng.below(1_000) as i64;
                                                    LogEntry {
                                                        ts_ns,
                                                        line: log_line(
                                                            ts_ns, service, level, &mut rng,
                                                        ),
                                                        metadata: Vec::new(),
                                                    }
                                                })
                                                .collect(),
                                        }
                                    })
                                    .collect(),
                            };
                            let planned = Planned {
                                lane,
                                seq,
                                body: Bytes::from(aiops_ingest::encode_loki_push(&batch)),
                                units: batch.line_count() as u64,
                                line_bytes: batch.byte_count() as u64,
                            };
                            (r, planned)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Planned)> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("an encoder thread panicked"))
            .collect();
        all.sort_by_key(|(r, _)| *r);
        all.into_iter().map(|(_, p)| p).collect()
    });
    let encode_seconds = started.elapsed().as_secs_f64();
    let lines_sent: u64 = requests.iter().map(|r| r.units).sum();
    let bytes_sent: u64 = requests.iter().map(|r| r.line_bytes).sum();
    let body_bytes: u64 = requests.iter().map(|r| r.body.len() as u64).sum();
    eprintln!(
        "intake-bench: {} Loki push requests, {} streams, {} lines, {:.1} MB of lines, {:.1} MB snappy, encoded in {:.1}s",
        requests.len(),
        args.streams,
        lines_sent,
        bytes_sent as f64 / 1e6,
        body_bytes as f64 / 1e6,
        encode_seconds
    );

    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    if let Some(tenant) = &args.tenant {
        headers.insert(
            HeaderName::from_static("x-scope-orgid"),
            HeaderValue::from_str(tenant).context("--tenant is not a valid header value")?,
        );
    }
    let run = measure(&args.target, headers, requests, lanes).await?;

    let mut report = Map::new();
    report.insert("target".into(), json!(run.name));
    report.insert("kind".into(), json!("loki_push_protobuf"));
    report.insert("url".into(), json!(args.target.url));
    report.insert("lines_sent".into(), json!(lines_sent));
    report.insert("lines_accepted".into(), json!(run.sent.ok_units));
    report.insert(
        "lines_stored".into(),
        opt(run.metrics.delta_sum(STORED_LINE_COUNTERS)),
    );
    report.insert("line_bytes_sent".into(), json!(bytes_sent));
    report.insert("line_bytes_accepted".into(), json!(run.sent.ok_line_bytes));
    report.insert(
        "avg_line_bytes".into(),
        json!(round(bytes_sent as f64 / lines_sent.max(1) as f64, 1)),
    );
    report.insert("cpu_seconds".into(), json!(round(run.cpu_seconds, 3)));
    report.insert(
        "mb_per_cpu_second".into(),
        json!(round(
            per(run.sent.ok_line_bytes as f64 / 1e6, run.cpu_seconds),
            2
        )),
    );
    report.insert(
        "lines_per_cpu_second".into(),
        json!(round(per(run.sent.ok_units as f64, run.cpu_seconds), 0)),
    );
    report.insert("wall_seconds".into(), json!(round(run.wall_seconds, 3)));
    report.insert(
        "mb_per_wall_second".into(),
        json!(round(
            per(run.sent.ok_line_bytes as f64 / 1e6, run.wall_seconds),
            2
        )),
    );
    report.insert(
        "cpu_seconds_with_settle".into(),
        json!(round(run.cpu_seconds_with_settle, 3)),
    );
    report.insert("rss_bytes_before".into(), json!(run.rss_before));
    report.insert("rss_bytes".into(), json!(run.rss_after));
    report.insert("rss_peak_bytes".into(), json!(run.rss_peak));
    report.insert(
        "requests".into(),
        json!(run.sent.ok_requests + run.sent.failed_requests),
    );
    report.insert("requests_failed".into(), json!(run.sent.failed_requests));
    report.insert("status_counts".into(), json!(run.sent.statuses));
    report.insert("first_error".into(), json!(run.sent.first_error));
    report.insert("streams".into(), json!(args.streams));
    report.insert(
        "streams_per_request".into(),
        json!(args.streams_per_request),
    );
    report.insert(
        "lines_per_stream_per_request".into(),
        json!(args.lines_per_stream),
    );
    report.insert("concurrency".into(), json!(args.target.concurrency));
    report.insert("body_bytes_sent".into(), json!(body_bytes));
    report.insert("encode_seconds".into(), json!(round(encode_seconds, 3)));
    report.insert(
        "client_cpu_seconds".into(),
        json!(round(run.client_cpu_seconds, 3)),
    );
    report.insert("target_metrics".into(), run.metrics.to_json());
    Ok(Value::Object(report))
}

/// `count` distinct (service_name, level) pairs: services first, five levels each.
fn log_streams(count: usize) -> Vec<(String, &'static str)> {
    const SERVICES: [&str; 20] = [
        "frontend",
        "checkout",
        "cart",
        "orders",
        "payments",
        "catalog",
        "recommendation",
        "shipping",
        "inventory",
        "search",
        "auth",
        "users",
        "notifications",
        "email",
        "pricing",
        "reviews",
        "ads",
        "gateway",
        "billing",
        "reporting",
    ];
    const LEVELS: [&str; 5] = ["debug", "info", "warn", "error", "critical"];
    (0..count)
        .map(|i| {
            let service = i / LEVELS.len();
            let name = SERVICES[service % SERVICES.len()];
            let name = match service / SERVICES.len() {
                0 => name.to_string(),
                region => format!("{name}-r{region}"),
            };
            (name, LEVELS[i % LEVELS.len()])
        })
        .collect()
}

/// A structured JSON log line of about 200 bytes, as a service would write it.
fn log_line(ts_ns: i64, service: &str, level: &str, rng: &mut SplitMix) -> String {
    const PATHS: [&str; 8] = [
        "/api/v1/orders",
        "/api/v1/cart/items",
        "/api/v1/products",
        "/api/v1/checkout",
        "/api/v1/users/me",
        "/healthz",
        "/api/v1/payments/authorize",
        "/api/v1/search",
    ];
    const METHODS: [&str; 3] = ["GET", "POST", "PUT"];
    let time = chrono::DateTime::from_timestamp_nanos(ts_ns).format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let trace = format!("{:016x}{:016x}", rng.next(), rng.next());
    let path = PATHS[rng.below(PATHS.len() as u64) as usize];
    let method = METHODS[rng.below(METHODS.len() as u64) as usize];
    let user = rng.below(100_000);
    match level {
        "debug" => format!(
            r#"{{"time":"{time}","level":"debug","service":"{service}","trace_id":"{trace}","msg":"cache lookup","key":"cart:u-{user}","hit":{},"elapsed_us":{}}}"#,
            rng.unit() < 0.8,
            rng.below(900) + 20
        ),
        "info" => format!(
            r#"{{"time":"{time}","level":"info","service":"{service}","trace_id":"{trace}","msg":"request completed","method":"{method}","path":"{path}","status":200,"duration_ms":{:.3},"user_id":"u-{user}"}}"#,
            rng.unit() * 120.0
        ),
        "warn" => format!(
            r#"{{"time":"{time}","level":"warn","service":"{service}","trace_id":"{trace}","msg":"slow upstream call","upstream":"{}","path":"{path}","duration_ms":{:.1},"threshold_ms":500}}"#,
            ["inventory:8080", "payments:8080", "redis:6379"][rng.below(3) as usize],
            500.0 + rng.unit() * 2000.0
        ),
        "error" => format!(
            r#"{{"time":"{time}","level":"error","service":"{service}","trace_id":"{trace}","msg":"request failed","method":"{method}","path":"{path}","status":{},"error":"upstream timed out after 2s","attempt":{}}}"#,
            [500, 502, 503, 504][rng.below(4) as usize],
            rng.below(3) + 1
        ),
        _ => format!(
            r#"{{"time":"{time}","level":"critical","service":"{service}","trace_id":"{trace}","msg":"database connection pool exhausted","pool":"primary","in_use":{},"waiters":{}}}"#,
            rng.below(10) + 90,
            rng.below(200)
        ),
    }
}

// ---------------------------------------------------------------------------
// Sending and measuring

struct Run {
    name: String,
    sent: SendOutcome,
    cpu_seconds: f64,
    cpu_seconds_with_settle: f64,
    wall_seconds: f64,
    client_cpu_seconds: f64,
    rss_before: u64,
    rss_after: u64,
    rss_peak: u64,
    metrics: MetricsDiff,
}

async fn measure(
    target: &TargetArgs,
    mut headers: HeaderMap,
    requests: Vec<Planned>,
    lanes: usize,
) -> Result<Run> {
    ensure!(target.concurrency > 0, "--concurrency must be positive");
    headers.insert(USER_AGENT, HeaderValue::from_static("intake-bench"));
    if let Some(token) = &target.token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}"))
                .context("--token is not a valid header value")?,
        );
    }
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(target.timeout)
        .pool_max_idle_per_host(target.concurrency)
        .build()
        .context("HTTP client")?;
    let metrics_url = match target.metrics_url.as_deref() {
        Some("none") => None,
        Some(url) => Some(url.to_string()),
        None => Some(metrics_url_for(&target.url)?),
    };
    let pid = target.pid;
    cpu_ticks(pid)
        .with_context(|| format!("cannot read /proc/{pid}/stat: is the target running?"))?;

    let before = scrape(&client, metrics_url.as_deref()).await;
    let rss_before = benches::status_bytes(pid, "VmRSS")?;
    let self_cpu0 = cpu_ticks(std::process::id())?;
    let cpu0 = cpu_ticks(pid)?;
    let started = Instant::now();
    let sent = send_all(&client, &target.url, requests, lanes, target.concurrency).await;
    let wall_seconds = started.elapsed().as_secs_f64();
    let cpu1 = cpu_ticks(pid).context("target gone during the run")?;
    let self_cpu1 = cpu_ticks(std::process::id())?;
    tokio::time::sleep(target.settle).await;
    let cpu2 = cpu_ticks(pid).context("target gone during the settle pause")?;
    let rss_after = benches::status_bytes(pid, "VmRSS")?;
    let rss_peak = benches::status_bytes(pid, "VmHWM")?;
    let after = scrape(&client, metrics_url.as_deref()).await;
    eprintln!(
        "intake-bench: {} requests ok, {} failed in {:.1}s",
        sent.ok_requests, sent.failed_requests, wall_seconds
    );
    Ok(Run {
        name: target.name.clone().unwrap_or_else(|| target.url.clone()),
        sent,
        cpu_seconds: (cpu1 - cpu0) as f64 / USER_HZ,
        cpu_seconds_with_settle: (cpu2 - cpu0) as f64 / USER_HZ,
        wall_seconds,
        client_cpu_seconds: (self_cpu1 - self_cpu0) as f64 / USER_HZ,
        rss_before,
        rss_after,
        rss_peak,
        metrics: MetricsDiff { before, after },
    })
}

#[derive(Default)]
struct SendOutcome {
    ok_requests: u64,
    failed_requests: u64,
    ok_units: u64,
    ok_line_bytes: u64,
    /// By status code, or "error" for transport failures.
    statuses: BTreeMap<String, u64>,
    first_error: Option<String>,
}

/// Sends `requests` (block-major order) with `concurrency` in flight; a
/// request waits until its lane's previous block was answered.
async fn send_all(
    client: &reqwest::Client,
    url: &str,
    requests: Vec<Planned>,
    lanes: usize,
    concurrency: usize,
) -> SendOutcome {
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    // Per lane: blocks answered so far.
    let done: Arc<Vec<tokio::sync::watch::Sender<usize>>> = Arc::new(
        (0..lanes)
            .map(|_| tokio::sync::watch::channel(0).0)
            .collect(),
    );
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url) = (client.clone(), url.to_string());
        let (requests, next, done) = (requests.clone(), next.clone(), done.clone());
        workers.spawn(async move {
            let mut outcome = SendOutcome::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = requests.get(i) else {
                    break;
                };
                let lane = &done[request.lane];
                // Earlier requests were all taken before this one, so the one
                // waited for is in flight or done: no deadlock.
                let mut watch = lane.subscribe();
                if watch
                    .wait_for(|&answered| answered >= request.seq)
                    .await
                    .is_err()
                {
                    break;
                }
                let result = client.post(&url).body(request.body.clone()).send().await;
                match result {
                    Ok(response) if response.status().is_success() => {
                        outcome.ok_requests += 1;
                        outcome.ok_units += request.units;
                        outcome.ok_line_bytes += request.line_bytes;
                        *outcome
                            .statuses
                            .entry(response.status().as_u16().to_string())
                            .or_default() += 1;
                        // Drain the (empty) body so the connection is reused.
                        let _ = response.bytes().await;
                    }
                    Ok(response) => {
                        outcome.failed_requests += 1;
                        let status = response.status();
                        *outcome
                            .statuses
                            .entry(status.as_u16().to_string())
                            .or_default() += 1;
                        let body = response.text().await.unwrap_or_default();
                        outcome.first_error.get_or_insert_with(|| {
                            format!("{status}: {}", truncate(body.trim(), 500))
                        });
                    }
                    Err(e) => {
                        outcome.failed_requests += 1;
                        *outcome.statuses.entry("error".to_string()).or_default() += 1;
                        outcome.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
                lane.send_modify(|answered| *answered = (*answered).max(request.seq + 1));
            }
            outcome
        });
    }
    let mut total = SendOutcome::default();
    while let Some(joined) = workers.join_next().await {
        let outcome = joined.unwrap_or_else(|e| SendOutcome {
            first_error: Some(format!("sender task failed: {e}")),
            ..SendOutcome::default()
        });
        total.ok_requests += outcome.ok_requests;
        total.failed_requests += outcome.failed_requests;
        total.ok_units += outcome.ok_units;
        total.ok_line_bytes += outcome.ok_line_bytes;
        for (status, n) in outcome.statuses {
            *total.statuses.entry(status).or_default() += n;
        }
        if total.first_error.is_none() {
            total.first_error = outcome.first_error;
        }
    }
    total
}

/// utime + stime of all the process' threads, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .context("malformed /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    let field = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .context("short /proc/<pid>/stat")?
            .parse::<u64>()
            .context("/proc/<pid>/stat field")
    };
    Ok(field(14)? + field(15)?)
}

fn metrics_url_for(url: &str) -> Result<String> {
    let scheme_end = url.find("://").context("--url needs a scheme")? + 3;
    let host_end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    Ok(format!("{}/metrics", &url[..host_end]))
}

/// Selected samples of the target's metrics page, by series text.
type Scraped = Option<BTreeMap<String, f64>>;

async fn scrape(client: &reqwest::Client, url: Option<&str>) -> Scraped {
    let url = url?;
    let text = match client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
    {
        Ok(response) => response.text().await.ok()?,
        Err(e) => {
            eprintln!("intake-bench: cannot read {url}: {e}");
            return None;
        }
    };
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || !METRIC_PREFIXES.iter().any(|p| line.starts_with(p)) {
            continue;
        }
        let (key, rest) = match line.rfind('}') {
            Some(i) if line.contains('{') => (&line[..=i], &line[i + 1..]),
            _ => match line.split_once(' ') {
                Some(split) => split,
                None => continue,
            },
        };
        let name = key.split('{').next().unwrap_or(key);
        // Exact names only: a prefix like aiops_store_samples must not pick up
        // aiops_store_samples_rejected_total.
        if !METRIC_PREFIXES.contains(&name) {
            continue;
        }
        if let Some(value) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            out.insert(key.to_string(), value);
        }
    }
    Some(out)
}

struct MetricsDiff {
    before: Scraped,
    after: Scraped,
}

impl MetricsDiff {
    fn name_of(key: &str) -> &str {
        key.split('{').next().unwrap_or(key)
    }

    fn delta(&self) -> Option<BTreeMap<String, f64>> {
        let after = self.after.as_ref()?;
        let before = self.before.clone().unwrap_or_default();
        Some(
            after
                .iter()
                .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
                .collect(),
        )
    }

    /// Summed increase of the named metrics, if the target exposes any of them.
    fn delta_sum(&self, names: &[&str]) -> Option<f64> {
        let delta = self.delta()?;
        let hits: Vec<f64> = delta
            .iter()
            .filter(|(k, _)| names.contains(&Self::name_of(k)))
            .map(|(_, v)| *v)
            .collect();
        (!hits.is_empty()).then(|| hits.iter().sum())
    }

    fn after_sum(&self, names: &[&str]) -> Option<f64> {
        let after = self.after.as_ref()?;
        let hits: Vec<f64> = after
            .iter()
            .filter(|(k, _)| names.contains(&Self::name_of(k)))
            .map(|(_, v)| *v)
            .collect();
        (!hits.is_empty()).then(|| hits.iter().sum())
    }

    fn to_json(&self) -> Value {
        match (&self.after, self.delta()) {
            (Some(after), Some(delta)) => json!({ "after": after, "delta": delta }),
            _ => Value::Null,
        }
    }
}

// ---------------------------------------------------------------------------
// Small helpers

/// SplitMix64: deterministic, so every run sends the same values.
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64) -> Self {
        let mut s = SplitMix(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xd1b5_4a32_d192_ed03);
        s.next();
        s
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

fn per(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 { amount / seconds } else { 0.0 }
}

fn opt(x: Option<f64>) -> Value {
    x.map_or(Value::Null, |v| json!(v))
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `500ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: {s:?}"))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit in {s:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn metrics_url_is_the_origin_plus_metrics() {
        assert_eq!(
            metrics_url_for("http://127.0.0.1:9800/api/v1/write").expect("url"),
            "http://127.0.0.1:9800/metrics"
        );
        assert_eq!(
            metrics_url_for("http://h:1").expect("url"),
            "http://h:1/metrics"
        );
    }

    #[test]
    fn series_are_distinct_and_sorted() {
        let template = node_exporter_template();
        assert_eq!(template.len(), 90);
        let n = 1_000;
        let labels: std::collections::HashSet<LabelPairs> = (0..n)
            .map(|i| SeriesGen::new(i, &template).labels)
            .collect();
        assert_eq!(labels.len(), n);
        for l in &labels {
            assert!(l.windows(2).all(|w| w[0].0 < w[1].0), "{l:?}");
        }
    }

    #[test]
    fn counters_never_decrease() {
        let template = node_exporter_template();
        for i in 0..template.len() {
            let mut s = SeriesGen::new(i, &template);
            let counter = matches!(
                s.model,
                Model::CpuSeconds { .. } | Model::Counter { .. } | Model::Rare
            );
            let mut last = s.value;
            for k in 0..100 {
                let v = s.next(1_700_000_000_000 + k * 15_000, 15_000);
                assert!(v.is_finite() && v >= 0.0);
                if counter {
                    assert!(v >= last, "{:?}", s.labels);
                }
                last = v;
            }
        }
    }

    #[test]
    fn log_lines_are_json_of_about_200_bytes() {
        let mut rng = SplitMix::new(1);
        let mut total = 0;
        for (service, level) in log_streams(10) {
            let line = log_line(1_700_000_000_123_456_789, &service, level, &mut rng);
            let parsed: Value = serde_json::from_str(&line).expect("valid JSON");
            assert_eq!(parsed["level"], level);
            total += line.len();
        }
        let avg = total / 10;
        assert!((150..=260).contains(&avg), "{avg}");
    }

    #[test]
    fn log_streams_are_distinct() {
        let streams = log_streams(400);
        let set: std::collections::HashSet<_> = streams.iter().collect();
        assert_eq!(set.len(), 400);
    }

    #[test]
    fn proc_readers_read_this_process() {
        let pid = std::process::id();
        cpu_ticks(pid).expect("stat");
        assert!(benches::status_bytes(pid, "VmRSS").expect("status") > 0);
    }
}
