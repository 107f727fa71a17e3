//! Service signals derived from raw series each evaluation: request rate,
//! error ratio and latency quantiles from the server histogram, the same
//! from the client histogram per peer, saturation (CPU, memory, open fds),
//! `up`, and the facts change detection needs (start time, version). What
//! PromQL's `rate` and `histogram_quantile` would give over a short window,
//! computed straight from the store.

use std::collections::BTreeMap;

use aiops_core::labels::service_of;
use aiops_core::{Labels, SeriesStore};
use aiops_detect::SignalKind as DetectKind;
use serde::{Deserialize, Serialize};

/// Metric and label names the derivation reads. The defaults fit the shop
/// (OpenTelemetry HTTP names as Prometheus exports them) and the standard
/// process collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricNames {
    pub server_histogram: String,
    pub client_histogram: String,
    pub status_label: String,
    /// The server histogram's route label, and the routes that are not
    /// user traffic (probes, scrapes): left out of rate, errors, latency.
    pub route_label: String,
    pub ignored_routes: Vec<String>,
    pub peer_label: String,
    pub error_type_label: String,
    pub cpu_seconds: String,
    pub resident_memory: String,
    pub open_fds: String,
    pub start_time: String,
    pub up: String,
    /// A readiness probe's result per instance, 1 or 0 (the engine's
    /// scraper records it when a job has a `readiness_path`).
    pub ready: String,
    /// Series whose name ends with this carry a `version` label.
    pub build_info_suffix: String,
    pub version_label: String,
    pub instance_label: String,
}

impl Default for MetricNames {
    fn default() -> Self {
        MetricNames {
            server_histogram: "http_server_request_duration_seconds".into(),
            client_histogram: "http_client_request_duration_seconds".into(),
            status_label: "http_response_status_code".into(),
            route_label: "http_route".into(),
            ignored_routes: ["/healthz", "/readyz", "/metrics"]
                .map(String::from)
                .to_vec(),
            peer_label: "peer_service".into(),
            error_type_label: "error_type".into(),
            cpu_seconds: "process_cpu_seconds_total".into(),
            resident_memory: "process_resident_memory_bytes".into(),
            open_fds: "process_open_fds".into(),
            start_time: "process_start_time_seconds".into(),
            up: "up".into(),
            ready: "aiops_target_ready".into(),
            build_info_suffix: "_build_info".into(),
            version_label: "version".into(),
            instance_label: "instance".into(),
        }
    }
}

/// One derived value of one service (or of one service's view of a peer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DerivedValue {
    pub service: String,
    pub peer: Option<String>,
    pub kind: DetectKind,
    /// `request_rate`, `error_ratio`, `latency_p50`, `latency_p90`,
    /// `latency_p99` (from 100 requests in the window), `cpu`, `memory`,
    /// `open_fds`, `up`, `peer_error_ratio`, `peer_latency_p90`.
    pub metric: &'static str,
    pub value: f64,
}

impl DerivedValue {
    pub fn key(&self) -> String {
        match &self.peer {
            Some(peer) => format!("{}->{}/{}", self.service, peer, self.metric),
            None => format!("{}/{}", self.service, self.metric),
        }
    }
}

/// What change detection needs about one scraped process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceFacts {
    pub service: String,
    pub instance: String,
    pub start_time: Option<f64>,
    pub up: Option<f64>,
    pub ready: Option<f64>,
    pub version: Option<String>,
}

