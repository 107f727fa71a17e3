//! Scores one scenario run from what was observed, as a sceptical on-call
//! engineer would: for each fault, whether an incident was opened about the
//! faulted service (through its own signals, not as the peer a caller
//! named), how fast, where the service ranked when the incident first named
//! it (what the person paged sees), when it first ranked first, and where
//! it ranked at the fault's end; and every false incident, wherever it
//! opened. The same windows judge the alert rules' notifications. Pure.

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

/// When a service's own signal joined an incident, and when the harness
/// first saw that join (the ranking it saw then is what a person saw).
#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub service: String,
    pub joined_ms: i64,
    pub seen_ms: i64,
}

/// One incident as last seen, plus its rankings over time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IncidentSeen {
    pub id: String,
    pub opened_ms: i64,
    /// Each time a signal of a service (its own, not one naming it as a
    /// peer) joined the incident.
    pub joins: Vec<Join>,
    /// (poll time, services of the root-cause ranking, best first), kept
    /// when it changed.
    pub rankings: Vec<(i64, Vec<String>)>,
}

impl IncidentSeen {
    /// The ranking in effect at `t`: the last one seen at or before it, or
    /// the first one seen after it when none was seen yet.
    fn ranking_at(&self, t: i64) -> &[String] {
        self.rankings
            .iter()
            .rfind(|(seen, _)| *seen <= t)
            .or_else(|| self.rankings.first())
            .map(|(_, r)| r.as_slice())
            .unwrap_or(&[])
    }

    /// Whether `service` was ever among the first `k` of the ranking.
    fn ever_ranked(&self, service: &str, k: usize) -> bool {
        self.rankings
            .iter()
            .any(|(_, r)| r.iter().take(k).any(|s| s == service))
    }
}

/// One alert notification as the webhook received it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSeen {
    pub received_ms: i64,
    /// When Prometheus says it started firing.
    pub starts_ms: i64,
    /// Which rule set sent it (`standard`, or a fast variant).
    pub ruleset: String,
    pub alertname: String,
    pub service: String,
    pub severity: String,
    pub firing: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// A fault detected this long after its end still counts.
    pub grace_ms: i64,
    /// After a fault ends, an incident (or alert) about its aftermath
    /// (restarts, recovery) may still open for this long; later, it is false.
    pub settle_ms: i64,
    /// An incident opened during a fault must rank the faulted service at
    /// least this high at some point, or it is false.
    pub top: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            grace_ms: 60_000,
            settle_ms: 60_000,
            top: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub detected: bool,
    /// Fault start to the incident (or alert) naming the service.
    pub time_to_detect_s: Option<f64>,
    /// 1-based rank of the faulted service when the incident first named
    /// it: what the person paged saw.
    pub rank_first: Option<usize>,
    /// Fault start to the first moment the service ranked first (from
    /// detection on, within the fault and its grace).
    pub time_to_rank_1_s: Option<f64>,
    /// 1-based rank at the fault's end (or at detection, if that came later).
    pub rank_end: Option<usize>,
    /// Incident id, or the first alert's name.
    pub by: Option<String>,
}

