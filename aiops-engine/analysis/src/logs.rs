//! Log lines to signals: each service's lines are mined into templates, and
//! the template signals (a new error template after warm-up, a rate shift,
//! an error burst) become [`Signal`]s.

use aiops_core::AppendedLogBatch;
use aiops_core::labels::service_of;
use std::collections::BTreeMap;

use aiops_templates::{
    Level, LogSignal, LogSignalKind, LogSignals, RestoreError, SignalsConfig, TemplateId,
    Templates, TemplatesConfig, TemplatesSnapshot,
};

use crate::signal::{Direction, Signal, SignalKind, Weight};

pub struct LogWatch {
    templates_config: TemplatesConfig,
    templates: Templates,
    signals: LogSignals,
    scratch: Vec<LogSignal>,
    /// Lines per (service, template) since the last [`LogWatch::take_rates`];
    /// a template stays here (at 0) while it has lines within the history
    /// window, so its column shows when it stops too.
    counts: BTreeMap<(String, TemplateId), TemplateCount>,
    last_rates_ms: Option<i64>,
    pub lines_seen: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct TemplateCount {
    lines: u64,
    last_line_ms: i64,
}

/// Template rate columns tracked at most (beyond, new templates are not).
const MAX_COUNTED_TEMPLATES: usize = 5_000;

impl LogWatch {
    pub fn new(templates: TemplatesConfig, signals: SignalsConfig) -> Self {
        LogWatch {
            templates_config: templates.clone(),
            templates: Templates::new(templates),
            signals: LogSignals::new(signals),
            scratch: Vec::new(),
            counts: BTreeMap::new(),
            last_rates_ms: None,
            lines_seen: 0,
        }
    }

    /// Mines one pushed batch; appends the signals it decided.
    pub fn observe(
        &mut self,
        batch: &AppendedLogBatch,
        service_keys: &[&str],
        out: &mut Vec<Signal>,
    ) {
        for (stream, entries) in batch.iter() {
            let Some(service) = service_of(&stream.labels, service_keys) else {
                continue;
            };
            let level = stream.labels.get("level").and_then(Level::parse);
            for entry in entries {
                self.lines_seen += 1;
                let observation = self
                    .templates
                    .observe(service, entry.ts_ns, level, &entry.line);
                self.count(service, observation.template_id, entry.ts_ns / 1_000_000);
                self.signals
                    .observe(service, entry.ts_ns, &observation, &mut self.scratch);
            }
        }
        self.drain(out);
    }

    fn count(&mut self, service: &str, id: TemplateId, ts_ms: i64) {
        let key = (service.to_owned(), id);
        if !self.counts.contains_key(&key) && self.counts.len() >= MAX_COUNTED_TEMPLATES {
            return;
        }
        let count = self.counts.entry(key).or_default();
        count.lines += 1;
        count.last_line_ms = count.last_line_ms.max(ts_ms);
    }

    /// Lines per second of each template since the previous call, as
    /// history metrics `log.<template id>`; templates silent for longer
    /// than `keep_ms` are forgotten. The first call only starts the clock.
    pub fn take_rates(&mut self, now_ms: i64, keep_ms: i64) -> Vec<(String, String, f64)> {
        let since = self.last_rates_ms.replace(now_ms);
        let Some(since) = since.filter(|s| *s < now_ms) else {
            for count in self.counts.values_mut() {
                count.lines = 0;
            }
            return Vec::new();
        };
        let seconds = (now_ms - since) as f64 / 1000.0;
        let mut rates = Vec::with_capacity(self.counts.len());
        self.counts.retain(|(service, id), count| {
            rates.push((
                service.clone(),
                format!("log.{id}"),
                count.lines as f64 / seconds,
            ));
            count.lines = 0;
            now_ms - count.last_line_ms <= keep_ms
        });
        rates
    }

