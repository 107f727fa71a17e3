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
    fn files_are_told_apart_by_system() {
        assert!(
            log_file(Path::new("/d/HPC/HPC_2k.log_structured_corrected.csv"))
                .starts_with("tuned on (Loghub")
        );
        assert!(log_file(Path::new("shop.log_structured.csv")).starts_with("tuned on (the shop"));
        assert!(log_file(Path::new("Apache_2k.log_structured.csv")).starts_with("not tuned on"));
        assert_eq!(nab_category("realTraffic"), "tuned on");
        assert_eq!(nab_category("realKnownCause"), "not tuned on");
    }
}
