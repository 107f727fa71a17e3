//! The shipped game-day scenarios (`rules/chaos/`) parse, and together cover
//! every service and every fault kind, with a fault-free run of load steps.

use std::collections::BTreeSet;
use std::path::Path;

use aiops_eval::chaos::scenario::{self, FAULT_KINDS, SERVICES};

#[test]
fn shipped_scenarios_cover_every_service_and_fault_kind() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/chaos");
    let mut scenarios = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("rules/chaos") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            scenarios.push(scenario::load(&path).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    let with_faults = scenarios.iter().filter(|s| !s.faults.is_empty()).count();
    assert!(with_faults >= 12, "{with_faults} scenarios with faults");
    let services: BTreeSet<&str> = scenarios
        .iter()
        .flat_map(|s| s.faults.iter().map(|f| f.service.as_str()))
        .collect();
    assert_eq!(services, SERVICES.into_iter().collect());
    let kinds: BTreeSet<&str> = scenarios
        .iter()
        .flat_map(|s| s.faults.iter().map(|f| f.kind.as_str()))
        .collect();
    assert_eq!(kinds, FAULT_KINDS.into_iter().collect());
    let quiet = scenarios
        .iter()
        .find(|s| s.faults.is_empty())
        .expect("a fault-free scenario");
    let rates: Vec<f64> = quiet
        .load
        .steps
        .iter()
        .map(|s| s.rate / quiet.load.rate)
        .collect();
    assert!(rates.contains(&1.5) && rates.contains(&0.5), "{rates:?}");
    let mut names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), scenarios.len(), "names are unique");
}