impl Detection {
    fn missed() -> Self {
        Detection {
            detected: false,
            time_to_detect_s: None,
            rank_first: None,
            time_to_rank_1_s: None,
            rank_end: None,
            by: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertDetection {
    #[serde(flatten)]
    pub notified: Detection,
    /// Fault start to the alert's `startsAt` (firing in Prometheus, before
    /// Alertmanager's grouping delay).
    pub time_to_fire_s: Option<f64>,
}

/// An incident (or alert) that should not have opened, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FalseAlarm {
    /// Incident id, or `alertname{service=..}` for an alert.
    pub id: String,
    /// Unix milliseconds.
    pub opened_ms: i64,
    /// True when it opened while no fault (or its settle time) was on.
    pub without_fault: bool,
    pub why: String,
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn rank_of(ranking: &[String], service: &str) -> Option<usize> {
    ranking.iter().position(|s| s == service).map(|i| i + 1)
}

/// The engine: the first incident that the faulted service's own signals
/// joined within the fault (plus grace). Its rank is read three times: when
/// the harness first saw that join, the first time it was first, and at the
/// fault's end.
pub fn engine(fault: &FaultWindow, incidents: &[IncidentSeen], rules: &Rules) -> Detection {
    let until = fault.end_ms + rules.grace_ms;
    let first = incidents
        .iter()
        .filter_map(|incident| {
            let join = incident
                .joins
                .iter()
                .filter(|j| {
                    j.service == fault.service && (fault.start_ms..=until).contains(&j.joined_ms)
                })
                .min_by_key(|j| (j.joined_ms, j.seen_ms))?;
            Some((join, incident))
        })
        .min_by_key(|(join, incident)| (join.joined_ms, incident.id.clone()));
    let Some((join, incident)) = first else {
        return Detection::missed();
    };
    let rank_first = rank_of(incident.ranking_at(join.seen_ms), &fault.service);
    let time_to_rank_1_s = if rank_first == Some(1) {
        Some(secs(join.joined_ms - fault.start_ms))
    } else {
        incident
            .rankings
            .iter()
            .filter(|(t, _)| *t > join.seen_ms && *t <= until)
            .find(|(_, r)| r.first().is_some_and(|s| *s == fault.service))
            .map(|(t, _)| secs(t - fault.start_ms))
    };
    let rank_end = rank_of(
        incident.ranking_at(fault.end_ms.max(join.seen_ms)),
        &fault.service,
    );
    Detection {
        detected: true,
        time_to_detect_s: Some(secs(join.joined_ms - fault.start_ms)),
        rank_first,
        time_to_rank_1_s,
        rank_end,
        by: Some(incident.id.clone()),
    }
}

fn counts(alert: &AlertSeen) -> bool {
    // info alerts are context (a deploy happened), not detection
    alert.firing && alert.severity != "info"
}

/// The alert rules of one rule set: the first firing (non-info) alert
/// naming the faulted service, received within the fault (plus grace) and
/// started after the fault did; rank = the service's place among services
/// in order of their first alert in that span (it cannot change later, so
/// first and end rank are the same).
pub fn alerts(
    fault: &FaultWindow,
    seen: &[AlertSeen],
    ruleset: &str,
    rules: &Rules,
) -> AlertDetection {
    let until = fault.end_ms + rules.grace_ms;
    let mut in_window: Vec<&AlertSeen> = seen
        .iter()
        .filter(|a| a.ruleset == ruleset && counts(a))
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
            notified: Detection::missed(),
            time_to_fire_s: None,
        },
        Some(first) => {
            let rank = rank_of(&order, &fault.service);
            let time_to_detect = secs(first.received_ms - fault.start_ms);
            AlertDetection {
                notified: Detection {
                    detected: true,
                    time_to_detect_s: Some(time_to_detect),
                    rank_first: rank,
                    time_to_rank_1_s: (rank == Some(1)).then_some(time_to_detect),
                    rank_end: rank,
                    by: Some(first.alertname.clone()),
                },
                time_to_fire_s: Some(secs(first.starts_ms - fault.start_ms)),
            }
        }
    }
}

/// The faults in whose span (start to end plus settle time) `t` falls.
fn active_at<'a>(t: i64, faults: &'a [FaultWindow], rules: &Rules) -> Vec<&'a FaultWindow> {
    faults
        .iter()
        .filter(|f| (f.start_ms..=f.end_ms + rules.settle_ms).contains(&t))
        .collect()
}

/// Why a time outside every fault's span is outside it.
fn outside_why(t: i64, faults: &[FaultWindow], rules: &Rules) -> String {
    let first = faults.iter().map(|f| f.start_ms).min();
    let last = faults.iter().map(|f| f.end_ms).max();
    match (first, last) {
        (None, _) | (_, None) => "opened in a run without faults".into(),
        (Some(first), _) if t < first => {
            format!("opened {:.0}s before the first fault", secs(first - t))
        }
        (_, Some(last)) if t > last + rules.settle_ms => format!(
            "opened {:.0}s after the last fault ended (settle time {:.0}s)",
            secs(t - last),
            secs(rules.settle_ms)
        ),
        _ => "opened between faults, after the settle time of the one before".into(),
    }
}

