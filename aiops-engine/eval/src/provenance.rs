//! Which benchmark data the engine's settings were tuned on. A figure on
//! data it was tuned on says what tuning bought; only data it was not
//! tuned on says what a new user can expect, so every report says which
//! is which.

use std::path::Path;

/// NAB categories of the development subset: the detector's design and
/// settings were chosen on them (`--cross-validate` leaves each out).
pub const NAB_TUNED: [&str; 4] = [
    "artificialNoAnomaly",
    "artificialWithAnomaly",
    "realAWSCloudwatch",
    "realTraffic",
];

/// Loghub systems whose 2k samples chose the log miner's rules.
pub const LOGHUB_TUNED: [&str; 9] = [
    "HPC",
    "Hadoop",
    "HealthApp",
    "Mac",
    "OpenStack",
    "Proxifier",
    "Spark",
    "Thunderbird",
    "Zookeeper",
];

/// The chaos tuning set's scenarios (`rules/chaos/`): the engine's
/// thresholds and the root-cause ranking's window scoring were looked at
/// on their runs. The check set (`rules/chaos-check/`, names `check-...`)
/// and the root-cause set (`rules/chaos-rca/`, `rca-...`) never were.
pub const CHAOS_TUNED: [&str; 14] = [
    "payments-errors",
    "catalog-latency",
    "cart-crash",
    "recommendation-leak",
    "orders-cpu",
    "checkout-peer-timeout",
    "frontend-readiness",
    "orders-bad-release",
    "recommendation-errors",
    "frontend-latency",
    "checkout-errors",
    "cart-latency",
    "payments-latency",
    "no-fault-load-steps",
];

/// For a root-cause case, by the name of its folder (the last part of
/// `name`): `<service>_<kind>_<scenario>` as `aiops eval chaos --record`
/// writes it, `<service>_<kind>_<n>` from the synthetic generator.
pub fn rca_case(name: &str) -> &'static str {
    let folder = name.rsplit('/').next().unwrap_or(name);
    let scenario = folder.splitn(3, '_').nth(2).unwrap_or("");
    if CHAOS_TUNED.contains(&scenario) {
        "tuned on (chaos tuning set)"
    } else if !scenario.is_empty() && scenario.bytes().all(|b| b.is_ascii_digit()) {
        // the departures from RCAEval's scoring were first tried on them
        "tuned on (synthetic)"
    } else {
        "not tuned on"
    }
}

pub fn nab_category(category: &str) -> &'static str {
    if NAB_TUNED.contains(&category) {
        "tuned on"
    } else {
        "not tuned on"
    }
}

/// For a Loghub-layout file (`<System>_2k...`): whether its system is
/// one the miner was tuned on; the shop's own recordings are also tuned
/// on (the miner's structured-line rules were written for them).
pub fn log_file(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let system = name.split(['_', '.']).next().unwrap_or("");
    if LOGHUB_TUNED.contains(&system) {
        format!("tuned on (Loghub development system {system})")
    } else if system == "shop" {
        "tuned on (the shop's own logs)".to_owned()
    } else {
        format!("not tuned on ({name} is not one of the miner's development systems)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chaos_tuning_list_is_the_tuning_sets_scenarios() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/chaos");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                let text = std::fs::read_to_string(e.ok()?.path()).ok()?;
                let line = text.lines().find(|l| l.starts_with("name:"))?;
                Some(line["name:".len()..].trim().to_owned())
            })
            .collect();
        names.sort();
        let mut listed: Vec<&str> = CHAOS_TUNED.to_vec();
        listed.sort_unstable();
        assert_eq!(names, listed);
    }

    #[test]
    fn files_are_told_apart_by_system() {
        assert!(
            log_file(Path::new("/d/HPC/HPC_2k.log_structured_corrected.csv"))
                .starts_with("tuned on (Loghub")
        );
        assert!(log_file(Path::new("shop.log_structured.csv")).starts_with("tuned on (the shop"));
        assert!(log_file(Path::new("Apache_2k.log_structured.csv")).starts_with("not tuned on"));
        assert_eq!(nab_category("realTraffic"), "tuned on");
        assert_eq!(
            rca_case("cart_crash_cart-crash"),
            "tuned on (chaos tuning set)"
        );
        assert_eq!(rca_case("x/cart_delay_17"), "tuned on (synthetic)");
        assert_eq!(rca_case("cart_errors_check-cart-errors"), "not tuned on");
        assert_eq!(rca_case("checkout_delay/1"), "not tuned on");
        assert_eq!(nab_category("realKnownCause"), "not tuned on");
    }
}
