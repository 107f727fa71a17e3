//! The analysis' own numbers, read at scrape time: how often it evaluated,
//! how much it watches, what it mined, and the incidents by state. The
//! detectors' health on a dashboard, beside the intake's.

use std::sync::Arc;

use aiops_analysis::{Analyzer, IncidentState};
use parking_lot::Mutex;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

pub struct AnalysisCollector {
    pub analysis: Arc<Mutex<Analyzer>>,
}

impl std::fmt::Debug for AnalysisCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnalysisCollector")
    }
}

const STATES: [IncidentState; 4] = [
    IncidentState::Open,
    IncidentState::Acknowledged,
    IncidentState::Mitigated,
    IncidentState::Resolved,
];

impl prometheus_client::collector::Collector for AnalysisCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let (evaluations, lines, watched, templates, by_state) = {
            let analysis = self.analysis.lock();
            let template_count: usize = {
                let templates = analysis.templates();
                templates
                    .services()
                    .iter()
                    .filter_map(|s| templates.miner(s))
                    .map(|m| m.len())
                    .sum()
            };
            let mut by_state = [0i64; STATES.len()];
            for incident in analysis.correlator().incidents() {
                if let Some(i) = STATES.iter().position(|s| *s == incident.state) {
                    by_state[i] += 1;
                }
            }
            (
                analysis.evaluations,
                analysis.lines_mined(),
                analysis.watched_series(),
                template_count,
                by_state,
            )
        };
        for (name, help, value) in [
            (
                "analysis_evaluations",
                "Evaluations of the derived service signals and detectors",
                evaluations,
            ),
            (
                "analysis_log_lines_mined",
                "Log lines fed to the template miner",
                lines,
            ),
        ] {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        for (name, help, value) in [
            (
                "analysis_watched_keys",
                "Derived values (service, metric, peer) a detector watches",
                watched as i64,
            ),
            (
                "analysis_log_templates",
                "Log templates learned, over every service",
                templates as i64,
            ),
        ] {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let mut family = encoder.encode_descriptor(
            "incidents",
            "Incidents held in memory, by state",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (state, count) in STATES.iter().zip(by_state) {
            let labels = [("state", state.as_str())];
            let gauge = ConstGauge::new(count);
            gauge.encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
