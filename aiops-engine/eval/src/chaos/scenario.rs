//! Scenario files: a baseline load with load steps, and faults (service,
//! kind, parameters, start, duration) injected through the shop's chaos
//! API or, for a bad release, by redeploying a service with a new version
//! and start-up faults. Validated as a whole before anything starts.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// The harness's own fault kind: a redeploy with a new version and faults
/// from start-up, undone at the fault's end.
pub const RELEASE: &str = "release";

const MAX_DURATION: Duration = Duration::from_secs(6 * 3600);
const MAX_FAULTS: usize = 50;
const MAX_STEPS: usize = 100;
const MAX_FILE_BYTES: u64 = 256 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub about: String,
    pub duration: Duration,
    pub load: Load,
    pub faults: Vec<Fault>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Journeys per second at the start.
    pub rate: f64,
    pub users: usize,
    /// Rate changes at given times (not faults: a good detector ignores them).
    pub steps: Vec<LoadStep>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadStep {
    pub at: Duration,
    pub rate: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub service: String,
    /// `errors`, `latency`, ..., or `release`.
    pub kind: String,
    pub action: FaultAction,
    pub start: Duration,
    pub duration: Duration,
}

impl Fault {
    pub fn end(&self) -> Duration {
        self.start + self.duration
    }

    /// A stable, readable label: `payments_errors`.
    pub fn label(&self) -> String {
        format!("{}_{}", self.service, self.kind)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// The JSON object posted to `/admin/chaos`.
    Chaos(Value),
    /// Redeploy with `SHOP_VERSION` and `SHOP_FAULTS`; roll back at the end.
    Release { version: String, faults: Vec<Value> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    about: String,
    duration: String,
    load: RawLoad,
    #[serde(default)]
    faults: Vec<RawFault>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    rate: f64,
    #[serde(default = "default_users")]
    users: usize,
    #[serde(default)]
    steps: Vec<RawStep>,
}

fn default_users() -> usize {
    50
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at: String,
    rate: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    service: String,
    /// A chaos API fault object, e.g. `{kind: errors, status: 500, rate: 0.5}`.
    #[serde(default)]
    fault: Option<Value>,
    #[serde(default)]
    release: Option<RawRelease>,
    start: String,
    duration: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelease {
    version: String,
    faults: Vec<Value>,
}

/// Reads and validates one scenario file; the error names the file and field.
pub fn load(path: &Path) -> Result<Scenario, String> {
    let name = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{name}: cannot read: {e}"))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(format!(
            "{name}: {size} bytes, more than the {MAX_FILE_BYTES} a scenario may have"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    parse(&text).map_err(|e| format!("{name}: {e}"))
}

pub fn parse(text: &str) -> Result<Scenario, String> {
    let raw: RawScenario =
        serde_saphyr::from_str(text).map_err(|e| format!("invalid yaml: {e}"))?;
    let duration = parse_duration("duration", &raw.duration)?;
    if duration > MAX_DURATION {
        return Err(format!("duration: at most {MAX_DURATION:?}"));
    }
    if raw.name.is_empty()
        || raw.name.len() > 64
        || !raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "name: {:?} must be 1-64 characters of [A-Za-z0-9_-]",
            raw.name
        ));
    }
    let load = Load {
        rate: rate("load.rate", raw.load.rate)?,
        users: match raw.load.users {
            1..=10_000 => raw.load.users,
            n => return Err(format!("load.users: {n} is not within 1..=10000")),
        },
        steps: raw
            .load
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let at = parse_duration(&format!("load.steps[{i}].at"), &s.at)?;
                if at >= duration {
                    return Err(format!("load.steps[{i}].at: after the scenario's end"));
                }
                Ok(LoadStep {
                    at,
                    rate: rate(&format!("load.steps[{i}].rate"), s.rate)?,
                })
            })
            .collect::<Result<_, String>>()?,
    };
    if load.steps.len() > MAX_STEPS {
        return Err(format!("load.steps: at most {MAX_STEPS}"));
    }
    if load.steps.windows(2).any(|w| w[0].at >= w[1].at) {
        return Err("load.steps: times must increase".into());
    }
    if raw.faults.len() > MAX_FAULTS {
        return Err(format!("faults: at most {MAX_FAULTS}"));
    }
    let mut faults = Vec::with_capacity(raw.faults.len());
    for (i, f) in raw.faults.into_iter().enumerate() {
        faults.push(fault(i, f, duration)?);
    }
    faults.sort_by_key(|f| f.start);
    Ok(Scenario {
        name: raw.name,
        about: raw.about,
        duration,
        load,
        faults,
    })
}

