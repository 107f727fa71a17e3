//! The shipped game-day scenarios (`rules/chaos/`) parse, and together cover
//! every service and every fault kind, with a fault-free run of load steps.

use std::collections::BTreeSet;
use std::path::Path;

use aiops_eval::chaos::scenario::{self, RELEASE};

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
    assert_eq!(services, shop_topology::names().collect());
    let kinds: BTreeSet<&str> = scenarios
        .iter()
        .flat_map(|s| s.faults.iter().map(|f| f.kind.as_str()))
        .collect();
    let mut all: BTreeSet<&str> = shop_topology::FAULT_KINDS.into_iter().collect();
    all.insert(RELEASE);
    assert_eq!(kinds, all);
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

fn load_dir(name: &str) -> Vec<scenario::Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../rules")
        .join(name);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            out.push(scenario::load(&path).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    out
}

/// The check set is held out from tuning; it must be a real second set:
/// at least eight scenarios, none shared with the tuning set, fault sizes
/// smaller than the tuning set's, light and heavy load, and fault-free runs
/// with a 60% drop and an 80% rise.
#[test]
fn the_check_set_is_apart_from_the_tuning_set() {
    let tuning = load_dir("chaos");
    let check = load_dir("chaos-check");
    assert!(check.len() >= 8, "{} check scenarios", check.len());
    let tuning_names: BTreeSet<&str> = tuning.iter().map(|s| s.name.as_str()).collect();
    let mut check_names = BTreeSet::new();
    for s in &check {
        assert!(
            !tuning_names.contains(s.name.as_str()),
            "{} is in both sets",
            s.name
        );
        assert!(check_names.insert(s.name.as_str()), "{} twice", s.name);
    }
    let tuning_faults: BTreeSet<(String, String)> = tuning
        .iter()
        .flat_map(|s| s.faults.iter().map(|f| (f.service.clone(), f.kind.clone())))
        .collect();
    let repeated: Vec<_> = check
        .iter()
        .flat_map(|s| s.faults.iter())
        .filter(|f| tuning_faults.contains(&(f.service.clone(), f.kind.clone())))
        .map(|f| f.label())
        .collect();
    assert!(
        repeated.is_empty(),
        "same service and kind as in the tuning set: {repeated:?}"
    );
    let rates: BTreeSet<u64> = check.iter().map(|s| s.load.rate as u64).collect();
    assert!(
        rates.contains(&8) && rates.contains(&40),
        "light and heavy load: {rates:?}"
    );
    let steps: Vec<f64> = check
        .iter()
        .filter(|s| s.faults.is_empty())
        .flat_map(|s| s.load.steps.iter().map(move |st| st.rate / s.load.rate))
        .collect();
    assert!(steps.contains(&0.4) && steps.contains(&1.8), "{steps:?}");
}

/// The root-cause set records cases on faults neither other set has:
/// no service and kind repeated from either, no name shared.
#[test]
fn the_root_cause_set_repeats_no_fault_of_the_other_sets() {
    let rca = load_dir("chaos-rca");
    assert!(rca.len() >= 8, "{} root-cause scenarios", rca.len());
    let others: Vec<scenario::Scenario> = [load_dir("chaos"), load_dir("chaos-check")].concat();
    let names: BTreeSet<&str> = others.iter().map(|s| s.name.as_str()).collect();
    let faults: BTreeSet<(String, String)> = others
        .iter()
        .flat_map(|s| s.faults.iter().map(|f| (f.service.clone(), f.kind.clone())))
        .collect();
    for s in &rca {
        assert!(
            !names.contains(s.name.as_str()),
            "{} is in another set",
            s.name
        );
        assert_eq!(s.faults.len(), 1, "{}: one fault, one case", s.name);
        for f in &s.faults {
            assert!(
                !faults.contains(&(f.service.clone(), f.kind.clone())),
                "{}: {} with {} is in another set",
                s.name,
                f.service,
                f.kind
            );
        }
    }
}
