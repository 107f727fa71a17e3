//! The analysis loop's state: derive service signals from the store, run
//! the detectors, mine logs, watch changes and alerts, and group it all
//! into incidents. Pure: every entry point takes the time.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use aiops_core::model::AlertEvent;
use aiops_core::{AppendedLogBatch, SeriesStore};
use aiops_templates::{RestoreError, SignalsConfig, TemplatesConfig, TemplatesSnapshot};
use parking_lot::{MappedMutexGuard, Mutex, MutexGuard};
use serde::Serialize;

use crate::changes::{ChangeWatch, OutsideChange};
use crate::correlate::{Correlator, CorrelatorConfig};
use crate::derive::{self, Derived, MetricNames};
use crate::graph::Graph;
use crate::history::{History, HistoryConfig};
use crate::incident::Incident;
use crate::logs::LogWatch;
use crate::signal::{Direction, Signal, SignalKind, Weight};
use crate::watch::{DetectorPolicy, MetricWatch};

#[derive(Debug, Clone)]
pub struct AnalysisConfig {
    pub names: MetricNames,
    /// Labels naming a service, in order of preference.
    pub service_keys: Vec<String>,
    /// Rate and quantile window: a few scrape intervals.
    pub window_ms: i64,
    pub detectors: DetectorPolicy,
    pub correlator: CorrelatorConfig,
    /// Configured dependencies (caller, callee), besides learned ones.
    pub edges: Vec<(String, String)>,
    pub max_watched_keys: usize,
    pub templates: TemplatesConfig,
    pub log_signals: SignalsConfig,
    pub history: HistoryConfig,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            names: MetricNames::default(),
            service_keys: ["service", "service_name", "job", "app", "container"]
                .map(String::from)
                .to_vec(),
            window_ms: 15_000,
            detectors: DetectorPolicy::default(),
            correlator: CorrelatorConfig::default(),
            edges: Vec::new(),
            max_watched_keys: 20_000,
            templates: TemplatesConfig::default(),
            log_signals: SignalsConfig::default(),
            history: HistoryConfig::default(),
        }
    }
}

/// A service as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    pub name: String,
    /// `healthy`, `degraded` (an active anomaly) or `down`.
    pub health: &'static str,
    pub active_signals: Vec<String>,
    pub calls: Vec<String>,
    pub called_by: Vec<String>,
    /// Latest derived values by metric.
    pub values: BTreeMap<String, f64>,
}

pub struct Analyzer {
    config: AnalysisConfig,
    metrics: MetricWatch,
    changes: ChangeWatch,
    /// Under a lock of its own: mining a pushed batch needs no other part
    /// of the analysis, so it runs without holding the whole analyser
    /// (see [`LogFeed`]).
    logs: Arc<Mutex<LogWatch>>,
    graph: Graph,
    correlator: Correlator,
    recent: VecDeque<Signal>,
    history: History,
    latest: BTreeMap<String, BTreeMap<String, f64>>,
    down: BTreeMap<String, bool>,
    pub evaluations: u64,
    /// Changes the engine itself makes, by service: until when, and why.
    expected: BTreeMap<String, (i64, String)>,
}

/// Derives service signals from the store (see [`Analyzer::deriver`]).
#[derive(Debug, Clone)]
pub struct Deriver {
    names: MetricNames,
    service_keys: Vec<String>,
    window_ms: i64,
}

impl Deriver {
    pub fn derive(&self, store: &SeriesStore, now_ms: i64) -> Derived {
        let keys: Vec<&str> = self.service_keys.iter().map(String::as_str).collect();
        derive::derive(store, &self.names, &keys, now_ms, self.window_ms)
    }
}

/// Mines pushed lines into templates and log signals, holding only the
/// miner's lock; the signals go to [`Analyzer::observe_log_signals`].
/// Lock order: whoever holds the analyser may take the miner, never the
/// other way round.
#[derive(Clone)]
pub struct LogFeed {
    logs: Arc<Mutex<LogWatch>>,
    service_keys: Vec<String>,
}

impl LogFeed {
    pub fn mine(&self, batch: &AppendedLogBatch) -> Vec<Signal> {
        let keys: Vec<&str> = self.service_keys.iter().map(String::as_str).collect();
        let mut signals = Vec::new();
        self.logs.lock().observe(batch, &keys, &mut signals);
        signals
    }
}

const RECENT_SIGNALS: usize = 2_000;
/// Services with an expected change at once, at most.
const MAX_EXPECTED: usize = 256;
/// Expired expectations are dropped this long after they end.
const EXPECTED_KEPT_MS: i64 = 3_600_000;

