//! What every handler shares: the stores, the limits, the metrics, the
//! ingest slots that bound concurrent decoding.

use std::sync::{Arc, OnceLock};

use aiops_analysis::{AnalysisConfig, Analyzer};
use aiops_incident_db::IncidentDb;
use parking_lot::Mutex;

use aiops_core::{
    AlertStore, AlertStoreConfig, LogStore, LogStoreConfig, SeriesStore, StoreConfig,
};
use tokio::sync::Semaphore;

use crate::auth::{ApiAuth, IngestAuth};
use crate::config::Config;
use crate::telemetry::EngineMetrics;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub series: Arc<SeriesStore>,
    pub logs: Arc<LogStore>,
    pub alerts: Arc<AlertStore>,
    pub metrics: Arc<EngineMetrics>,
    pub auth: IngestAuth,
    pub ingest_slots: Arc<Semaphore>,
    /// Where pushed data is decoded, stored and mined, below the runtime's priority.
    pub ingest_workers: Arc<crate::ingest_workers::IngestWorkers>,
    pub clock: Arc<dyn Clock>,
    /// Detection and incidents; short synchronous sections only.
    pub analysis: Arc<Mutex<Analyzer>>,
    /// Where incidents persist; set by `app::run` once connected.
    pub incident_db: Arc<OnceLock<IncidentDb>>,
    /// Whether this engine is the one that persists, notifies and acts.
    pub leadership: Arc<crate::leadership::Leadership>,
    /// Changed incidents on their way to `incident_db`, kept while it fails.
    pub incident_writes: Arc<crate::incident_writes::IncidentWrites>,
    /// Woken after each scrape is stored, so the analysis evaluates fresh
    /// data at once instead of up to an interval later.
    pub scraped: Arc<tokio::sync::Notify>,
    /// API tokens and roles.
    pub api_auth: ApiAuth,
    /// Playbooks, the ledger, the kill switch, the executor.
    pub remediation: Arc<crate::remediation::Remediation>,
    /// The Docker watcher's connection, once made (the docker executor acts through it).
    pub docker_target: Arc<OnceLock<aiops_docker::DockerTarget>>,
    /// Console sessions, users, login throttle.
    pub console: Arc<crate::routes::console::ConsoleState>,
    /// Redaction of whatever the engine shows or sends.
    pub redactor: aiops_summarise::Redactor,
    /// Writes summaries with the configured model and keeps them, by
    /// incident and evidence digest, within the token budgets.
    pub summary_writer: Arc<aiops_summarise::SummaryWriter>,
    /// The ids of incidents that just changed (new signals, a new state,
    /// an action): the console's live updates and `aiops demo`'s lines.
    pub events: tokio::sync::broadcast::Sender<String>,
    /// Resolved incidents by fingerprint: what an incident is like.
    pub similar: Arc<Mutex<aiops_analysis::SimilarIndex>>,
    /// What changed in each service's logs, window by window.
    pub digests: Arc<Mutex<crate::digests::Digests>>,
    /// Notification logs (the outbox), silences, send metrics.
    pub notifier: Arc<crate::notifications::Notifier>,
}

/// Changes queued for a slow listener at most; one that falls further
/// behind misses some and catches up with the next.
const EVENTS_BUFFER: usize = 1024;

/// The wall clock, behind a trait so tests can pin time.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