/// Every false incident: opened while no fault was on (before the first,
/// between faults, or later than the settle time after the last), or
/// opened during a fault without ever ranking a faulted service among its
/// top `rules.top`.
pub fn false_incidents(
    faults: &[FaultWindow],
    incidents: &[IncidentSeen],
    rules: &Rules,
) -> Vec<FalseAlarm> {
    let mut out = Vec::new();
    for incident in incidents {
        let active = active_at(incident.opened_ms, faults, rules);
        let why = if active.is_empty() {
            outside_why(incident.opened_ms, faults, rules)
        } else if active
            .iter()
            .any(|f| incident.ever_ranked(&f.service, rules.top))
        {
            continue;
        } else {
            let services: Vec<&str> = active.iter().map(|f| f.service.as_str()).collect();
            format!(
                "opened during a fault in {} but never ranked it among its top {}",
                services.join(", "),
                rules.top
            )
        };
        out.push(FalseAlarm {
            id: incident.id.clone(),
            opened_ms: incident.opened_ms,
            without_fault: active.is_empty(),
            why,
        });
    }
    out
}

/// Distinct alerts of one rule set (name and service) that started firing
/// while no fault (or its settle time) was on.
pub fn false_alerts(
    faults: &[FaultWindow],
    seen: &[AlertSeen],
    ruleset: &str,
    rules: &Rules,
) -> Vec<FalseAlarm> {
    let mut out: Vec<FalseAlarm> = Vec::new();
    for a in seen.iter().filter(|a| a.ruleset == ruleset && counts(a)) {
        if !active_at(a.starts_ms, faults, rules).is_empty() {
            continue;
        }
        let id = format!("{}{{service={}}}", a.alertname, a.service);
        if out.iter().any(|f| f.id == id && f.opened_ms == a.starts_ms) {
            continue;
        }
        out.push(FalseAlarm {
            id,
            opened_ms: a.starts_ms,
            without_fault: true,
            why: outside_why(a.starts_ms, faults, rules),
        });
    }
    out.sort_by(|a, b| (a.opened_ms, &a.id).cmp(&(b.opened_ms, &b.id)));
    out
}

