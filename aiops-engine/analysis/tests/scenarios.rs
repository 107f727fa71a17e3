//! The analysis over a simulated shop, with simulated time: the store gets
//! the counters a 5 s scrape of the seven services would give, faults change
//! what the services answer, and the test reads the incidents.

use std::collections::BTreeMap;

use aiops_analysis::{AnalysisConfig, Analyzer, IncidentState};
use aiops_core::model::{SampleBatch, SampleValue, SeriesSamples};
use aiops_core::{SeriesStore, StoreConfig};

const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 5_000;
const SERVICES: [&str; 7] = [
    "frontend",
    "catalog",
    "cart",
    "orders",
    "checkout",
    "payments",
    "recommendation",
];
const EDGES: [(&str, &str); 10] = [
    ("frontend", "catalog"),
    ("frontend", "cart"),
    ("frontend", "recommendation"),
    ("frontend", "checkout"),
    ("frontend", "orders"),
    ("cart", "catalog"),
    ("checkout", "cart"),
    ("checkout", "payments"),
    ("checkout", "orders"),
    ("recommendation", "catalog"),
];

#[derive(Clone, Copy, Default)]
struct Fault {
    /// Extra error ratio of the service's own answers.
    errors: f64,
}

struct Shop {
    store: SeriesStore,
    now: i64,
    counters: BTreeMap<Vec<(String, String)>, f64>,
    traffic: f64,
    faults: BTreeMap<&'static str, Fault>,
    peer_fault: Option<(&'static str, &'static str, f64)>,
    seed: u64,
}

impl Shop {
    fn new() -> Self {
        Shop {
            store: SeriesStore::new(StoreConfig::default()),
            now: T0,
            counters: BTreeMap::new(),
            traffic: 1.0,
            faults: BTreeMap::new(),
            peer_fault: None,
            seed: 7,
        }
    }

    fn noise(&mut self) -> f64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5
    }

    fn base_rate(service: &str) -> f64 {
        match service {
            "frontend" => 40.0,
            "catalog" => 60.0,
            "cart" => 12.0,
            "recommendation" => 20.0,
            _ => 3.0,
        }
    }

    /// The error ratio a service answers with, faults propagated to callers.
    fn error_ratio(&self, service: &str) -> f64 {
        let own = self.faults.get(service).map_or(0.0, |f| f.errors);
        let via_peers: f64 = EDGES
            .iter()
            .filter(|(caller, _)| *caller == service)
            .map(|(_, callee)| self.call_error_ratio(service, callee))
            .fold(0.0, f64::max);
        let share = if service == "frontend" { 0.1 } else { 1.0 };
        (own + share * via_peers).min(1.0)
    }

    fn call_error_ratio(&self, caller: &str, callee: &str) -> f64 {
        let injected = match self.peer_fault {
            Some((c, p, ratio)) if c == caller && p == callee => ratio,
            _ => 0.0,
        };
        (self.error_ratio(callee) + injected).min(1.0)
    }

    fn add(&mut self, labels: &[(&str, &str)], by: f64) {
        let mut key: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        key.sort();
        *self.counters.entry(key).or_insert(0.0) += by;
    }

    fn scrape(&mut self) {
        self.now += STEP;
        let secs = STEP as f64 / 1000.0;
        for service in SERVICES {
            let rate = Self::base_rate(service) * self.traffic * (1.0 + 0.05 * self.noise());
            let errors = self.error_ratio(service);
            let total = rate * secs;
            let name = "http_server_request_duration_seconds_count";
            self.add(
                &[
                    ("__name__", name),
                    ("job", service),
                    ("http_response_status_code", "200"),
                ],
                total * (1.0 - errors),
            );
            self.add(
                &[
                    ("__name__", name),
                    ("job", service),
                    ("http_response_status_code", "500"),
                ],
                total * errors,
            );
            let bucket = "http_server_request_duration_seconds_bucket";
            let fast = 0.9 + 0.02 * self.noise();
            self.add(
                &[("__name__", bucket), ("job", service), ("le", "0.05")],
                total * fast,
            );
            self.add(
                &[("__name__", bucket), ("job", service), ("le", "0.25")],
                total * 0.99,
            );
            self.add(
                &[("__name__", bucket), ("job", service), ("le", "+Inf")],
                total,
            );
            self.add(
                &[("__name__", "process_cpu_seconds_total"), ("job", service)],
                0.02 * secs,
            );
        }
        for (caller, callee) in EDGES {
            let calls = Self::base_rate(caller) * self.traffic * 0.2 * secs;
            let failing = self.call_error_ratio(caller, callee);
            let name = "http_client_request_duration_seconds_count";
            self.add(
                &[
                    ("__name__", name),
                    ("job", caller),
                    ("peer_service", callee),
                    ("http_response_status_code", "200"),
                ],
                calls * (1.0 - failing),
            );
            self.add(
                &[
                    ("__name__", name),
                    ("job", caller),
                    ("peer_service", callee),
                    ("http_response_status_code", "500"),
                ],
                calls * failing,
            );
        }
        let mut series: Vec<SeriesSamples> = self
            .counters
            .iter()
            .map(|(labels, value)| SeriesSamples {
                labels: labels.clone(),
                samples: vec![SampleValue {
                    ts_ms: self.now,
                    value: *value,
                }],
            })
            .collect();
        for service in SERVICES {
            series.push(SeriesSamples {
                labels: vec![
                    ("__name__".into(), "up".into()),
                    ("instance".into(), format!("{service}:1")),
                    ("job".into(), service.into()),
                ],
                samples: vec![SampleValue {
                    ts_ms: self.now,
                    value: 1.0,
                }],
            });
        }
        self.store.append(
            &SampleBatch {
                series,
                ..Default::default()
            },
            self.now,
        );
    }

    /// Two engines watching the same shop, the second a moment behind
    /// the first (as two replicas would), for `seconds`.
    fn run_both(&mut self, first: &mut Analyzer, second: &mut Analyzer, seconds: i64) {
        for _ in 0..seconds * 1000 / STEP {
            self.scrape();
            first.evaluate(&self.store, self.now);
            second.evaluate(&self.store, self.now + 7);
        }
    }

    /// Scrapes and evaluates for `seconds`.
    fn run(&mut self, analyzer: &mut Analyzer, seconds: i64) {
        for _ in 0..seconds * 1000 / STEP {
            self.scrape();
            analyzer.evaluate(&self.store, self.now);
        }
    }
}

