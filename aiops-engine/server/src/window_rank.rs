//! The incident window, ranked at the edge: for each unresolved incident,
//! the recorded history of its services (and their neighbours) around the
//! onset goes through `aiops-rca` (BARO: robust deviation from the
//! pre-onset window, with polars), and the result is handed back to the
//! correlator as one more input of its ranking, with the numbers behind it.

use aiops_analysis::{Analyzer, Column, Incident, WindowCause};
use aiops_rca::{AlignOptions, Method, MetricFrame, RankOptions, SeriesInput};

/// History before the onset that the baseline is learnt from.
const PRE_ONSET_MS: i64 = 10 * 60_000;
/// Incidents ranked per evaluation at most (the newest unresolved ones).
const MAX_INCIDENTS: usize = 20;
/// Reasons kept per service.
const REASONS: usize = 3;

/// What one incident's window ranking needs, copied out of the analysis
/// so the ranking runs without holding its lock.
pub struct WindowJob {
    pub incident_id: String,
    pub onset_ms: i64,
    pub columns: Vec<Column>,
}

/// The jobs for this evaluation: the newest unresolved incidents (whether
/// their history is long enough is `rank`'s to judge).
pub fn jobs(analysis: &Analyzer, now_ms: i64) -> Vec<WindowJob> {
    let graph = analysis.graph();
    let mut incidents: Vec<&Incident> = analysis
        .correlator()
        .incidents()
        .iter()
        .filter(|i| !i.is_resolved())
        .collect();
    incidents.sort_by_key(|i| std::cmp::Reverse(i.opened_at_ms));
    incidents
        .into_iter()
        .take(MAX_INCIDENTS)
        .map(|incident| {
            let onset_ms = onset(incident);
            let mut services: Vec<String> = incident.services.clone();
            for service in &incident.services {
                services.extend(graph.callees(service).map(str::to_owned));
                services.extend(graph.callers(service).map(str::to_owned));
            }
            services.sort();
            services.dedup();
            let columns = analysis
                .history()
                .columns(onset_ms - PRE_ONSET_MS, now_ms, Some(&services))
                .into_iter()
                .filter(own_evidence)
                .collect();
            WindowJob {
                incident_id: incident.id.clone(),
                onset_ms,
                columns,
            }
        })
        .collect()
}

/// The earliest onset among the incident's own strong evidence.
fn onset(incident: &Incident) -> i64 {
    incident
        .signals
        .iter()
        .filter(|m| m.signal.weight >= aiops_analysis::Weight::Strong)
        .map(|m| m.signal.onset_ms)
        .min()
        .unwrap_or(incident.opened_at_ms)
        .min(incident.opened_at_ms)
}

/// A caller's view of a peer (`peer_error_ratio.payments`) describes the
/// peer as much as the caller: the signal ranking weighs those both ways,
/// so here only a service's own metrics and logs speak for it.
fn own_evidence(column: &Column) -> bool {
    !column.metric.starts_with("peer_")
}

/// Ranks one window; `None` when there is too little history to judge
/// (an incident right after start-up) or nothing deviates.
pub fn rank(job: &WindowJob, step_ms: i64) -> Option<Vec<WindowCause>> {
    let inputs: Vec<SeriesInput<'_>> = job
        .columns
        .iter()
        .map(|c| SeriesInput {
            service: &c.service,
            metric: &c.metric,
            points: &c.points,
        })
        .collect();
    if inputs.is_empty() {
        return None;
    }
    let frame = MetricFrame::from_series(
        &inputs,
        &AlignOptions {
            step_ms: step_ms.max(1),
            origin_ms: job.onset_ms,
            max_fill_steps: 3,
        },
    )
    .ok()?;
    let ranking =
        aiops_rca::rank(&frame, job.onset_ms, Method::Baro, &RankOptions::default()).ok()?;
    let strongest = ranking
        .services
        .iter()
        .map(|s| s.strength)
        .fold(0.0, f64::max);
    if strongest <= 0.0 || !strongest.is_finite() {
        return None;
    }
    Some(
        ranking
            .services
            .iter()
            .filter(|s| s.strength > 0.0)
            .map(|s| WindowCause {
                service: s.service.clone(),
                score: (s.strength / strongest * 1000.0).round() / 1000.0,
                reasons: s
                    .metrics
                    .iter()
                    .take(REASONS)
                    .map(|m| m.reason.clone())
                    .collect(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(service: &str, metric: &str, f: impl Fn(i64) -> f64) -> Column {
        Column {
            service: service.into(),
            metric: metric.into(),
            points: (0..120).map(|i| (i * 5_000, f(i))).collect(),
        }
    }

    #[test]
    fn the_service_whose_own_metrics_moved_ranks_first() {
        // onset at point 100: payments' error ratio jumps, checkout's a little
        let noise = |i: i64| ((i * 7919) % 13) as f64 / 1000.0;
        let job = WindowJob {
            incident_id: "i".into(),
            onset_ms: 100 * 5_000,
            columns: vec![
                column("payments", "error_ratio", |i| {
                    noise(i) + if i >= 100 { 0.5 } else { 0.0 }
                }),
                column("checkout", "error_ratio", |i| {
                    noise(i) + if i >= 100 { 0.1 } else { 0.0 }
                }),
                column("checkout", "peer_error_ratio.payments", |i| {
                    if i >= 100 { 0.5 } else { 0.0 }
                }),
                column("cart", "latency_p90", |i| 0.01 + noise(i)),
            ],
        };
        assert!(job.columns.iter().filter(|c| own_evidence(c)).count() == 3);
        let own = WindowJob {
            columns: job.columns.into_iter().filter(own_evidence).collect(),
            ..job
        };
        let causes = rank(&own, 5_000).expect("ranked");
        assert_eq!(causes[0].service, "payments");
        assert_eq!(causes[0].score, 1.0);
        assert!(
            causes[0].reasons[0].contains("error"),
            "{:?}",
            causes[0].reasons
        );
        assert!(causes.iter().all(|c| c.score <= 1.0));
    }

    #[test]
    fn too_little_history_is_no_ranking() {
        let job = WindowJob {
            incident_id: "i".into(),
            onset_ms: 5_000,
            columns: vec![column("a", "cpu", |_| 1.0)],
        };
        assert!(rank(&job, 5_000).is_none());
        let empty = WindowJob {
            incident_id: "i".into(),
            onset_ms: 0,
            columns: vec![],
        };
        assert!(rank(&empty, 5_000).is_none());
    }
}
