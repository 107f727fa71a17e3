//! What operators change in `rules/detectors.yaml`: detector settings per
//! signal kind, metric and label names, and dependencies the metrics don't
//! show. Parsed by the edge (YAML); validated here.

use serde::Deserialize;

use aiops_detect::DetectorConfig;

use crate::analyzer::AnalysisConfig;
use crate::derive::MetricNames;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// One entry per signal kind; fields left out keep their defaults.
    #[serde(default)]
    pub detectors: Vec<DetectorConfig>,
    #[serde(default)]
    pub metric_names: Option<MetricNames>,
    /// Labels naming a service, in order of preference.
    #[serde(default)]
    pub service_labels: Option<Vec<String>>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    /// What makes an incident critical.
    #[serde(default)]
    pub severity: Option<crate::severity::SeverityConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    pub caller: String,
    pub callee: String,
}

impl RulesFile {
    /// Applies the file over `config`; the error names the entry and field.
    pub fn apply(self, config: &mut AnalysisConfig) -> Result<(), String> {
        for (index, detector) in self.detectors.into_iter().enumerate() {
            // deserialisation validated it already; checked again for files
            // built in code
            detector
                .validate()
                .map_err(|e| format!("detectors[{index}]: {e}"))?;
            config.detectors.set(detector);
        }
        if let Some(names) = self.metric_names {
            config.names = names;
        }
        if let Some(labels) = self.service_labels {
            if labels.is_empty() || labels.iter().any(|l| l.is_empty()) {
                return Err("service_labels: must list at least one non-empty label name".into());
            }
            config.service_keys = labels;
        }
        if let Some(severity) = self.severity {
            if !(severity.critical_error_ratio > 0.0 && severity.critical_error_ratio <= 1.0) {
                return Err(format!(
                    "severity.critical_error_ratio: {} is not within (0, 1]",
                    severity.critical_error_ratio
                ));
            }
            config.correlator.severity = severity;
        }
        for (index, dep) in self.dependencies.into_iter().enumerate() {
            if dep.caller.is_empty() || dep.callee.is_empty() || dep.caller == dep.callee {
                return Err(format!(
                    "dependencies[{index}]: caller and callee must be two different non-empty service names"
                ));
            }
            config.edges.push((dep.caller, dep.callee));
        }
        Ok(())
    }
}

/// Reads a `DetectorConfig` list entry the way the file would give it.
pub fn detector_from_json(value: serde_json::Value) -> Result<DetectorConfig, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_partial_entry_keeps_the_defaults_and_bad_values_name_the_field() {
        let ok =
            detector_from_json(json!({"signal": "error_ratio", "min_abs_effect": 0.05})).unwrap();
        assert_eq!(ok.min_abs_effect, 0.05);
        let err = detector_from_json(json!({"signal": "error_ratio", "window": 1})).unwrap_err();
        assert!(err.contains("window"), "{err}");
        let err = detector_from_json(json!({"signal": "error_ratio", "bogus": 1})).unwrap_err();
        assert!(err.contains("bogus"), "{err}");
        let err = detector_from_json(json!({"signal": "nonsense"})).unwrap_err();
        assert!(err.contains("nonsense") || err.contains("variant"), "{err}");
    }

    #[test]
    fn dependencies_and_labels_are_checked() {
        let mut config = AnalysisConfig::default();
        let bad = RulesFile {
            dependencies: vec![Dependency {
                caller: "a".into(),
                callee: "a".into(),
            }],
            ..RulesFile::default()
        };
        assert!(
            bad.apply(&mut config)
                .unwrap_err()
                .contains("dependencies[0]")
        );
        let bad = RulesFile {
            service_labels: Some(vec![]),
            ..RulesFile::default()
        };
        assert!(
            bad.apply(&mut config)
                .unwrap_err()
                .contains("service_labels")
        );
        let good = RulesFile {
            dependencies: vec![Dependency {
                caller: "web".into(),
                callee: "db".into(),
            }],
            ..RulesFile::default()
        };
        good.apply(&mut config).unwrap();
        assert_eq!(config.edges, vec![("web".to_string(), "db".to_string())]);
    }
}