fn analyzer() -> Analyzer {
    Analyzer::new(AnalysisConfig::default())
}

#[test]
fn an_error_fault_in_payments_opens_one_incident_with_payments_first() {
    let (mut shop, mut analyzer) = (Shop::new(), analyzer());
    shop.run(&mut analyzer, 300);
    assert!(
        analyzer.correlator().incidents().is_empty(),
        "no incident before the fault"
    );
    shop.faults.insert("payments", Fault { errors: 0.5 });
    let fault_at = shop.now;
    shop.run(&mut analyzer, 60);
    let incidents = analyzer.correlator().incidents();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let incident = &incidents[0];
    assert_eq!(
        incident.root_cause[0].service, "payments",
        "{:#?}",
        incident.root_cause
    );
    assert!(
        incident.opened_at_ms - fault_at <= 20_000,
        "opened {} ms after the fault",
        incident.opened_at_ms - fault_at
    );
    assert!(incident.services.contains(&"checkout".to_string()));
    assert!(incident.signals.iter().all(|m| !m.reason.is_empty()));
    assert!(!incident.root_cause[0].reasons.is_empty());

    // the fault ends: the incident resolves after the quiet period
    shop.faults.clear();
    shop.run(&mut analyzer, 600);
    let incident = &analyzer.correlator().incidents()[0];
    assert_eq!(
        incident.state,
        IncidentState::Resolved,
        "{:#?}",
        incident.timeline
    );
}

#[test]
fn a_traffic_step_opens_nothing() {
    let (mut shop, mut analyzer) = (Shop::new(), analyzer());
    shop.run(&mut analyzer, 300);
    shop.traffic = 1.5;
    shop.run(&mut analyzer, 300);
    shop.traffic = 0.5;
    shop.run(&mut analyzer, 300);
    assert!(
        analyzer.correlator().incidents().is_empty(),
        "{:#?}",
        analyzer.correlator().incidents()
    );
}