/// How long, in ms, of `[run_start, run_end]` no fault (nor its settle
/// time) was on: the fault-free load that false alarms are counted against.
pub fn fault_free_ms(faults: &[FaultWindow], run_start: i64, run_end: i64, rules: &Rules) -> i64 {
    let mut spans: Vec<(i64, i64)> = faults
        .iter()
        .map(|f| {
            (
                f.start_ms.clamp(run_start, run_end),
                (f.end_ms + rules.settle_ms).clamp(run_start, run_end),
            )
        })
        .collect();
    spans.sort_unstable();
    let mut covered = 0;
    let mut reach = run_start;
    for (start, end) in spans {
        let start = start.max(reach);
        if end > start {
            covered += end - start;
            reach = end;
        }
    }
    (run_end - run_start).max(0) - covered
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

    /// Joins as (service, joined, seen).
    fn incident(
        id: &str,
        opened: i64,
        joins: &[(&str, i64, i64)],
        rankings: &[(i64, &[&str])],
    ) -> IncidentSeen {
        IncidentSeen {
            id: id.into(),
            opened_ms: opened,
            joins: joins
                .iter()
                .map(|(s, joined, seen)| Join {
                    service: (*s).into(),
                    joined_ms: *joined,
                    seen_ms: *seen,
                })
                .collect(),
            rankings: rankings
                .iter()
                .map(|(t, r)| (*t, r.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
        }
    }

    #[test]
    fn rank_at_first_sight_time_to_rank_1_and_rank_at_the_end() {
        let incidents = vec![
            // before the fault, unrelated
            incident(
                "a",
                10_000,
                &[("cart", 10_000, 11_000)],
                &[(11_000, &["cart"])],
            ),
            incident(
                "b",
                112_000,
                &[
                    ("checkout", 112_000, 113_000),
                    ("payments", 114_000, 115_000),
                ],
                &[
                    (113_000, &["checkout"]),
                    (115_000, &["checkout", "payments"]),
                    (150_000, &["payments", "checkout"]),
                    (199_000, &["checkout", "payments"]),
                ],
            ),
        ];
        let d = engine(&fault(), &incidents, &Rules::default());
        assert!(d.detected);
        assert_eq!(d.time_to_detect_s, Some(14.0));
        assert_eq!(d.rank_first, Some(2), "what the person paged saw");
        assert_eq!(d.time_to_rank_1_s, Some(50.0));
        assert_eq!(d.rank_end, Some(2), "as it stood at the fault's end");
        assert_eq!(d.by.as_deref(), Some("b"));
    }

    #[test]
    fn ranked_first_at_first_sight_counts_from_detection() {
        let incidents = vec![incident(
            "b",
            110_000,
            &[("payments", 110_000, 111_000)],
            &[(111_000, &["payments"])],
        )];
        let d = engine(&fault(), &incidents, &Rules::default());
        assert_eq!(d.rank_first, Some(1));
        assert_eq!(d.time_to_rank_1_s, Some(10.0));
        assert_eq!(d.rank_end, Some(1));
    }

    #[test]
    fn never_first_has_no_time_to_rank_1() {
        let incidents = vec![incident(
            "b",
            110_000,
            &[("payments", 110_000, 111_000)],
            &[
                (111_000, &["checkout", "payments"]),
                (300_000, &["payments"]),
            ],
        )];
        let d = engine(&fault(), &incidents, &Rules::default());
        assert_eq!(d.rank_first, Some(2));
        assert_eq!(
            d.time_to_rank_1_s, None,
            "rank 1 after the grace does not count"
        );
    }

    #[test]
    fn an_older_incident_joined_by_the_fault_counts_from_the_join() {
        let incidents = vec![incident(
            "old",
            50_000,
            &[("cart", 50_000, 51_000), ("payments", 130_000, 131_000)],
            &[(60_000, &["cart"]), (131_000, &["cart", "payments"])],
        )];
        let d = engine(&fault(), &incidents, &Rules::default());
        assert_eq!(d.time_to_detect_s, Some(30.0));
        assert_eq!(d.rank_first, Some(2));
        // ...but the incident itself opened before the fault: false
        let f = false_incidents(&[fault()], &incidents, &Rules::default());
        assert_eq!(f.len(), 1);
        assert!(
            f[0].without_fault && f[0].why.contains("before the first fault"),
            "{f:?}"
        );
    }

    #[test]
    fn a_service_already_in_an_incident_is_detected_when_the_fault_joins() {
        let incidents = vec![incident(
            "base",
            50_000,
            &[("payments", 50_000, 51_000), ("payments", 125_000, 126_000)],
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
            &[("payments", 270_000, 271_000)],
            &[(271_000, &["payments"])],
        )];
        assert!(!engine(&fault(), &late, &Rules::default()).detected);
        let within_grace = vec![incident(
            "y",
            230_000,
            &[("payments", 230_000, 231_000)],
            &[(232_000, &["payments"])],
        )];
        let d = engine(&fault(), &within_grace, &Rules::default());
        assert_eq!(d.time_to_detect_s, Some(130.0));
        assert_eq!(
            d.rank_end,
            Some(1),
            "judged at the first look after detection"
        );
    }

    #[test]
    fn false_incidents_wherever_they_open() {
        let rules = Rules::default();
        let incidents = vec![
            incident("before", 90_000, &[], &[(91_000, &["cart"])]),
            incident(
                "during-right",
                120_000,
                &[],
                &[(121_000, &["checkout", "frontend", "payments"])],
            ),
            incident(
                "during-wrong",
                130_000,
                &[],
                &[(131_000, &["cart", "orders", "checkout", "payments"])],
            ),
            incident("aftermath", 255_000, &[], &[(256_000, &["payments"])]),
            incident("after", 262_000, &[], &[(263_000, &["payments"])]),
        ];
        let f = false_incidents(&[fault()], &incidents, &rules);
        let ids: Vec<&str> = f.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["before", "during-wrong", "after"]);
        assert!(
            f[0].why.contains("10s before the first fault"),
            "{}",
            f[0].why
        );
        assert!(
            !f[1].without_fault && f[1].why.contains("top 3"),
            "{}",
            f[1].why
        );
        assert!(
            f[2].why.contains("62s after the last fault"),
            "{}",
            f[2].why
        );
        // with no fault at all, everything is false
        let none = false_incidents(&[], &incidents, &rules);
        assert_eq!(none.len(), 5);
        assert!(none[0].why.contains("without faults"));
    }

    #[test]
    fn fault_free_time_merges_overlapping_spans() {
        let rules = Rules::default();
        let f = |start, end| FaultWindow {
            start_ms: start,
            end_ms: end,
            ..fault()
        };
        assert_eq!(fault_free_ms(&[], 0, 600_000, &rules), 600_000);
        // 100-260 s covered (end + 60 s settle)
        assert_eq!(fault_free_ms(&[fault()], 0, 600_000, &rules), 440_000);
        // overlapping: 100-260 and 150-330 -> 100-330
        assert_eq!(
            fault_free_ms(&[fault(), f(150_000, 270_000)], 0, 600_000, &rules),
            370_000
        );
        // a span past the run's end is clipped
        assert_eq!(
            fault_free_ms(&[f(500_000, 590_000)], 0, 600_000, &rules),
            500_000
        );
    }

    fn alert(received: i64, starts: i64, name: &str, service: &str, severity: &str) -> AlertSeen {
        AlertSeen {
            received_ms: received,
            starts_ms: starts,
            ruleset: "standard".into(),
            alertname: name.into(),
            service: service.into(),
            severity: severity.into(),
            firing: true,
        }
    }

    #[test]
    fn alert_detection_rank_and_false_alerts() {
        let mut seen = vec![
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
            alert(300_000, 290_000, "ShopServiceRestarted", "cart", "warning"),
        ];
        // a fast variant's alert is judged with its own rule set only
        let mut fast = alert(
            104_000,
            103_000,
            "ShopErrorBudgetBurn",
            "payments",
            "critical",
        );
        fast.ruleset = "for-0s".into();
        seen.push(fast);
        let d = alerts(&fault(), &seen, "standard", &Rules::default());
        assert!(d.notified.detected);
        assert_eq!(d.notified.time_to_detect_s, Some(70.0));
        assert_eq!(d.time_to_fire_s, Some(60.0));
        assert_eq!(d.notified.rank_first, Some(2), "checkout alerted first");
        assert_eq!(d.notified.time_to_rank_1_s, None);
        assert_eq!(d.notified.by.as_deref(), Some("ShopErrorBudgetBurn"));
        let ids: Vec<String> = false_alerts(&[fault()], &seen, "standard", &Rules::default())
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(
            ids,
            [
                "ShopCPUSaturated{service=orders}",
                "ShopServiceRestarted{service=cart}"
            ]
        );
        let quick = alerts(&fault(), &seen, "for-0s", &Rules::default());
        assert_eq!(quick.notified.time_to_detect_s, Some(4.0));
        assert_eq!(quick.notified.time_to_rank_1_s, Some(4.0));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}

/// One action of the engine's ledger as the harness read it at the end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionSeen {
    pub id: String,
    pub playbook: String,
    pub action: String,
    pub service: Option<String>,
    pub state: String,
    pub created_ms: i64,
    /// When it succeeded, if it did.
    pub succeeded_ms: Option<i64>,
    /// Its verification's verdict, once decided.
    pub verified: Option<bool>,
    /// It was handed to the executor (restart, roll back, ... not a skip).
    pub executed: bool,
}

impl ActionSeen {
    fn changes_a_service(&self) -> bool {
        self.executed
            && self.service.is_some()
            && self.action != "annotate"
            && self.action != "escalate"
    }
}

/// What the playbooks did about one fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Remedy {
    /// Every ledger record of the fault's span, in order.
    pub actions: Vec<String>,
    /// Actions that changed a service.
    pub executed: usize,
    /// Fault start to the first action on the faulted service that
    /// succeeded and was verified (the process with the fault replaced, or
    /// the bad release rolled back); `None` when no action cured it.
    pub time_to_recover_s: Option<f64>,
    pub escalated: bool,
    /// Actions on services other than the faulted one: they touched a
    /// healthy service.
    pub harmful: Vec<String>,
    /// More than one action changed the faulted service.
    pub repeated: bool,
}