impl Analyzer {
    pub fn new(config: AnalysisConfig) -> Self {
        let mut graph = Graph::default();
        for (caller, callee) in &config.edges {
            graph.add(caller, callee);
        }
        Analyzer {
            metrics: MetricWatch::new(config.detectors.clone(), config.max_watched_keys),
            changes: ChangeWatch::default(),
            logs: Arc::new(Mutex::new(LogWatch::new(
                config.templates.clone(),
                config.log_signals.clone(),
            ))),
            correlator: Correlator::new(config.correlator.clone()),
            graph,
            recent: VecDeque::new(),
            history: History::new(config.history.clone()),
            latest: BTreeMap::new(),
            down: BTreeMap::new(),
            evaluations: 0,
            expected: BTreeMap::new(),
            config,
        }
    }

    /// One evaluation at `now_ms`: derive, detect, correlate, resolve.
    pub fn evaluate(&mut self, store: &SeriesStore, now_ms: i64) {
        let derived = self.deriver().derive(store, now_ms);
        self.evaluate_derived(derived, now_ms);
    }

    /// What deriving service signals from the store needs, apart from the
    /// analyser: deriving reads every series, and is done without the
    /// analyser's lock by whoever shares it.
    pub fn deriver(&self) -> Deriver {
        Deriver {
            names: self.config.names.clone(),
            service_keys: self.config.service_keys.clone(),
            window_ms: self.config.window_ms,
        }
    }

    /// [`Analyzer::evaluate`] with what [`Deriver::derive`] found at `now_ms`.
    pub fn evaluate_derived(&mut self, derived: Derived, now_ms: i64) {
        self.evaluations += 1;
        for (caller, callee) in &derived.edges {
            self.graph.add(caller, callee);
        }
        for value in &derived.values {
            let metric = match &value.peer {
                Some(peer) => format!("{}:{peer}", value.metric),
                None => value.metric.to_owned(),
            };
            self.latest
                .entry(value.service.clone())
                .or_default()
                .insert(metric, value.value);
        }
        self.history.record(now_ms, &derived.values);
        let rates = self
            .logs
            .lock()
            .take_rates(now_ms, self.config.history.window_ms);
        for (service, metric, rate) in rates {
            self.history.push(&service, &metric, now_ms, rate);
        }
        for fact in &derived.instances {
            if let Some(up) = fact.up {
                self.down.insert(fact.service.clone(), up < 0.5);
            }
        }
        let mut signals = Vec::new();
        self.changes.observe(&derived, &mut signals);
        self.metrics.observe(&derived, &mut signals);
        self.logs.lock().advance(now_ms, &mut signals);
        self.accept(signals, now_ms);
        self.correlator.tick(&self.graph, now_ms);
    }

    /// Lines pushed to the engine.
    pub fn observe_logs(&mut self, batch: &AppendedLogBatch, now_ms: i64) {
        let signals = self.log_feed().mine(batch);
        self.observe_log_signals(signals, now_ms);
    }

    /// The template miner, to mine pushed lines without this analyser's lock.
    pub fn log_feed(&self) -> LogFeed {
        LogFeed {
            logs: self.logs.clone(),
            service_keys: self.config.service_keys.clone(),
        }
    }

    /// What [`LogFeed::mine`] decided.
    pub fn observe_log_signals(&mut self, signals: Vec<Signal>, now_ms: i64) {
        self.accept(signals, now_ms);
    }

