//! The engine's own metrics, named `aiops_<name>_<unit>` with counters
//! ending in `_total` and bounded label values; plus process metrics.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// remote_write_v1, remote_write_v2, scrape, loki_protobuf, loki_json, alertmanager
    pub source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    pub endpoint: &'static str,
    /// A bounded, snake_case reason from the decoder or the store.
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// restart, rollback, scale, annotate, wait, escalate, undo-*, other
    pub action: &'static str,
    /// The state entered, verified, verification_failed, other
    pub event: &'static str,
}

const ACTIONS: [&str; 8] = [
    "restart",
    "rollback",
    "scale",
    "annotate",
    "wait",
    "escalate",
    "undo-rollback",
    "undo-scale",
];
const EVENTS: [&str; 11] = [
    "planned",
    "pending_approval",
    "approved",
    "denied",
    "running",
    "succeeded",
    "failed",
    "undone",
    "skipped",
    "verified",
    "verification_failed",
];

fn bounded(value: &str, known: &[&'static str]) -> &'static str {
    known
        .iter()
        .find(|k| **k == value)
        .copied()
        .unwrap_or("other")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

type DurationFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

fn http_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

pub struct EngineMetrics {
    registry: Mutex<Registry>,
    pub samples_ingested: Family<SourceLabels, Counter>,
    pub log_lines_ingested: Family<SourceLabels, Counter>,
    pub log_bytes_ingested: Family<SourceLabels, Counter>,
    pub alerts_received: Family<KindLabels, Counter>,
    pub requests_rejected: Family<RejectLabels, Counter>,
    pub samples_rejected: Family<RejectLabels, Counter>,
    pub ignored: Family<KindLabels, Counter>,
    pub http_duration: DurationFamily,
    pub actions: Family<ActionLabels, Counter>,
}

impl EngineMetrics {
    pub fn new() -> Arc<Self> {
        let mut root = Registry::default();
        // Collectors write their own full names, so process metrics sit on the
        // root and keep their standard names; ours are prefixed.
        root.register_collector(Box::new(process_collector::ProcessCollector));
        let registry = root.sub_registry_with_prefix("aiops");
        let samples_ingested = Family::<SourceLabels, Counter>::default();
        registry.register(
            "ingest_samples",
            "Samples accepted into the store",
            samples_ingested.clone(),
        );
        let log_lines_ingested = Family::<SourceLabels, Counter>::default();
        registry.register(
            "ingest_log_lines",
            "Log lines accepted into the store",
            log_lines_ingested.clone(),
        );
        let log_bytes_ingested = Family::<SourceLabels, Counter>::default();
        registry.register_with_unit(
            "ingest_log",
            "Uncompressed log line bytes accepted into the store",
            Unit::Bytes,
            log_bytes_ingested.clone(),
        );
        let alerts_received = Family::<KindLabels, Counter>::default();
        registry.register(
            "ingest_alerts",
            "Alerts received from Alertmanager, by outcome (new or duplicate)",
            alerts_received.clone(),
        );
        let requests_rejected = Family::<RejectLabels, Counter>::default();
        registry.register(
            "ingest_rejected_requests",
            "Ingest requests refused, by endpoint and reason",
            requests_rejected.clone(),
        );
        let samples_rejected = Family::<RejectLabels, Counter>::default();
        registry.register(
            "store_rejected_samples",
            "Samples or lines the store refused or skipped, by reason",
            samples_rejected.clone(),
        );
        let ignored = Family::<KindLabels, Counter>::default();
        registry.register(
            "ingest_ignored",
            "Parts of accepted requests the engine does not use (histograms, exemplars, metadata)",
            ignored.clone(),
        );
        let http_duration: DurationFamily = Family::new_with_constructor(http_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Duration of HTTP requests",
            Unit::Seconds,
            http_duration.clone(),
        );
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "remediation_action_events",
            "Action ledger events appended, by action and the state (or verdict) entered",
            actions.clone(),
        );
        Arc::new(Self {
            actions,
            registry: Mutex::new(root),
            samples_ingested,
            log_lines_ingested,
            log_bytes_ingested,
            alerts_received,
            requests_rejected,
            samples_rejected,
            ignored,
            http_duration,
        })
    }

    /// Registers metrics under the `aiops_` prefix.
    pub fn register(&self, add: impl FnOnce(&mut Registry)) {
        if let Ok(mut registry) = self.registry.lock() {
            add(registry.sub_registry_with_prefix("aiops"));
        }
    }

    /// Adds a collector under the `aiops_` prefix.
    pub fn register_collector(&self, collector: Box<dyn prometheus_client::collector::Collector>) {
        if let Ok(mut registry) = self.registry.lock() {
            registry
                .sub_registry_with_prefix("aiops")
                .register_collector(collector);
        }
    }

    pub fn count_action(&self, action: &str, event: &str) {
        self.actions
            .get_or_create(&ActionLabels {
                action: bounded(action, &ACTIONS),
                event: bounded(event, &EVENTS),
            })
            .inc();
    }

    pub fn reject(&self, endpoint: &'static str, reason: &'static str) {
        self.requests_rejected
            .get_or_create(&RejectLabels { endpoint, reason })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        if let Ok(registry) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}

pub async fn metrics_handler(State(metrics): State<Arc<EngineMetrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        metrics.encode(),
    )
        .into_response()
}

pub async fn track(
    State(metrics): State<Arc<EngineMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let method = request.method().as_str().to_string();
    let response = next.run(request).await;
    metrics
        .http_duration
        .get_or_create(&HttpLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The stores' sizes and running totals, read at scrape time.
pub struct StoreCollector {
    pub series: Arc<aiops_core::SeriesStore>,
    pub logs: Arc<aiops_core::LogStore>,
    pub alerts: Arc<aiops_core::AlertStore>,
}

impl prometheus_client::collector::Collector for StoreCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;

        let s = self.series.stats();
        let l = self.logs.stats();
        let a = self.alerts.stats();
        let gauges: [(&str, &str, Option<Unit>, i64); 7] = [
            (
                "store_active_series",
                "Series held in the store",
                None,
                s.active_series as i64,
            ),
            (
                "store_samples",
                "Samples held in the store",
                None,
                s.samples as i64,
            ),
            (
                "store_series_memory",
                "Approximate memory held by series and samples",
                Some(Unit::Bytes),
                s.approx_bytes as i64,
            ),
            (
                "store_log_streams",
                "Log streams held in the store",
                None,
                l.streams as i64,
            ),
            (
                "store_log_entries",
                "Log entries held in the store",
                None,
                l.entries as i64,
            ),
            (
                "store_log_memory",
                "Approximate memory held by log streams",
                Some(Unit::Bytes),
                l.approx_bytes as i64,
            ),
            (
                "store_alert_episodes",
                "Alert episodes held",
                None,
                a.episodes as i64,
            ),
        ];
        for (name, help, unit, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(
                name,
                help,
                unit.as_ref(),
                gauge.metric_type(),
            )?)?;
        }
        let counters: [(&str, &str, u64); 6] = [
            (
                "store_series_evicted",
                "Series evicted to make room for new ones (the active-series limit bit)",
                s.series_evicted_total,
            ),
            (
                "store_series_expired",
                "Series removed because all their samples left the retention window",
                s.series_expired_total,
            ),
            (
                "store_log_streams_evicted",
                "Log streams evicted to make room (the stream limit bit)",
                l.streams_evicted_total,
            ),
            (
                "store_log_entries_dropped",
                "Oldest log entries pushed out to make room (a stream's bound or the store's bit)",
                l.entries_dropped_total,
            ),
            (
                "store_subscriber_lagged",
                "Appended batches a slow subscriber missed",
                s.subscriber_lagged_total + l.subscriber_lagged_total,
            ),
            (
                "store_alert_episodes_evicted",
                "Alert episodes evicted to stay within the bound",
                a.evicted_total,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for StoreCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCollector")
    }
}