/// Judges the ledger against one fault.
pub fn remedy(fault: &FaultWindow, actions: &[ActionSeen], rules: &Rules) -> Remedy {
    let span = fault.start_ms..=fault.end_ms + rules.settle_ms;
    let mine: Vec<&ActionSeen> = actions
        .iter()
        .filter(|a| span.contains(&a.created_ms))
        .collect();
    let changed: Vec<&&ActionSeen> = mine.iter().filter(|a| a.changes_a_service()).collect();
    let cured = changed
        .iter()
        .filter(|a| {
            a.service.as_deref() == Some(fault.service.as_str()) && a.verified == Some(true)
        })
        .filter_map(|a| a.succeeded_ms)
        .min();
    Remedy {
        actions: mine
            .iter()
            .map(|a| {
                format!(
                    "{:+.0}s {} {} {}",
                    secs(a.created_ms - fault.start_ms),
                    a.action,
                    a.service.as_deref().unwrap_or("-"),
                    a.state
                )
            })
            .collect(),
        executed: changed.len(),
        time_to_recover_s: cured.map(|t| secs(t - fault.start_ms)),
        escalated: mine.iter().any(|a| a.action == "escalate" && a.executed),
        harmful: changed
            .iter()
            .filter(|a| a.service.as_deref() != Some(fault.service.as_str()))
            .map(|a| format!("{} {}", a.action, a.service.as_deref().unwrap_or("-")))
            .collect(),
        repeated: changed
            .iter()
            .filter(|a| a.service.as_deref() == Some(fault.service.as_str()))
            .count()
            > 1,
    }
}