impl AppState {
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> Self {
        let retention_ms = i64::try_from(config.retention.as_millis()).unwrap_or(i64::MAX);
        let series = SeriesStore::new(StoreConfig {
            retention_ms,
            max_active_series: config.max_active_series,
            max_samples_per_series: StoreConfig::samples_per_series_for(
                retention_ms,
                aiops_core::limits::DEFAULT_MIN_SCRAPE_INTERVAL_MS,
            ),
            ..StoreConfig::default()
        });
        let logs = LogStore::new(LogStoreConfig {
            retention_ms,
            max_bytes: config.max_log_bytes,
            ..LogStoreConfig::default()
        });
        let metrics = EngineMetrics::new();
        let series = Arc::new(series);
        let logs = Arc::new(logs);
        let alerts = Arc::new(AlertStore::new(AlertStoreConfig::default()));
        metrics.register_collector(Box::new(crate::telemetry::StoreCollector {
            series: series.clone(),
            logs: logs.clone(),
            alerts: alerts.clone(),
        }));
        let mut analysis = AnalysisConfig {
            window_ms: analysis_window_ms(&config),
            correlator: aiops_analysis::CorrelatorConfig {
                resolve_after_ms: i64::try_from(config.incidents.resolve_after.as_millis())
                    .unwrap_or(i64::MAX),
                ..aiops_analysis::CorrelatorConfig::default()
            },
            ..AnalysisConfig::default()
        };
        if let Some(rules) = config.incidents.rules.clone()
            && let Err(e) = rules.apply(&mut analysis)
        {
            // Config::parse checked the file, so this cannot happen with a
            // parsed config; say so rather than run with half the rules
            tracing::error!(error = %e, "detector rules not applied");
        }
        let analysis = Arc::new(Mutex::new(Analyzer::new(analysis)));
        metrics.register_collector(Box::new(crate::analysis_metrics::AnalysisCollector {
            analysis: analysis.clone(),
        }));
        let docker_target = Arc::new(OnceLock::new());
        let (events, _) = tokio::sync::broadcast::channel(EVENTS_BUFFER);
        Self {
            console: Arc::new(crate::routes::console::ConsoleState::new(&config.console)),
            redactor: aiops_summarise::Redactor {
                ip_addresses: config.redact_ip_addresses,
            },
            summary_writer: Arc::new(crate::summaries::writer(&config, &metrics)),
            events,
            similar: Arc::new(Mutex::new(aiops_analysis::SimilarIndex::new(
                crate::similar::INDEX_CAPACITY,
            ))),
            digests: Arc::default(),
            notifier: {
                let notifier = Arc::new(crate::notifications::Notifier::default());
                metrics.register(|r| notifier.register(r));
                notifier
            },
            remediation: Arc::new(crate::remediation::Remediation::new(
                &config,
                docker_target.clone(),
            )),
            docker_target,
            api_auth: ApiAuth::new(&config.api),
            analysis,
            incident_db: Arc::new(OnceLock::new()),
            leadership: {
                let leadership = Arc::new(crate::leadership::Leadership::new(
                    config.incidents.leader_lease,
                ));
                metrics.register(|r| leadership.register(r));
                leadership
            },
            incident_writes: {
                let writes = Arc::new(crate::incident_writes::IncidentWrites::default());
                metrics.register(|r| writes.register(r));
                writes
            },
            scraped: Arc::new(tokio::sync::Notify::new()),
            auth: IngestAuth::new(&config.ingest_tokens),
            ingest_slots: Arc::new(Semaphore::new(config.max_inflight_ingest)),
            // at start-up, like the runtime's own threads: without them the
            // engine cannot take data at all
            ingest_workers: Arc::new(
                crate::ingest_workers::IngestWorkers::per_core()
                    .expect("the ingest worker threads could not start"),
            ),
            config: Arc::new(config),
            series,
            logs,
            alerts,
            metrics,
            clock,
        }
    }
}

impl AppState {
    /// Tells the console (and the demo) that an incident changed.
    pub fn announce(&self, incident_id: &str) {
        // no listener is fine
        let _ = self.events.send(incident_id.to_owned());
    }
}

/// Rates and quantiles over three evaluations: short enough to see a fault
/// within two, long enough to hold two scrapes.
fn analysis_window_ms(config: &Config) -> i64 {
    let evaluation = config
        .incidents
        .evaluation_interval
        .max(config.scrape.interval);
    i64::try_from(evaluation.as_millis() * 3).unwrap_or(i64::MAX)
}