    /// Lets time pass without lines, so silence and finished buckets are judged.
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<Signal>) {
        self.signals
            .advance(now_ms.saturating_mul(1_000_000), &mut self.scratch);
        self.drain(out);
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    pub fn templates_mut(&mut self) -> &mut Templates {
        &mut self.templates
    }

    /// Continues from the templates a previous run learned, so their ids,
    /// generalisations and counts carry over and known lines are not new.
    /// On error nothing changes.
    pub fn restore_templates(&mut self, snapshot: TemplatesSnapshot) -> Result<(), RestoreError> {
        self.templates = Templates::restore(self.templates_config.clone(), snapshot)?;
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<Signal>) {
        out.extend(self.scratch.drain(..).map(to_signal));
    }
}

fn to_signal(s: LogSignal) -> Signal {
    let serious = matches!(s.level, Level::Error | Level::Fatal);
    let (kind, metric, weight) = match s.kind {
        LogSignalKind::NewTemplate => (
            SignalKind::NewLogTemplate,
            s.template.clone().unwrap_or_default(),
            if serious {
                Weight::Strong
            } else {
                Weight::Weak
            },
        ),
        LogSignalKind::RateShift => (
            SignalKind::LogRateShift,
            s.template.clone().unwrap_or_default(),
            Weight::Weak,
        ),
        LogSignalKind::ErrorBurst => (
            SignalKind::LogErrorBurst,
            "error lines".to_owned(),
            Weight::Strong,
        ),
    };
    let key = match s.template_id {
        Some(id) => format!("{}/template/{id}/{:?}", s.service, s.kind).to_lowercase(),
        None => format!("{}/log_error_burst", s.service),
    };
    let detected_ms = s.detected_ns / 1_000_000;
    Signal {
        key,
        kind,
        service: s.service,
        peer: None,
        labels: Default::default(),
        metric,
        score: s.score.clamp(0.0, 1.0),
        direction: match s.direction {
            aiops_templates::Direction::Up => Direction::Up,
            aiops_templates::Direction::Down => Direction::Down,
        },
        weight,
        onset_ms: (s.onset_ns / 1_000_000).min(detected_ms),
        detected_ms,
        // a log signal describes one window; it is over once decided
        ended_ms: Some(detected_ms),
        value: Some(s.observed),
        baseline: Some(s.expected),
        deviation: None,
        why: s.why,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use aiops_core::model::{LogBatch, LogEntry, LogStream};
    use aiops_core::{LogStore, LogStoreConfig};

    use super::*;

    const SEC_NS: i64 = 1_000_000_000;

    fn feed(watch: &mut LogWatch, store: &LogStore, at_s: i64, lines: &[&str]) {
        let mut sub = store.subscribe();
        store.append(
            LogBatch {
                tenant: "fake".into(),
                streams: vec![LogStream {
                    labels: vec![("service".into(), "cart".into())],
                    entries: lines
                        .iter()
                        .map(|l| LogEntry {
                            ts_ns: at_s * SEC_NS,
                            line: (*l).to_owned(),
                            metadata: vec![],
                        })
                        .collect(),
                }],
            },
            at_s * 1000,
        );
        let batch = sub.try_recv().unwrap();
        let mut out = Vec::new();
        watch.observe(&batch, &["service"], &mut out);
    }

    #[test]
    fn template_rates_per_interval_including_silence() {
        let store = LogStore::new(LogStoreConfig::default());
        let mut watch = LogWatch::new(TemplatesConfig::default(), SignalsConfig::default());
        assert!(
            watch.take_rates(0, 60_000).is_empty(),
            "first call starts the clock"
        );
        feed(
            &mut watch,
            &store,
            1,
            &["cart 1 emptied", "cart 2 emptied", "cart 3 emptied"],
        );
        let rates = watch.take_rates(10_000, 60_000);
        assert_eq!(rates.len(), 1);
        let (service, metric, rate) = &rates[0];
        assert_eq!(service, "cart");
        assert!(metric.starts_with("log."), "{metric}");
        assert!((rate - 0.3).abs() < 1e-9, "3 lines in 10 s: {rate}");
        // silent interval: the template reports 0, then is forgotten
        assert_eq!(watch.take_rates(20_000, 60_000)[0].2, 0.0);
        assert_eq!(watch.take_rates(70_000, 60_000).len(), 1);
        assert!(watch.take_rates(80_000, 60_000).is_empty());
    }
}
