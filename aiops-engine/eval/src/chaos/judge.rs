//! Scores one scenario run from what was observed: for each fault, was it
//! detected, how fast, and where the faulted service ranked; and how many
//! incidents (or alerts) opened while no fault was active. The same rules
//! judge the engine's incidents and the alert rules' notifications. Pure.

use serde::Serialize;

/// A fault's place in time, in unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultWindow {
    pub label: String,
    pub service: String,
    pub kind: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// One incident as last seen, plus its rankings over time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IncidentSeen {
    pub id: String,
    pub opened_ms: i64,
    /// Each time a signal of (or about) a service joined the incident.
    pub service_joined_ms: Vec<(String, i64)>,
    /// (poll time, services of the root-cause ranking, best first).
    pub rankings: Vec<(i64, Vec<String>)>,
}

/// One alert notification as the webhook received it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSeen {
    pub received_ms: i64,
    /// When Prometheus says it started firing.
    pub starts_ms: i64,
    pub alertname: String,
    pub service: String,
    pub severity: String,
    pub firing: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// A fault detected this long after its end still counts.
    pub grace_ms: i64,
    /// After a fault ends, its aftermath (restarts, recovery) is not a false
    /// positive for this long.
    pub settle_ms: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            grace_ms: 60_000,
            settle_ms: 180_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub detected: bool,
    /// Fault start to the incident (or alert) naming the service.
    pub time_to_detect_s: Option<f64>,
    /// 1-based rank of the faulted service, when detected.
    pub rank: Option<usize>,
    /// Incident id, or the first alert's name.
    pub by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertDetection {
    #[serde(flatten)]
    pub notified: Detection,
    /// Fault start to the alert's `startsAt` (firing in Prometheus, before
    /// Alertmanager's grouping delay).
    pub time_to_fire_s: Option<f64>,
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn rank_of(ranking: &[String], service: &str) -> Option<usize> {
    ranking.iter().position(|s| s == service).map(|i| i + 1)
}

/// The engine: the first incident to name the faulted service within the
/// fault (plus grace); its ranking at the fault's end, or at the first look
/// after detection if that came later.
pub fn engine(fault: &FaultWindow, incidents: &[IncidentSeen], rules: &Rules) -> Detection {
    let until = fault.end_ms + rules.grace_ms;
    let first = incidents
        .iter()
        .filter_map(|incident| {
            let joined = incident
                .service_joined_ms
                .iter()
                .filter(|(s, t)| *s == fault.service && (fault.start_ms..=until).contains(t))
                .map(|(_, t)| *t)
                .min()?;
            Some((joined, incident))
        })
        .min_by_key(|(t, incident)| (*t, incident.id.clone()));
    let Some((detected_ms, incident)) = first else {
        return Detection {
            detected: false,
            time_to_detect_s: None,
            rank: None,
            by: None,
        };
    };
    let judge_at = fault.end_ms.max(detected_ms);
    let ranking = incident
        .rankings
        .iter()
        .rfind(|(t, _)| *t <= judge_at)
        .or_else(|| incident.rankings.iter().find(|(t, _)| *t >= judge_at))
        .map(|(_, r)| r.as_slice())
        .unwrap_or(&[]);
    Detection {
        detected: true,
        time_to_detect_s: Some(secs(detected_ms - fault.start_ms)),
        rank: rank_of(ranking, &fault.service),
        by: Some(incident.id.clone()),
    }
}

fn counts(alert: &AlertSeen) -> bool {
    // info alerts are context (a deploy happened), not detection
    alert.firing && alert.severity != "info"
}

/// The alert rules: the first firing (non-info) alert naming the faulted
/// service, received within the fault (plus grace) and started after the
/// fault did; rank = the service's place among services in order of their
/// first alert in that span.
pub fn alerts(fault: &FaultWindow, seen: &[AlertSeen], rules: &Rules) -> AlertDetection {
    let until = fault.end_ms + rules.grace_ms;
    let mut in_window: Vec<&AlertSeen> = seen
        .iter()
        .filter(|a| counts(a))
        .filter(|a| (fault.start_ms..=until).contains(&a.received_ms))
        .filter(|a| a.starts_ms >= fault.start_ms - 1_000)
        .collect();
    in_window.sort_by_key(|a| (a.received_ms, a.service.clone()));
    let mut order: Vec<String> = Vec::new();
    for a in &in_window {
        if !order.contains(&a.service) {
            order.push(a.service.clone());
        }
    }
    match in_window.iter().find(|a| a.service == fault.service) {
        None => AlertDetection {
            notified: Detection {
                detected: false,
                time_to_detect_s: None,
                rank: None,
                by: None,
            },
            time_to_fire_s: None,
        },
        Some(first) => AlertDetection {
            notified: Detection {
                detected: true,
                time_to_detect_s: Some(secs(first.received_ms - fault.start_ms)),
                rank: rank_of(&order, &fault.service),
                by: Some(first.alertname.clone()),
            },
            time_to_fire_s: Some(secs(first.starts_ms - fault.start_ms)),
        },
    }
}

/// Whether `t` falls in a fault or its aftermath.
fn during_a_fault(t: i64, faults: &[FaultWindow], rules: &Rules) -> bool {
    faults
        .iter()
        .any(|f| (f.start_ms..=f.end_ms + rules.settle_ms).contains(&t))
}

/// Incidents opened while no fault was active (ids).
pub fn quiet_incidents(
    faults: &[FaultWindow],
    incidents: &[IncidentSeen],
    rules: &Rules,
) -> Vec<String> {
    incidents
        .iter()
        .filter(|i| !during_a_fault(i.opened_ms, faults, rules))
        .map(|i| i.id.clone())
        .collect()
}

/// Distinct alerts (name and service) that started firing while no fault was active.
pub fn quiet_alerts(faults: &[FaultWindow], seen: &[AlertSeen], rules: &Rules) -> Vec<String> {
    let mut out: Vec<String> = seen
        .iter()
        .filter(|a| counts(a) && !during_a_fault(a.starts_ms, faults, rules))
        .map(|a| format!("{}{{service={}}}", a.alertname, a.service))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The median of what is there; `None` for nothing.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault() -> FaultWindow {
        FaultWindow {
            label: "payments_errors".into(),
            service: "payments".into(),
            kind: "errors".into(),
            start_ms: 100_000,
            end_ms: 200_000,
        }
    }

    fn incident(
        id: &str,
        opened: i64,
        joined: &[(&str, i64)],
        rankings: &[(i64, &[&str])],
    ) -> IncidentSeen {
        IncidentSeen {
            id: id.into(),
            opened_ms: opened,
            service_joined_ms: joined.iter().map(|(s, t)| ((*s).into(), *t)).collect(),
            rankings: rankings
                .iter()
                .map(|(t, r)| (*t, r.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
        }
    }

    #[test]
    fn engine_detection_time_and_rank_at_the_fault_end() {
        let incidents = vec![
            // before the fault, unrelated
            incident("a", 10_000, &[("cart", 10_000)], &[(12_000, &["cart"])]),
            incident(
                "b",
                112_000,
                &[("checkout", 112_000), ("payments", 114_000)],
                &[
                    (113_000, &["checkout"]),
                    (150_000, &["payments", "checkout"]),
                    (250_000, &["checkout"]),
                ],
            ),
        ];
        let d = engine(&fault(), &incidents, &Rules::default());
        assert!(d.detected);
        assert_eq!(d.time_to_detect_s, Some(14.0));
        assert_eq!(d.rank, Some(1), "ranking as it stood at the fault's end");
        assert_eq!(d.by.as_deref(), Some("b"));
        assert_eq!(
            quiet_incidents(&[fault()], &incidents, &Rules::default()),
            vec!["a"]
        );
    }

    #[test]
    fn an_older_incident_joined_by_the_fault_counts_from_the_join() {
        let incidents = vec![incident(
            "old",
            50_000,
            &[("cart", 50_000), ("payments", 130_000)],
            &[(60_000, &["cart"]), (140_000, &["cart", "payments"])],
        )];
        let d = engine(&fault(), &incidents, &Rules::default());
        assert_eq!(d.time_to_detect_s, Some(30.0));
        assert_eq!(d.rank, Some(2));
    }

    #[test]
    fn a_service_already_in_an_incident_is_detected_when_the_fault_joins() {
        // frontend was in a baseline incident; its fault's signal joins later
        let incidents = vec![incident(
            "base",
            50_000,
            &[("payments", 50_000), ("payments", 125_000)],
            &[(60_000, &["payments"])],
        )];
        let d = engine(&fault(), &incidents, &Rules::default());
        assert_eq!(d.time_to_detect_s, Some(25.0));
    }

    #[test]
    fn late_or_absent_detection() {
        let late = vec![incident(
            "x",
            270_000,
            &[("payments", 270_000)],
            &[(271_000, &["payments"])],
        )];
        assert!(!engine(&fault(), &late, &Rules::default()).detected);
        let within_grace = vec![incident(
            "y",
            230_000,
            &[("payments", 230_000)],
            &[(232_000, &["payments"])],
        )];
        let d = engine(&fault(), &within_grace, &Rules::default());
        assert_eq!(d.time_to_detect_s, Some(130.0));
        assert_eq!(d.rank, Some(1), "judged at the first look after detection");
    }

    fn alert(received: i64, starts: i64, name: &str, service: &str, severity: &str) -> AlertSeen {
        AlertSeen {
            received_ms: received,
            starts_ms: starts,
            alertname: name.into(),
            service: service.into(),
            severity: severity.into(),
            firing: true,
        }
    }

    #[test]
    fn alert_detection_rank_and_quiet_alerts() {
        let seen = vec![
            alert(20_000, 15_000, "ShopCPUSaturated", "orders", "warning"),
            alert(130_000, 125_000, "ShopVersionChanged", "payments", "info"),
            alert(
                150_000,
                140_000,
                "ShopPeerErrorRatioHigh",
                "checkout",
                "warning",
            ),
            alert(
                170_000,
                160_000,
                "ShopErrorBudgetBurn",
                "payments",
                "critical",
            ),
        ];
        let d = alerts(&fault(), &seen, &Rules::default());
        assert!(d.notified.detected);
        assert_eq!(d.notified.time_to_detect_s, Some(70.0));
        assert_eq!(d.time_to_fire_s, Some(60.0));
        assert_eq!(d.notified.rank, Some(2), "checkout alerted first");
        assert_eq!(d.notified.by.as_deref(), Some("ShopErrorBudgetBurn"));
        assert_eq!(
            quiet_alerts(&[fault()], &seen, &Rules::default()),
            vec!["ShopCPUSaturated{service=orders}"]
        );
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
