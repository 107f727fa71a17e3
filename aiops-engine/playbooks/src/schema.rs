//! The JSON Schema of the playbook format, generated from the model's
//! types (`rules/playbooks/playbook.schema.json` is this, committed; a test
//! fails when the two differ). The engine's own enums (incident state,
//! severity, signal kind, direction) live in the analysis crate, which
//! knows nothing of schemas; the shadows below describe them for editors
//! and a test keeps their names in step with the real ones.

use schemars::JsonSchema;
use serde::Serialize;

use crate::model::Playbook;

/// Where the schema is committed, from the repository's root.
pub const SCHEMA_PATH: &str = "rules/playbooks/playbook.schema.json";

/// The schema as committed: pretty JSON with keys in alphabetical order
/// and a final newline.
pub fn schema_json() -> String {
    let mut schema = schemars::schema_for!(Playbook);
    schema.insert(
        "$id".into(),
        "https://aiops.example/rules/playbooks/playbook.schema.json".into(),
    );
    let mut text =
        serde_json::to_string_pretty(&keys_sorted(schema.to_value())).unwrap_or_default();
    text.push('\n');
    text
}

/// Whether serde_json keeps insertion order depends on which crates a build
/// links (its `preserve_order` feature is unified across the workspace), so
/// the committed text would differ between `cargo run` and the test build:
/// sorting makes it one text for both.
fn keys_sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key, keys_sorted(value)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(keys_sorted).collect())
        }
        other => other,
    }
}

/// An incident's lifecycle state.
#[derive(JsonSchema, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum State {
    Open,
    Acknowledged,
    Mitigated,
    Resolved,
}

/// How bad an incident is: critical (a service down or crashing, errors
/// users see, a critical alert), warning (any other strong signal), info.
#[derive(JsonSchema, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum Severity {
    Info,
    Warning,
    Critical,
}

/// A signal's kind as the engine names it.
#[derive(JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum SignalKind {
    MetricAnomaly,
    NewLogTemplate,
    LogRateShift,
    LogErrorBurst,
    Alert,
    Deploy,
    Restart,
}

/// Which way a metric moved.
#[derive(JsonSchema, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum Direction {
    Up,
    Down,
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each shadow serialises exactly as the engine's own type does.
    #[test]
    fn shadows_name_what_the_engine_names() {
        use aiops_analysis as a;
        let same = |shadow: serde_json::Value, real: serde_json::Value| assert_eq!(shadow, real);
        let j = |v: &dyn erased::Ser| v.json();
        for (shadow, real) in [
            (j(&State::Open), j(&a::IncidentState::Open)),
            (j(&State::Acknowledged), j(&a::IncidentState::Acknowledged)),
            (j(&State::Mitigated), j(&a::IncidentState::Mitigated)),
            (j(&State::Resolved), j(&a::IncidentState::Resolved)),
            (j(&Severity::Info), j(&a::Severity::Info)),
            (j(&Severity::Warning), j(&a::Severity::Warning)),
            (j(&Severity::Critical), j(&a::Severity::Critical)),
            (
                j(&SignalKind::MetricAnomaly),
                j(&a::SignalKind::MetricAnomaly),
            ),
            (
                j(&SignalKind::NewLogTemplate),
                j(&a::SignalKind::NewLogTemplate),
            ),
            (
                j(&SignalKind::LogRateShift),
                j(&a::SignalKind::LogRateShift),
            ),
            (
                j(&SignalKind::LogErrorBurst),
                j(&a::SignalKind::LogErrorBurst),
            ),
            (j(&SignalKind::Alert), j(&a::SignalKind::Alert)),
            (j(&SignalKind::Deploy), j(&a::SignalKind::Deploy)),
            (j(&SignalKind::Restart), j(&a::SignalKind::Restart)),
            (j(&Direction::Up), j(&a::Direction::Up)),
            (j(&Direction::Down), j(&a::Direction::Down)),
            (j(&Direction::None), j(&a::Direction::None)),
        ] {
            same(shadow, real);
        }
    }

    mod erased {
        pub trait Ser {
            fn json(&self) -> serde_json::Value;
        }
        impl<T: serde::Serialize> Ser for T {
            fn json(&self) -> serde_json::Value {
                serde_json::to_value(self).unwrap_or_default()
            }
        }
    }

    /// The committed schema is what the types say; regenerate it with
    /// `aiops playbook schema > rules/playbooks/playbook.schema.json`.
    #[test]
    fn the_committed_schema_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(SCHEMA_PATH);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == schema_json(),
            "{} is out of date: run `aiops playbook schema > {SCHEMA_PATH}` (or cargo run -p aiops-server --bin aiops -- playbook schema)",
            path.display()
        );
    }
}