fn fault(i: usize, f: RawFault, total: Duration) -> Result<Fault, String> {
    let at = |field: &str| format!("faults[{i}].{field}");
    if shop_topology::service(&f.service).is_none() {
        return Err(format!(
            "{}: {:?} is not one of {}",
            at("service"),
            f.service,
            shop_topology::names().collect::<Vec<_>>().join(", ")
        ));
    }
    let start = parse_duration(&at("start"), &f.start)?;
    let length = parse_duration(&at("duration"), &f.duration)?;
    if length.is_zero() {
        return Err(format!("{}: must be more than 0", at("duration")));
    }
    if start + length > total {
        return Err(format!("faults[{i}]: ends after the scenario's duration"));
    }
    let (kind, action) = match (f.fault, f.release) {
        (Some(fault), None) => {
            let kind = chaos_kind(&fault).map_err(|e| format!("{}: {e}", at("fault")))?;
            (kind, FaultAction::Chaos(fault))
        }
        (None, Some(release)) => {
            if release.version.is_empty() || release.version.len() > 64 {
                return Err(format!("{}: 1 to 64 characters", at("release.version")));
            }
            for (j, fault) in release.faults.iter().enumerate() {
                chaos_kind(fault).map_err(|e| format!("{}[{j}]: {e}", at("release.faults")))?;
            }
            (
                RELEASE.to_owned(),
                FaultAction::Release {
                    version: release.version,
                    faults: release.faults,
                },
            )
        }
        _ => {
            return Err(format!(
                "faults[{i}]: give exactly one of `fault` (a chaos API object) or `release`"
            ));
        }
    };
    Ok(Fault {
        service: f.service,
        kind,
        action,
        start,
        duration: length,
    })
}

/// The `kind` of a chaos API fault object; the service checks the rest.
fn chaos_kind(fault: &Value) -> Result<String, String> {
    let kind = fault
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("a fault is an object with a string `kind`")?;
    if !shop_topology::FAULT_KINDS.contains(&kind) {
        return Err(format!(
            "unknown kind {kind:?}; expected one of {}",
            shop_topology::FAULT_KINDS.join(", ")
        ));
    }
    Ok(kind.to_owned())
}

fn parse_duration(field: &str, raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|e| format!("{field}: {raw:?} is not a duration ({e})"))
}

fn rate(field: &str, rate: f64) -> Result<f64, String> {
    if rate.is_finite() && rate > 0.0 && rate <= 10_000.0 {
        Ok(rate)
    } else {
        Err(format!("{field}: {rate} is not within (0, 10000]"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const GOOD: &str = r#"
name: payments-errors
about: half of the payments fail
duration: 5m
load:
  rate: 20
  steps:
    - {at: 150s, rate: 30}
faults:
  - service: payments
    fault: {kind: errors, status: 500, rate: 0.5}
    start: 2m
    duration: 90s
  - service: orders
    release:
      version: 2.0.0-bad
      faults: [{kind: latency, ms: 500, rate: 1.0}]
    start: 30s
    duration: 1m
"#;

    #[test]
    fn parses_a_scenario() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.name, "payments-errors");
        assert_eq!(s.duration, Duration::from_secs(300));
        assert_eq!(s.load.users, 50);
        assert_eq!(s.load.steps[0].at, Duration::from_secs(150));
        // sorted by start
        assert_eq!(s.faults[0].kind, "release");
        assert_eq!(s.faults[1].label(), "payments_errors");
        assert_eq!(s.faults[1].end(), Duration::from_secs(210));
    }

    #[test]
    fn refuses_bad_scenarios_saying_where() {
        let cases = [
            (
                "name: x\nduration: 1m\nload: {rate: 1}\nbogus: 1\n",
                "bogus",
            ),
            ("name: 'a b'\nduration: 1m\nload: {rate: 1}\n", "name"),
            ("name: x\nduration: soon\nload: {rate: 1}\n", "duration"),
            ("name: x\nduration: 1m\nload: {rate: 0}\n", "load.rate"),
            (
                "name: x\nduration: 1m\nload: {rate: 1, users: 0}\n",
                "load.users",
            ),
            (
                "name: x\nduration: 1m\nload: {rate: 1, steps: [{at: 2m, rate: 1}]}\n",
                "load.steps[0].at",
            ),
            (
                "name: x\nduration: 1m\nload: {rate: 1}\nfaults: [{service: db, fault: {kind: errors}, start: 1s, duration: 1s}]\n",
                "faults[0].service",
            ),
            (
                "name: x\nduration: 1m\nload: {rate: 1}\nfaults: [{service: cart, fault: {kind: meteor}, start: 1s, duration: 1s}]\n",
                "meteor",
            ),
            (
                "name: x\nduration: 1m\nload: {rate: 1}\nfaults: [{service: cart, fault: {kind: crash}, start: 50s, duration: 20s}]\n",
                "ends after",
            ),
            (
                "name: x\nduration: 1m\nload: {rate: 1}\nfaults: [{service: cart, start: 5s, duration: 20s}]\n",
                "exactly one",
            ),
            ("[1, 2", "invalid yaml"),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