    /// An Alertmanager notification (already deduplicated by episode).
    pub fn observe_alert(&mut self, alert: &AlertEvent, now_ms: i64) {
        let get = |name: &str| {
            alert
                .labels
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let Some(service) = self
            .config
            .service_keys
            .iter()
            .find_map(|k| get(k).filter(|v| !v.is_empty()))
        else {
            return;
        };
        let name = get("alertname").unwrap_or("alert");
        let severity = get("severity").unwrap_or("none");
        let strong = matches!(severity, "critical" | "page" | "error" | "high");
        let firing = alert.status == "firing";
        let summary = alert
            .annotations
            .iter()
            .find(|(n, _)| n == "summary" || n == "description")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let signal = Signal {
            key: format!("{service}/alert/{}", alert.fingerprint),
            kind: SignalKind::Alert,
            service: service.to_owned(),
            peer: None,
            labels: alert_labels(&alert.labels),
            metric: name.to_owned(),
            score: if strong { 1.0 } else { 0.5 },
            direction: Direction::None,
            weight: if strong { Weight::Strong } else { Weight::Weak },
            onset_ms: parse_rfc3339_ms(&alert.starts_at)
                .unwrap_or(now_ms)
                .min(now_ms),
            detected_ms: now_ms,
            ended_ms: (!firing).then_some(now_ms),
            value: None,
            baseline: None,
            deviation: None,
            why: format!(
                "alert {name} ({severity}) {}: {summary}",
                if firing { "firing" } else { "resolved" }
            ),
        };
        self.accept(vec![signal], now_ms);
    }

    /// A change another system reported (a container restart from the
    /// Docker engine): a signal of its service, so it joins that service's
    /// incident or, being strong, opens one.
    pub fn observe_change(&mut self, change: OutsideChange, now_ms: i64) {
        let signal = change.into_signal(now_ms);
        self.accept(vec![signal], now_ms);
    }

    /// A change the engine itself makes (a playbook's restart or roll-back
    /// of `service`): until `until_ms`, the restart, the short `up = 0` and
    /// the new version it causes are context (weak), not a crash or an
    /// outage, and say why.
    pub fn expect_change(&mut self, service: &str, until_ms: i64, why: &str) {
        self.expected
            .retain(|_, (until, _)| *until >= until_ms - EXPECTED_KEPT_MS);
        if self.expected.len() >= MAX_EXPECTED && !self.expected.contains_key(service) {
            return;
        }
        self.expected
            .insert(service.to_owned(), (until_ms, why.to_owned()));
    }

    /// The change did not happen after all (the action failed).
    pub fn forget_expected(&mut self, service: &str) {
        self.expected.remove(service);
    }

    fn soften_expected(&self, signal: &mut Signal, now_ms: i64) {
        let caused = matches!(signal.kind, SignalKind::Restart | SignalKind::Deploy)
            || (signal.kind == SignalKind::MetricAnomaly && signal.metric == "up");
        if !caused {
            return;
        }
        if let Some((until, why)) = self.expected.get(&signal.service)
            && now_ms <= *until
        {
            signal.weight = Weight::Weak;
            signal.why = format!("{} (expected: {why})", signal.why);
        }
    }

    fn accept(&mut self, signals: Vec<Signal>, now_ms: i64) {
        for mut signal in signals {
            self.soften_expected(&mut signal, now_ms);
            if self.recent.len() >= RECENT_SIGNALS {
                self.recent.pop_front();
            }
            self.recent.push_back(signal.clone());
            self.correlator.ingest(signal, &self.graph, now_ms);
        }
    }

    pub fn correlator(&self) -> &Correlator {
        &self.correlator
    }

    pub fn correlator_mut(&mut self) -> &mut Correlator {
        &mut self.correlator
    }

    /// Hands in the window ranking the edge computed for an incident.
    pub fn set_window_causes(
        &mut self,
        id: &str,
        causes: Vec<crate::incident::WindowCause>,
        now_ms: i64,
    ) {
        self.correlator
            .set_window_causes(id, causes, &self.graph, now_ms);
    }

    /// Recent derived values, one column per service and metric.
    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Incidents a previous run persisted.
    pub fn restore(&mut self, incidents: Vec<Incident>, now_ms: i64) {
        self.correlator.restore(incidents, now_ms);
    }

    /// See [`crate::Correlator::adopt`].
    pub fn adopt(&mut self, incidents: Vec<Incident>, now_ms: i64) {
        self.correlator.adopt(incidents, &self.graph, now_ms);
    }

    /// The learned templates. The guard holds the miner's lock: drop it
    /// before any other call that reads the miner (`lines_mined`,
    /// `templates_snapshot`, `evaluate`), which would wait for it forever.
    pub fn templates(&self) -> MappedMutexGuard<'_, aiops_templates::Templates> {
        MutexGuard::map(self.logs.lock(), |logs| logs.templates_mut())
    }

    /// The learned log templates, for persisting across restarts.
    pub fn templates_snapshot(&self) -> TemplatesSnapshot {
        self.logs.lock().templates().snapshot()
    }

    /// Templates a previous run learned (see [`LogWatch::restore_templates`]).
    pub fn restore_templates(&mut self, snapshot: TemplatesSnapshot) -> Result<(), RestoreError> {
        self.logs.lock().restore_templates(snapshot)
    }

    /// Newest first.
    pub fn recent_signals(&self) -> impl Iterator<Item = &Signal> {
        self.recent.iter().rev()
    }

    pub fn lines_mined(&self) -> u64 {
        self.logs.lock().lines_seen
    }

