//! The Grafana dashboards in `dashboards/`: every PromQL expression parses
//! (promql-parser), and every metric it reads is one the shop's services or
//! the engine export, taken from their real registries, so a renamed metric
//! fails here rather than leaving an empty panel.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use aiops_server::config::Config;
use aiops_server::state::AppState;
use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;
use promql_parser::util::{ExprVisitor, walk_expr};

/// Made by the scraper for every target, not by an exporter.
const SCRAPER_METRICS: &[&str] = &["up"];

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards")
}

/// One PromQL expression and where it stands.
struct Query {
    place: String,
    expr: String,
}

/// Every `expr` of a panel target, and the selector inside each
/// `label_values(<selector>, label)` variable query.
fn queries(file: &str, dashboard: &serde_json::Value) -> Vec<Query> {
    let mut out = Vec::new();
    collect(file, dashboard, "", &mut out);
    out
}

fn collect(file: &str, value: &serde_json::Value, title: &str, out: &mut Vec<Query>) {
    match value {
        serde_json::Value::Object(map) => {
            let title = map
                .get("title")
                .or_else(|| map.get("name"))
                .and_then(|t| t.as_str())
                .unwrap_or(title);
            if let Some(expr) = map.get("expr").and_then(|e| e.as_str()) {
                out.push(Query {
                    place: format!("{file}: panel {title:?}"),
                    expr: expr.to_owned(),
                });
            }
            if let Some(definition) = map.get("definition").and_then(|d| d.as_str())
                && let Some(inner) = definition
                    .strip_prefix("label_values(")
                    .and_then(|rest| rest.rsplit_once(','))
                    .map(|(selector, _)| selector.trim())
            {
                out.push(Query {
                    place: format!("{file}: variable {title:?}"),
                    expr: inner.to_owned(),
                });
            }
            for (key, child) in map {
                if key != "expr" {
                    collect(file, child, title, out);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                collect(file, item, title, out);
            }
        }
        _ => {}
    }
}

/// Grafana's interval variables stand where PromQL wants a duration.
fn without_grafana_variables(expr: &str) -> String {
    let mut out = expr.to_owned();
    for variable in ["$__rate_interval", "$__interval", "$__range"] {
        out = out.replace(variable, "5m");
    }
    out
}

#[derive(Default)]
struct MetricNames {
    names: BTreeSet<String>,
    unnamed: usize,
}

impl ExprVisitor for MetricNames {
    type Error = String;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, String> {
        let selector = match expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vs,
            _ => return Ok(true),
        };
        let by_matcher = selector
            .matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
            .map(|m| m.value.clone());
        match selector.name.clone().or(by_matcher) {
            Some(name) => {
                self.names.insert(name);
            }
            None => self.unnamed += 1,
        }
        Ok(true)
    }
}

/// The metrics an expression reads, or why it is not valid PromQL.
fn metrics_of(expr: &str) -> Result<BTreeSet<String>, String> {
    let parsed = promql_parser::parser::parse(&without_grafana_variables(expr))?;
    let mut names = MetricNames::default();
    walk_expr(&mut names, &parsed)?;
    if names.unnamed > 0 {
        return Err("a selector without a metric name reads every series".into());
    }
    Ok(names.names)
}

/// Sample names an OpenMetrics exposition can carry, from its `# TYPE`
/// lines (a family with no sample yet still has one).
fn exported_names(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total", "_created"],
            "histogram" => &["_bucket", "_sum", "_count", "_created"],
            "summary" => &["", "_sum", "_count", "_created"],
            "info" => &["_info"],
            _ => &[""],
        };
        for suffix in suffixes {
            names.insert(format!("{name}{suffix}"));
        }
    }
    names
}