/// Actions that changed a service while no fault (nor its settle time)
/// was on: each is an action on a healthy system.
pub fn actions_without_fault(
    faults: &[FaultWindow],
    actions: &[ActionSeen],
    rules: &Rules,
) -> Vec<String> {
    actions
        .iter()
        .filter(|a| a.changes_a_service() && active_at(a.created_ms, faults, rules).is_empty())
        .map(|a| {
            format!(
                "{} {} ({})",
                a.action,
                a.service.as_deref().unwrap_or("-"),
                a.id
            )
        })
        .collect()
}

#[cfg(test)]
mod remedy_tests {
    use super::*;

    fn fault(kind: &str) -> FaultWindow {
        FaultWindow {
            label: format!("recommendation_{kind}"),
            service: "recommendation".into(),
            kind: kind.into(),
            start_ms: 100_000,
            end_ms: 220_000,
        }
    }

    fn action(
        action: &str,
        service: &str,
        created: i64,
        ok: Option<i64>,
        verified: Option<bool>,
    ) -> ActionSeen {
        ActionSeen {
            id: format!("act-{created}"),
            playbook: "p".into(),
            action: action.into(),
            service: (!service.is_empty()).then(|| service.into()),
            state: if ok.is_some() {
                "succeeded".into()
            } else {
                "skipped".into()
            },
            created_ms: created,
            succeeded_ms: ok,
            verified,
            executed: ok.is_some(),
        }
    }

    #[test]
    fn a_verified_restart_recovers_and_nothing_else_counts() {
        let actions = vec![
            action(
                "restart",
                "recommendation",
                115_000,
                Some(117_000),
                Some(true),
            ),
            action("restart", "cart", 50_000, Some(51_000), Some(true)),
            action("scale", "recommendation", 116_000, None, None),
        ];
        let r = remedy(&fault("leak"), &actions, &Rules::default());
        assert_eq!(r.time_to_recover_s, Some(17.0));
        assert_eq!(r.executed, 1);
        assert!(r.harmful.is_empty() && !r.repeated && !r.escalated);
        assert_eq!(
            r.actions.len(),
            2,
            "the skip is listed, the earlier restart is not"
        );
        assert_eq!(
            actions_without_fault(&[fault("leak")], &actions, &Rules::default()),
            ["restart cart (act-50000)"]
        );
    }

    #[test]
    fn an_unverified_restart_then_escalation_is_no_recovery() {
        let actions = vec![
            action(
                "restart",
                "recommendation",
                130_000,
                Some(131_000),
                Some(false),
            ),
            action("escalate", "", 192_000, Some(192_000), None),
            action("restart", "frontend", 140_000, Some(141_000), None),
            action("restart", "recommendation", 150_000, Some(151_000), None),
        ];
        let r = remedy(&fault("errors"), &actions, &Rules::default());
        assert_eq!(r.time_to_recover_s, None);
        assert!(r.escalated);
        assert_eq!(r.harmful, ["restart frontend"]);
        assert!(r.repeated);
    }
}
