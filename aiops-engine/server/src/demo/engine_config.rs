//! The engine's configuration for the demo, written as YAML so a person can
//! read it (`aiops demo --print-config`) and reuse it with `aiops serve
//! --config`. It goes through the same parser, so environment overrides
//! (AIOPS_*) still apply.

use std::fmt::Write as _;
use std::path::Path;

use shop_topology::SERVICES;

/// Scrape and evaluate often, so a fault shows within a minute or so.
const SCRAPE_INTERVAL: &str = "5s";
const EVALUATION_INTERVAL: &str = "5s";

pub fn yaml(listen: &str, data_dir: &Path) -> String {
    let database = format!("sqlite:{}", data_dir.join("incidents.db").display());
    let mut out = String::new();
    out.push_str("# aiops demo: the engine watching the reference shop on loopback.\n");
    let _ = writeln!(out, "listen: {}", quoted(listen));
    out.push_str("scrape:\n");
    let _ = writeln!(out, "  interval: {SCRAPE_INTERVAL}");
    out.push_str("  jobs:\n");
    for service in SERVICES {
        let _ = writeln!(out, "    - job: {}", service.name);
        let _ = writeln!(out, "      targets: [\"127.0.0.1:{}\"]", service.port);
        let _ = writeln!(out, "      readiness_path: /readyz");
    }
    out.push_str("incidents:\n");
    let _ = writeln!(out, "  database: {}", quoted(&database));
    let _ = writeln!(out, "  evaluation_interval: {EVALUATION_INTERVAL}");
    out
}

/// A JSON string is a valid YAML double-quoted scalar, escapes included.
fn quoted(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::HashMap;
    use std::time::Duration;

    #[test]
    fn the_demo_config_parses_with_a_job_per_service() {
        let dir = Path::new("/tmp/demo data/with \"quotes\"");
        let text = yaml("127.0.0.1:9811", dir);
        let config = Config::parse(&text, &HashMap::new()).expect(&text);
        assert_eq!(config.listen.port(), 9811);
        assert_eq!(config.scrape.interval, Duration::from_secs(5));
        assert_eq!(config.incidents.evaluation_interval, Duration::from_secs(5));
        assert_eq!(
            config.incidents.database,
            "sqlite:/tmp/demo data/with \"quotes\"/incidents.db"
        );
        let jobs: Vec<(&str, &str)> = config
            .scrape
            .jobs
            .iter()
            .map(|j| (j.job.as_str(), j.targets[0].as_str()))
            .collect();
        assert_eq!(jobs.len(), 7);
        assert!(jobs.contains(&("payments", "127.0.0.1:8085")));
        assert!(config.scrape.jobs.iter().all(
            |j| j.metrics_path == "/metrics" && j.readiness_path.as_deref() == Some("/readyz")
        ));
    }

    #[test]
    fn the_environment_still_overrides() {
        let env: HashMap<String, String> =
            [("AIOPS_LISTEN".to_string(), "127.0.0.1:9999".to_string())].into();
        let config = Config::parse(&yaml("127.0.0.1:9800", Path::new("/d")), &env).expect("valid");
        assert_eq!(config.listen.port(), 9999);
    }
}