/// The registries' expositions once every labelled family holds a sample:
/// prometheus-client writes nothing, not even `# TYPE`, for an empty one.
fn known_metrics() -> BTreeSet<String> {
    use aiops_server::telemetry::{HttpLabels, KindLabels, RejectLabels, SourceLabels};
    use shop_common::telemetry::{ClientLabels, ServerLabels};

    let telemetry = shop_common::telemetry::Telemetry::new("cart", "1.0.0");
    telemetry
        .server_duration
        .get_or_create(&ServerLabels {
            http_route: "/carts/{id}".into(),
            http_request_method: "GET",
            http_response_status_code: 200,
        })
        .observe(0.01);
    telemetry
        .client_duration
        .get_or_create(&ClientLabels {
            peer_service: "catalog".into(),
            http_request_method: "GET",
            http_response_status_code: 200,
            error_type: "",
        })
        .observe(0.01);
    let shop = telemetry.encode();

    let config = Config::parse("", &HashMap::<String, String>::new()).expect("default config");
    let metrics = AppState::new(config).metrics;
    let source = SourceLabels {
        source: "remote_write_v1",
    };
    metrics.samples_ingested.get_or_create(&source).inc();
    metrics.log_lines_ingested.get_or_create(&source).inc();
    metrics.log_bytes_ingested.get_or_create(&source).inc();
    let kind = KindLabels { kind: "firing" };
    metrics.alerts_received.get_or_create(&kind).inc();
    metrics.ignored.get_or_create(&kind).inc();
    let reject = RejectLabels {
        endpoint: "remote_write",
        reason: "too_large",
    };
    metrics.requests_rejected.get_or_create(&reject).inc();
    metrics.samples_rejected.get_or_create(&reject).inc();
    metrics
        .http_duration
        .get_or_create(&HttpLabels {
            route: "/api/v1/write".into(),
            method: "POST".into(),
            status: 204,
        })
        .observe(0.001);
    let engine = metrics.encode();
    let mut names = exported_names(&shop);
    names.extend(exported_names(&engine));
    names.extend(SCRAPER_METRICS.iter().map(|s| s.to_string()));
    names
}

/// Problems found in one dashboard, each naming the file and the panel.
fn check(file: &str, text: &str, known: &BTreeSet<String>) -> Vec<String> {
    let dashboard: serde_json::Value = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(e) => return vec![format!("{file}: not JSON: {e}")],
    };
    let queries = queries(file, &dashboard);
    if queries.is_empty() {
        return vec![format!("{file}: no PromQL expression found")];
    }
    let mut problems = Vec::new();
    for query in queries {
        match metrics_of(&query.expr) {
            Err(e) => problems.push(format!(
                "{}: {:?} does not parse: {e}",
                query.place, query.expr
            )),
            Ok(names) => {
                for name in names.difference(known) {
                    problems.push(format!(
                        "{}: {name} is exported by neither the shop nor the engine",
                        query.place
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn every_dashboard_query_parses_and_reads_exported_metrics() {
    let known = known_metrics();
    for expected in [
        "http_server_request_duration_seconds_bucket",
        "http_client_request_duration_seconds_count",
        "process_cpu_seconds_total",
        "aiops_ingest_samples_total",
        "aiops_store_active_series",
        "aiops_analysis_evaluations_total",
    ] {
        assert!(known.contains(expected), "{expected} not among {known:?}");
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dashboards_dir())
        .expect("dashboards/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "dashboards: {files:?}");
    let mut problems = Vec::new();
    let mut checked = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable dashboard");
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        checked += queries(&name, &serde_json::from_str(&text).unwrap_or_default()).len();
        problems.extend(check(&name, &text, &known));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 20, "only {checked} expressions checked");
}

#[test]
fn an_unknown_metric_or_bad_promql_is_named_with_its_panel() {
    let known: BTreeSet<String> = ["up".to_string()].into();
    let dashboard = r#"{"panels":[
        {"title":"fine","targets":[{"expr":"sum(up)"}]},
        {"title":"renamed","targets":[{"expr":"rate(http_requests_total[$__rate_interval])"}]},
        {"title":"broken","targets":[{"expr":"sum(rate(up[5m])"}]},
        {"title":"everything","targets":[{"expr":"{job=\"x\"}"}]}
    ]}"#;
    let problems = check("test.json", dashboard, &known);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].contains("\"renamed\"") && problems[0].contains("http_requests_total"));
    assert!(problems[1].contains("\"broken\"") && problems[1].contains("does not parse"));
    assert!(
        problems[2].contains("\"everything\"") && problems[2].contains("without a metric name")
    );
    assert_eq!(
        check("empty.json", r#"{"panels":[]}"#, &known),
        vec!["empty.json: no PromQL expression found".to_string()]
    );
}

#[test]
fn exported_names_follow_the_openmetrics_suffixes() {
    let names =
        exported_names("# TYPE a counter\n# TYPE b_seconds histogram\n# TYPE c gauge\na_total 1\n");
    for name in [
        "a_total",
        "b_seconds_bucket",
        "b_seconds_count",
        "b_seconds_sum",
        "c",
    ] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    assert!(!names.contains("a"));
}