impl InstanceFacts {
    fn new(service: &str, instance: &str) -> Self {
        InstanceFacts {
            service: service.to_owned(),
            instance: instance.to_owned(),
            start_time: None,
            up: None,
            ready: None,
            version: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Derived {
    pub ts_ms: i64,
    pub values: Vec<DerivedValue>,
    /// Caller → callee, from the client histogram's peer label.
    pub edges: Vec<(String, String)>,
    pub instances: Vec<InstanceFacts>,
}

/// Requests a window needs before its p50/p90 latency is judged.
pub const MIN_REQUESTS_FOR_QUANTILE: f64 = 10.0;
/// Requests a window needs before its p99 latency is judged.
pub const MIN_REQUESTS_FOR_P99: f64 = 100.0;

/// Derives every service's values at `now_ms` from the last `window_ms`.
pub fn derive(
    store: &SeriesStore,
    names: &MetricNames,
    service_keys: &[&str],
    now_ms: i64,
    window_ms: i64,
) -> Derived {
    let from = now_ms - window_ms;
    let server_count = format!("{}_count", names.server_histogram);
    let server_bucket = format!("{}_bucket", names.server_histogram);
    let client_count = format!("{}_count", names.client_histogram);
    let client_bucket = format!("{}_bucket", names.client_histogram);
    let wanted = [
        server_count.as_str(),
        server_bucket.as_str(),
        client_count.as_str(),
        client_bucket.as_str(),
        names.cpu_seconds.as_str(),
        names.resident_memory.as_str(),
        names.open_fds.as_str(),
        names.start_time.as_str(),
        names.up.as_str(),
        names.ready.as_str(),
    ];
    // Read further back than the window to tell a counter that appeared
    // inside the window (its first increments, e.g. the first 500s of a
    // fault, which `rate` alone would miss) from one that was there before.
    let series = store.read_by_name(&wanted, from - 3 * window_ms, now_ms);
    let mut seen_before: BTreeMap<&str, bool> = BTreeMap::new();
    for (labels, samples) in &series {
        if let Some(service) = service_of(labels, service_keys) {
            let before = samples.first().is_some_and(|(ts, _)| *ts < from);
            *seen_before.entry(service).or_default() |= before;
        }
    }

    let mut acc: BTreeMap<(String, Option<String>), Acc> = BTreeMap::new();
    let mut facts: BTreeMap<(String, String), InstanceFacts> = BTreeMap::new();
    for (labels, samples) in &series {
        let Some(service) = service_of(labels, service_keys) else {
            continue;
        };
        let Some(name) = labels.metric_name() else {
            continue;
        };
        let samples: Vec<(i64, f64)> = samples
            .iter()
            .copied()
            .filter(|(_, v)| !v.is_nan())
            .collect();
        let Some(&(_, last)) = samples.last() else {
            continue;
        };
        let instance = labels.get(&names.instance_label).unwrap_or("").to_owned();
        let is_client = name == client_count || name == client_bucket;
        if !is_client
            && (name == server_count || name == server_bucket)
            && labels
                .get(&names.route_label)
                .is_some_and(|route| names.ignored_routes.iter().any(|r| r == route))
        {
            continue;
        }
        let peer = if is_client {
            match labels.get(&names.peer_label) {
                Some(p) if !p.is_empty() => Some(p.to_owned()),
                _ => continue,
            }
        } else {
            None
        };
        let entry = acc.entry((service.to_owned(), peer)).or_default();
        if name == server_count || name == client_count {
            let Some(rate) = rate(&samples) else { continue };
            entry.rate += rate;
            entry.has_rate = true;
            if is_error(labels, names, is_client) {
                entry.error_rate += rate;
            }
        } else if name == server_bucket || name == client_bucket {
            let (Some(le), Some(rate)) = (labels.get("le").and_then(parse_le), rate(&samples))
            else {
                continue;
            };
            *entry.buckets.entry(OrderedLe(le)).or_default() += rate;
        } else if name == names.cpu_seconds {
            if let Some(rate) = rate(since_last_reset(&samples)) {
                entry.cpu = Some(entry.cpu.unwrap_or(0.0) + rate);
            }
        } else if name == names.resident_memory {
            entry.memory = Some(entry.memory.unwrap_or(0.0) + last);
        } else if name == names.open_fds {
            entry.fds = Some(entry.fds.unwrap_or(0.0) + last);
        } else if name == names.start_time || name == names.up || name == names.ready {
            let fact = facts
                .entry((service.to_owned(), instance.clone()))
                .or_insert_with(|| InstanceFacts::new(service, &instance));
            if name == names.up {
                fact.up = Some(last);
                entry.up = Some(entry.up.map_or(last, |u: f64| u.min(last)));
            } else if name == names.ready {
                fact.ready = Some(last);
            } else {
                fact.start_time = Some(last);
            }
        }
    }
    for (labels, (_, _)) in store.latest_by_suffix(&names.build_info_suffix, from, now_ms) {
        let (Some(service), Some(version)) = (
            service_of(&labels, service_keys),
            labels.get(&names.version_label),
        ) else {
            continue;
        };
        let instance = labels.get(&names.instance_label).unwrap_or("").to_owned();
        facts
            .entry((service.to_owned(), instance.clone()))
            .or_insert_with(|| InstanceFacts::new(service, &instance))
            .version = Some(version.to_owned());
    }

    let window_secs = window_ms as f64 / 1000.0;
    let mut derived = Derived {
        ts_ms: now_ms,
        ..Derived::default()
    };
    for ((service, peer), a) in acc {
        if let Some(peer) = &peer {
            derived.edges.push((service.clone(), peer.clone()));
        }
        let mut push = |kind, metric, value: f64| {
            if value.is_finite() {
                derived.values.push(DerivedValue {
                    service: service.clone(),
                    peer: peer.clone(),
                    kind,
                    metric,
                    value,
                });
            }
        };
        let client = peer.is_some();
        if a.has_rate {
            if !client {
                push(DetectKind::RequestRate, "request_rate", a.rate);
            }
            if a.rate > 0.0 {
                let ratio = a.error_rate / a.rate;
                if client {
                    push(DetectKind::PeerErrorRatio, "peer_error_ratio", ratio);
                } else {
                    push(DetectKind::ErrorRatio, "error_ratio", ratio);
                }
            }
        }
        // A quantile is only as good as the requests behind it: at a few
        // requests per second, p99 over a 15 s window is the single slowest
        // request, and one slow request stays in the window for three
        // evaluations. p99 is judged from 100 requests in the window on.
        let observed = a.buckets.values().next_back().copied().unwrap_or(0.0) * window_secs;
        if observed >= MIN_REQUESTS_FOR_QUANTILE {
            if client {
                push(
                    DetectKind::PeerLatency,
                    "peer_latency_p90",
                    quantile(0.9, &a.buckets),
                );
            } else {
                push(
                    DetectKind::Latency,
                    "latency_p50",
                    quantile(0.5, &a.buckets),
                );
                push(
                    DetectKind::Latency,
                    "latency_p90",
                    quantile(0.9, &a.buckets),
                );
                if observed >= MIN_REQUESTS_FOR_P99 {
                    push(
                        DetectKind::Latency,
                        "latency_p99",
                        quantile(0.99, &a.buckets),
                    );
                }
            }
        }
        if let Some(cpu) = a.cpu {
            push(DetectKind::Cpu, "cpu", cpu);
        }
        if let Some(memory) = a.memory {
            push(DetectKind::Memory, "memory", memory);
        }
        if let Some(fds) = a.fds {
            push(DetectKind::OpenFds, "open_fds", fds);
        }
        if let Some(up) = a.up {
            push(DetectKind::Up, "up", up);
        }
    }
    derived.instances = facts.into_values().collect();
    derived
}

#[derive(Default)]
struct Acc {
    has_rate: bool,
    rate: f64,
    error_rate: f64,
    buckets: BTreeMap<OrderedLe, f64>,
    cpu: Option<f64>,
    memory: Option<f64>,
    fds: Option<f64>,
    up: Option<f64>,
}

/// A bucket bound that sorts, `+Inf` last.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderedLe(pub f64);

impl Eq for OrderedLe {}

impl PartialOrd for OrderedLe {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedLe {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn parse_le(raw: &str) -> Option<f64> {
    match raw {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        _ => raw.parse().ok().filter(|v: &f64| !v.is_nan()),
    }
}

fn is_error(labels: &Labels, names: &MetricNames, client: bool) -> bool {
    let server_error = labels
        .get(&names.status_label)
        .is_some_and(|code| code.starts_with('5'));
    let client_error = client
        && labels
            .get(&names.error_type_label)
            .is_some_and(|e| !e.is_empty());
    server_error || client_error
}

/// Per-second increase of a counter over the samples, counter resets
/// handled as Prometheus does (a drop means the counter restarted from 0).
pub fn rate(samples: &[(i64, f64)]) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    let span_ms = last.0 - first.0;
    if samples.len() < 2 || span_ms <= 0 {
        return None;
    }
    let increase: f64 = samples
        .windows(2)
        .map(|pair| {
            let (before, after) = (pair[0].1, pair[1].1);
            if after >= before {
                after - before
            } else {
                after
            }
        })
        .sum();
    Some(increase / (span_ms as f64 / 1000.0))
}

/// The samples of the process running now. A process counter that drops
/// was started again from zero by a new process: the CPU that matters is the
/// new one's, not an average with the process a restart replaced (which
/// would keep a cured runaway on the books for as long as it stays in the
/// window).
fn since_last_reset(samples: &[(i64, f64)]) -> &[(i64, f64)] {
    let start = samples
        .windows(2)
        .rposition(|pair| pair[1].1 < pair[0].1)
        .map_or(0, |i| i + 1);
    &samples[start..]
}

/// `histogram_quantile` over cumulative bucket rates: linear interpolation
/// inside the bucket holding the rank; the highest finite bound when the
/// rank falls in `+Inf`. NaN without observations.
pub fn quantile(q: f64, buckets: &BTreeMap<OrderedLe, f64>) -> f64 {
    let Some((_, &total)) = buckets.iter().next_back() else {
        return f64::NAN;
    };
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let mut lower_bound = 0.0;
    let mut lower_count = 0.0;
    for (&OrderedLe(le), &count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return lower_bound;
            }
            let in_bucket = count - lower_count;
            if in_bucket <= 0.0 {
                return le;
            }
            return lower_bound + (le - lower_bound) * (rank - lower_count) / in_bucket;
        }
        lower_bound = le;
        lower_count = count;
    }
    lower_bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiops_core::model::{SampleBatch, SampleValue, SeriesSamples};
    use aiops_core::{DEFAULT_SERVICE_KEYS, StoreConfig};

    const T0: i64 = 1_700_000_000_000;

    /// The shop's metric names and service labels, at `now_ms` over `window_ms`.
    fn derive_at(store: &SeriesStore, now_ms: i64, window_ms: i64) -> Derived {
        derive(
            store,
            &MetricNames::default(),
            &DEFAULT_SERVICE_KEYS,
            now_ms,
            window_ms,
        )
    }

    fn value_of(d: &Derived, key: &str) -> Option<f64> {
        d.values.iter().find(|v| v.key() == key).map(|v| v.value)
    }

    fn series(labels: &[(&str, &str)], points: &[(i64, f64)]) -> SeriesSamples {
        let mut pairs: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        pairs.sort();
        SeriesSamples {
            labels: pairs,
            samples: points
                .iter()
                .map(|&(ts_ms, value)| SampleValue { ts_ms, value })
                .collect(),
        }
    }

    fn counter(labels: &[(&str, &str)], per_second: f64) -> SeriesSamples {
        let points: Vec<(i64, f64)> = (0..5)
            .map(|i| (T0 + i * 5_000, 100.0 + per_second * 5.0 * i as f64))
            .collect();
        series(labels, &points)
    }

    #[test]
    fn rates_ratios_and_quantiles() {
        let store = SeriesStore::new(StoreConfig::default());
        let h = "http_server_request_duration_seconds";
        let count = format!("{h}_count");
        let bucket = format!("{h}_bucket");
        let batch = SampleBatch {
            series: vec![
                counter(
                    &[
                        ("__name__", &count),
                        ("job", "payments"),
                        ("http_response_status_code", "200"),
                    ],
                    9.0,
                ),
                counter(
                    &[
                        ("__name__", &count),
                        ("job", "payments"),
                        ("http_response_status_code", "500"),
                    ],
                    1.0,
                ),
                // probes and scrapes are not user traffic: left out
                counter(
                    &[
                        ("__name__", &count),
                        ("job", "payments"),
                        ("http_route", "/readyz"),
                        ("http_response_status_code", "503"),
                    ],
                    5.0,
                ),
                counter(
                    &[
                        ("__name__", &bucket),
                        ("job", "payments"),
                        ("http_route", "/metrics"),
                        ("le", "+Inf"),
                    ],
                    5.0,
                ),
                counter(
                    &[("__name__", &bucket), ("job", "payments"), ("le", "0.1")],
                    5.0,
                ),
                counter(
                    &[("__name__", &bucket), ("job", "payments"), ("le", "0.5")],
                    9.0,
                ),
                counter(
                    &[("__name__", &bucket), ("job", "payments"), ("le", "+Inf")],
                    10.0,
                ),
                counter(
                    &[
                        ("__name__", "http_client_request_duration_seconds_count"),
                        ("job", "checkout"),
                        ("peer_service", "payments"),
                        ("error_type", "timeout"),
                    ],
                    2.0,
                ),
                counter(
                    &[
                        ("__name__", "http_client_request_duration_seconds_count"),
                        ("job", "checkout"),
                        ("peer_service", "payments"),
                        ("http_response_status_code", "200"),
                    ],
                    6.0,
                ),
                series(
                    &[("__name__", "up"), ("job", "payments"), ("instance", "a:1")],
                    &[(T0, 1.0), (T0 + 5_000, 0.0)],
                ),
                series(
                    &[
                        ("__name__", "shop_build_info"),
                        ("job", "payments"),
                        ("instance", "a:1"),
                        ("version", "1.2.3"),
                    ],
                    &[(T0, 1.0)],
                ),
            ],
            ..Default::default()
        };
        store.append(&batch, T0 + 20_000);
        let d = derive_at(&store, T0 + 20_000, 30_000);
        let get = |key: &str| {
            value_of(&d, key).unwrap_or_else(|| panic!("{key} missing in {:?}", d.values))
        };
        assert!((get("payments/request_rate") - 10.0).abs() < 1e-9);
        assert!((get("payments/error_ratio") - 0.1).abs() < 1e-9);
        // rank 5 of 10 falls at the top of the first bucket
        assert!((get("payments/latency_p50") - 0.1).abs() < 1e-9);
        // rank 9.9 is in +Inf: the highest finite bound
        assert!((get("payments/latency_p99") - 0.5).abs() < 1e-9);
        assert!((get("checkout->payments/peer_error_ratio") - 0.25).abs() < 1e-9);
        assert_eq!(get("payments/up"), 0.0);
        assert_eq!(
            d.edges,
            vec![("checkout".to_string(), "payments".to_string())]
        );
        let fact = d
            .instances
            .iter()
            .find(|f| f.service == "payments")
            .unwrap();
        assert_eq!(fact.version.as_deref(), Some("1.2.3"));
        assert_eq!(fact.up, Some(0.0));
    }

    #[test]
    fn a_counter_born_inside_the_window_counts_from_zero() {
        // the first 500s of a fault create a new series: its first value
        // is an increase, not a starting point
        let store = SeriesStore::new(StoreConfig::default());
        let count = "http_server_request_duration_seconds_count";
        let ok: Vec<(i64, f64)> = (0..20).map(|i| (T0 + i * 5_000, 10.0 * i as f64)).collect();
        let errors = [(T0 + 90_000, 4.0), (T0 + 95_000, 8.0)];
        let batch = SampleBatch {
            series: vec![
                series(
                    &[
                        ("__name__", count),
                        ("job", "payments"),
                        ("http_response_status_code", "200"),
                    ],
                    &ok,
                ),
                series(
                    &[
                        ("__name__", count),
                        ("job", "payments"),
                        ("http_response_status_code", "500"),
                    ],
                    &errors,
                ),
            ],
            ..Default::default()
        };
        store.append(&batch, T0 + 95_000);
        let d = derive_at(&store, T0 + 95_000, 15_000);
        let ratio = value_of(&d, "payments/error_ratio");
        assert!(
            ratio.is_some_and(|r| r > 0.2),
            "the new 500 series counts: {ratio:?}"
        );
    }

    #[test]
    fn quantiles_need_enough_requests_behind_them() {
        let store = SeriesStore::new(StoreConfig::default());
        let bucket = "http_server_request_duration_seconds_bucket";
        // 2 requests per second over a 15 s window: 30 requests
        let batch = SampleBatch {
            series: vec![
                counter(
                    &[("__name__", bucket), ("job", "orders"), ("le", "0.1")],
                    2.0,
                ),
                counter(
                    &[("__name__", bucket), ("job", "orders"), ("le", "+Inf")],
                    2.0,
                ),
                counter(
                    &[("__name__", bucket), ("job", "quiet"), ("le", "+Inf")],
                    0.1,
                ),
            ],
            ..Default::default()
        };
        store.append(&batch, T0 + 20_000);
        let d = derive_at(&store, T0 + 20_000, 15_000);
        let keys: Vec<String> = d.values.iter().map(DerivedValue::key).collect();
        assert!(keys.contains(&"orders/latency_p90".to_string()), "{keys:?}");
        assert!(
            !keys.contains(&"orders/latency_p99".to_string()),
            "{keys:?}"
        );
        assert!(
            !keys.iter().any(|k| k.starts_with("quiet/latency")),
            "{keys:?}"
        );
    }

    #[test]
    fn counter_resets_are_not_negative_rates() {
        let r = rate(&[(0, 10.0), (1_000, 20.0), (2_000, 5.0)]).unwrap();
        assert!((r - 7.5).abs() < 1e-9, "{r}");
        assert_eq!(rate(&[(0, 1.0)]), None);
        assert_eq!(rate(&[(0, 1.0), (0, 2.0)]), None);
    }

    #[test]
    fn cpu_after_a_restart_is_the_new_process_alone() {
        let store = SeriesStore::new(StoreConfig::default());
        let cpu = "process_cpu_seconds_total";
        // a runaway at two cores for 40 s, a restart, then 0.1 core
        let mut samples: Vec<(i64, f64)> = (0..9)
            .map(|i| (T0 + i * 5_000, 2.0 * 5.0 * i as f64))
            .collect();
        samples.extend((0..3).map(|i| (T0 + 45_000 + i * 5_000, 0.1 + 0.5 * i as f64)));
        let batch = SampleBatch {
            series: vec![series(&[("__name__", cpu), ("job", "orders")], &samples)],
            ..Default::default()
        };
        store.append(&batch, T0 + 55_000);
        let d = derive_at(&store, T0 + 55_000, 15_000);
        let value = value_of(&d, "orders/cpu");
        assert!(
            value.is_some_and(|v| (v - 0.1).abs() < 1e-9),
            "the restarted process's own rate: {value:?}"
        );
        // with one sample of the new process there is no rate yet
        assert_eq!(
            since_last_reset(&[(0, 5.0), (1_000, 9.0), (2_000, 0.2)]).len(),
            1
        );
        assert_eq!(since_last_reset(&[(0, 5.0), (1_000, 9.0)]).len(), 2);
    }

    #[test]
    fn quantile_of_nothing_is_nan() {
        assert!(quantile(0.9, &BTreeMap::new()).is_nan());
        let mut b = BTreeMap::new();
        b.insert(OrderedLe(1.0), 0.0);
        b.insert(OrderedLe(f64::INFINITY), 0.0);
        assert!(quantile(0.9, &b).is_nan());
    }
}
