//! `--record <dir>`: each fault of a run becomes a root-cause case in the
//! RCAEval layout (`<service>_<kind>_<scenario>/data.csv` with a `time`
//! column in unix seconds and one column per `<service>_<metric>`, and
//! `inject_time.txt`), from the engine's recorded history, so `aiops eval
//! rca` can score the ranking on the shop's own faults.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::judge::FaultWindow;

/// How much history before the fault a case carries.
pub const PRE_FAULT_MS: i64 = 10 * 60_000;

/// One history answer (`GET /api/v1/history`) as columns keyed
/// `<service>_<metric>`, each a map from unix seconds to value.
pub fn columns(history: &Value) -> BTreeMap<String, BTreeMap<i64, f64>> {
    let mut out: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    let Some(data) = history.get("data").and_then(Value::as_array) else {
        return out;
    };
    for column in data {
        let (Some(service), Some(metric), Some(points)) = (
            column.get("service").and_then(Value::as_str),
            column.get("metric").and_then(Value::as_str),
            column.get("points").and_then(Value::as_array),
        ) else {
            continue;
        };
        // a service name with `_` would be cut at the wrong place by readers
        let service = service.replace('_', "-");
        let values = out.entry(format!("{service}_{metric}")).or_default();
        for point in points {
            let (Some(t), Some(v)) = (
                point.get(0).and_then(Value::as_f64),
                point.get(1).and_then(Value::as_f64),
            ) else {
                continue;
            };
            values.insert(t.round() as i64, v);
        }
    }
    out
}

/// The CSV: one row per second that any column has, empty where one has not.
pub fn csv(columns: &BTreeMap<String, BTreeMap<i64, f64>>, from_s: i64, to_s: i64) -> String {
    let times: BTreeSet<i64> = columns
        .values()
        .flat_map(|c| c.keys().copied())
        .filter(|t| (from_s..=to_s).contains(t))
        .collect();
    let mut out = String::from("time");
    for name in columns.keys() {
        out.push(',');
        out.push_str(&csv_field(name));
    }
    out.push('\n');
    for t in times {
        let _ = write!(out, "{t}");
        for values in columns.values() {
            out.push(',');
            if let Some(v) = values.get(&t) {
                let _ = write!(out, "{v}");
            }
        }
        out.push('\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Writes one case; returns its folder.
pub fn write_case(
    dir: &Path,
    scenario: &str,
    fault: &FaultWindow,
    history: &Value,
) -> std::io::Result<PathBuf> {
    let folder = dir.join(format!("{}_{}_{scenario}", fault.service, fault.kind));
    std::fs::create_dir_all(&folder)?;
    let from_s = (fault.start_ms - PRE_FAULT_MS) / 1000;
    let to_s = fault.end_ms / 1000;
    std::fs::write(
        folder.join("data.csv"),
        csv(&columns(history), from_s, to_s),
    )?;
    std::fs::write(
        folder.join("inject_time.txt"),
        format!("{}\n", fault.start_ms / 1000),
    )?;
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_becomes_an_rcaeval_table() {
        let history: Value = serde_json::from_str(
            r#"{"data":[
              {"service":"payments","metric":"error_ratio","points":[[100.0,0.0],[105.0,0.5]]},
              {"service":"checkout","metric":"peer_error_ratio.payments","points":[[105.0,0.4],[110.0,0.4]]},
              {"service":"my_svc","metric":"cpu","points":[[110.0,1.5]]},
              {"broken":true}]}"#,
        )
        .expect("json");
        let cols = columns(&history);
        assert_eq!(
            cols.keys().collect::<Vec<_>>(),
            vec![
                "checkout_peer_error_ratio.payments",
                "my-svc_cpu",
                "payments_error_ratio"
            ]
        );
        let table = csv(&cols, 100, 110);
        assert_eq!(
            table,
            "time,checkout_peer_error_ratio.payments,my-svc_cpu,payments_error_ratio\n\
             100,,,0\n105,0.4,,0.5\n110,0.4,1.5,\n"
        );
        assert_eq!(csv(&cols, 106, 109).lines().count(), 1, "header only");
    }
}