    pub fn watched_series(&self) -> usize {
        self.metrics.len()
    }

    pub fn services(&self) -> Vec<ServiceView> {
        let mut names: Vec<String> = self.latest.keys().cloned().collect();
        for (a, b) in self.graph.edges() {
            for s in [a, b] {
                if !names.iter().any(|n| n == s) {
                    names.push(s.to_owned());
                }
            }
        }
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let active: Vec<String> = self
                    .metrics
                    .active()
                    .filter(|s| s.service == name)
                    .map(|s| s.key.clone())
                    .collect();
                let down = self.down.get(&name).copied().unwrap_or(false);
                ServiceView {
                    health: if down {
                        "down"
                    } else if active.is_empty() {
                        "healthy"
                    } else {
                        "degraded"
                    },
                    active_signals: active,
                    calls: self.graph.callees(&name).map(str::to_owned).collect(),
                    called_by: self.graph.callers(&name).map(str::to_owned).collect(),
                    values: self.latest.get(&name).cloned().unwrap_or_default(),
                    name,
                }
            })
            .collect()
    }
}

/// `2024-01-02T03:04:05.678Z` (or with an offset) to unix milliseconds.
/// Labels an alert signal keeps at most, and their lengths: enough for
/// playbooks to match on, bounded whatever Alertmanager sends.
const MAX_ALERT_LABELS: usize = 32;
const MAX_ALERT_LABEL_LEN: usize = 256;

fn alert_labels(labels: &[(String, String)]) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(n, v)| n.len() <= MAX_ALERT_LABEL_LEN && v.len() <= MAX_ALERT_LABEL_LEN)
        .take(MAX_ALERT_LABELS)
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

fn parse_rfc3339_ms(raw: &str) -> Option<i64> {
    let (date, time) = raw.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (clock, offset_s) = if let Some(t) = time.strip_suffix('Z') {
        (t, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (t, off) = time.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (
            t,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let mut c = clock.splitn(3, ':');
    let (hh, mm): (i64, i64) = (c.next()?.parse().ok()?, c.next()?.parse().ok()?);
    let secs: f64 = c.next()?.parse().ok()?;
    // days from civil (Howard Hinnant's algorithm)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hh * 3600 + mm * 60 - offset_s;
    Some(seconds * 1000 + (secs * 1000.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_ms;
    use super::{AnalysisConfig, Analyzer};
    use crate::changes::{OutsideChange, OutsideChangeKind};

    #[test]
    fn an_outside_restart_opens_an_incident_for_its_service() {
        let mut analyzer = Analyzer::new(AnalysisConfig::default());
        analyzer.observe_change(
            OutsideChange {
                service: "cart".into(),
                kind: OutsideChangeKind::Restart,
                source: "docker".into(),
                subject: "shop_cart_1".into(),
                at_ms: 99_000,
                why: "cart container shop_cart_1 was restarted by docker's restart policy".into(),
            },
            100_000,
        );
        let recent: Vec<_> = analyzer.recent_signals().collect();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].metric, "docker_restart");
        let incidents = analyzer.correlator().incidents();
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        assert_eq!(incidents[0].services, vec!["cart".to_string()]);
    }

    #[test]
    fn a_restart_the_engine_made_is_context_not_a_crash() {
        let restart = |at_ms| OutsideChange {
            service: "cart".into(),
            kind: OutsideChangeKind::Restart,
            source: "docker".into(),
            subject: "shop_cart_1".into(),
            at_ms,
            why: "cart container shop_cart_1 started again".into(),
        };
        let mut analyzer = Analyzer::new(AnalysisConfig::default());
        analyzer.expect_change("cart", 160_000, "restarted by the playbook restart-leak");
        analyzer.observe_change(restart(99_000), 100_000);
        let recent: Vec<_> = analyzer.recent_signals().collect();
        assert_eq!(recent[0].weight, crate::signal::Weight::Weak);
        assert!(
            recent[0]
                .why
                .contains("expected: restarted by the playbook"),
            "{}",
            recent[0].why
        );
        assert!(
            analyzer.correlator().incidents().is_empty(),
            "context opens nothing"
        );
        // after the window, a restart is a crash again
        analyzer.observe_change(restart(199_000), 200_000);
        assert_eq!(analyzer.correlator().incidents().len(), 1);
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2024-01-02T03:04:05.5Z"),
            Some(1_704_164_645_500)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-01-02T04:04:05.5+01:00"),
            Some(1_704_164_645_500)
        );
        assert_eq!(parse_rfc3339_ms("garbage"), None);
    }
}