#[test]
fn a_flapping_fault_opens_one_incident_not_ten() {
    let (mut shop, mut analyzer) = (Shop::new(), analyzer());
    shop.run(&mut analyzer, 300);
    for _ in 0..10 {
        shop.faults.insert("payments", Fault { errors: 0.4 });
        shop.run(&mut analyzer, 30);
        shop.faults.clear();
        shop.run(&mut analyzer, 60);
    }
    let incidents = analyzer.correlator().incidents();
    assert_eq!(
        incidents.len(),
        1,
        "{:#?}",
        incidents.iter().map(|i| &i.timeline).collect::<Vec<_>>()
    );
    let flaps = incidents[0]
        .timeline
        .iter()
        .filter(|e| e.event == "flap")
        .count();
    assert!(
        flaps >= 3,
        "flapping recorded: {:#?}",
        incidents[0].timeline
    );
}

#[test]
fn failing_calls_to_a_healthy_peer_blame_the_caller() {
    let (mut shop, mut analyzer) = (Shop::new(), analyzer());
    shop.run(&mut analyzer, 300);
    shop.peer_fault = Some(("checkout", "payments", 0.8));
    shop.run(&mut analyzer, 60);
    let incidents = analyzer.correlator().incidents();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    assert_eq!(
        incidents[0].root_cause[0].service, "checkout",
        "{:#?}",
        incidents[0].root_cause
    );
}

#[test]
fn a_restart_keeps_incidents_and_opens_no_duplicate() {
    let (mut shop, mut analyzer) = (Shop::new(), analyzer());
    shop.run(&mut analyzer, 300);
    shop.faults.insert("payments", Fault { errors: 0.5 });
    shop.run(&mut analyzer, 60);
    let saved: Vec<_> = analyzer.correlator().incidents().to_vec();
    assert_eq!(saved.len(), 1);
    // as if persisted and loaded by a new engine process
    let json = serde_json::to_string(&saved).unwrap();
    let mut restarted = self::analyzer();
    restarted.restore(serde_json::from_str(&json).unwrap(), shop.now);
    // the new process learns the still-faulty level as its baseline, then the
    // fault gets worse: the signal joins the restored incident
    shop.run(&mut restarted, 120);
    shop.faults.insert("payments", Fault { errors: 0.9 });
    shop.run(&mut restarted, 60);
    let incidents = restarted.correlator().incidents();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    assert_eq!(incidents[0].id, saved[0].id);
    assert!(
        incidents[0].revision > saved[0].revision,
        "the restarted engine's signals joined the restored incident: {:#?}",
        incidents[0].timeline
    );
}

#[test]
fn a_follower_taking_over_continues_the_leaders_incidents_under_their_ids() {
    let mut shop = Shop::new();
    let (mut leader, mut follower) = (analyzer(), analyzer());
    shop.run_both(&mut leader, &mut follower, 300);
    shop.faults.insert("payments", Fault { errors: 0.5 });
    shop.run_both(&mut leader, &mut follower, 60);
    let kept: Vec<_> = leader.correlator().incidents().to_vec();
    let own: Vec<_> = follower.correlator().incidents().to_vec();
    assert_eq!((kept.len(), own.len()), (1, 1), "{kept:#?} {own:#?}");
    assert_ne!(
        own[0].id, kept[0].id,
        "two engines name the same fault apart"
    );
    // the leader dies; the follower takes over what the leader persisted
    let json = serde_json::to_string(&kept).unwrap();
    follower.adopt(serde_json::from_str(&json).unwrap(), shop.now);
    let ids: Vec<&str> = follower
        .correlator()
        .incidents()
        .iter()
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(ids, [kept[0].id.as_str()], "its own incident gave way");
    shop.faults.insert("payments", Fault { errors: 0.9 });
    shop.run(&mut follower, 60);
    let incidents = follower.correlator().incidents();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    assert_eq!(incidents[0].id, kept[0].id);
    assert!(
        incidents[0].revision > kept[0].revision,
        "the follower's signals joined the taken-over incident: {:#?}",
        incidents[0].timeline
    );
    assert!(
        incidents[0]
            .timeline
            .iter()
            .any(|e| e.detail.contains("took over as leader")),
        "{:#?}",
        incidents[0].timeline
    );
}
