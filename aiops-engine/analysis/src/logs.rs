//! Log lines to signals: each service's lines are mined into templates, and
//! the template signals (a new error template after warm-up, a rate shift,
//! an error burst) become [`Signal`]s.

use aiops_core::AppendedLogBatch;
use aiops_core::labels::service_of;
use aiops_templates::{
    Level, LogSignal, LogSignalKind, LogSignals, RestoreError, SignalsConfig, Templates,
    TemplatesConfig, TemplatesSnapshot,
};

use crate::signal::{Direction, Signal, SignalKind, Weight};

pub struct LogWatch {
    templates_config: TemplatesConfig,
    templates: Templates,
    signals: LogSignals,
    scratch: Vec<LogSignal>,
    pub lines_seen: u64,
}

impl LogWatch {
    pub fn new(templates: TemplatesConfig, signals: SignalsConfig) -> Self {
        LogWatch {
            templates_config: templates.clone(),
            templates: Templates::new(templates),
            signals: LogSignals::new(signals),
            scratch: Vec::new(),
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
                self.signals
                    .observe(service, entry.ts_ns, &observation, &mut self.scratch);
            }
        }
        self.drain(out);
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
