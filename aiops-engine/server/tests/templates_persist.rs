//! Learned log templates survive an engine restart: the same line maps to
//! the same template, its count goes on, and it is not new again. A stored
//! snapshot that cannot be read costs relearning, never the start-up.

use std::collections::HashMap;
use std::time::Duration;

use aiops_incident_db::IncidentDb;
use aiops_server::app::run;
use aiops_server::config::Config;
use aiops_server::state::AppState;
use serde_json::{Value, json};

struct Engine {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(database: &str) -> Engine {
    let yaml = format!("incidents:\n  database: \"{database}\"\n");
    let config = Config::parse(&yaml, &HashMap::new()).expect("config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(config);
    let task = tokio::spawn(run(listener, state, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Engine { base, stop, task }
}

impl Engine {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("join").expect("clean stop");
    }
}

async fn push(base: &str, lines: &[&str]) {
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().expect("time");
    let values: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| json!([(now_ns + i as i64).to_string(), l]))
        .collect();
    let body = json!({"streams": [{"stream": {"service": "cart"}, "values": values}]});
    let response = reqwest::Client::new()
        .post(format!("{base}/loki/api/v1/push"))
        .json(&body)
        .send()
        .await
        .expect("push");
    assert!(response.status().is_success(), "{}", response.status());
}

/// The cart's templates once the pushed lines are mined (the feed is async).
async fn templates(base: &str, want_total: u64) -> Vec<Value> {
    let client = reqwest::Client::new();
    let mut last = Vec::new();
    for _ in 0..100 {
        let body: Value = client
            .get(format!("{base}/api/v1/templates?service=cart"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        last = body["data"].as_array().cloned().unwrap_or_default();
        let total: u64 = last.iter().filter_map(|t| t["count"].as_u64()).sum();
        if total >= want_total {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("templates never reached {want_total} lines: {last:?}");
}

fn by_template(list: &[Value]) -> HashMap<String, (String, u64)> {
    list.iter()
        .map(|t| {
            (
                t["template"].as_str().unwrap_or_default().to_owned(),
                (
                    t["id"].as_str().unwrap_or_default().to_owned(),
                    t["count"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learned_templates_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite:{}", dir.path().join("engine.db").display());

    let engine = start(&database).await;
    push(
        &engine.base,
        &[
            "cart 17 emptied after 31 ms",
            "cart 18 emptied after 2 ms",
            "item 5 added to cart 18",
            "cart 19 emptied after 9 ms",
        ],
    )
    .await;
    let before = by_template(&templates(&engine.base, 4).await);
    engine.stop().await;
    assert_eq!(before.len(), 2, "{before:?}");

    let engine = start(&database).await;
    // restored before any new line arrives
    let restored = by_template(&templates(&engine.base, 4).await);
    assert_eq!(restored, before);
    // a line seen before matches its old template; the first line of a
    // new run would otherwise have founded a template of its own text
    push(&engine.base, &["cart 20 emptied after 4 ms"]).await;
    let after = by_template(&templates(&engine.base, 5).await);
    let (emptied, _) = before
        .iter()
        .find(|(_, (_, count))| *count == 3)
        .expect("the emptied template");
    assert_eq!(after[emptied].0, before[emptied].0, "same id");
    assert_eq!(after[emptied].1, 4, "count goes on");
    assert_eq!(after.len(), 2, "{after:?}");
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_snapshot_costs_relearning_not_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite:{}", dir.path().join("engine.db").display());
    let db = IncidentDb::connect(&database).await.expect("db");
    db.put_state("log_templates", 1, "{\"miners\": \"not a list\"")
        .await
        .expect("put");
    db.close().await;

    let engine = start(&database).await;
    push(&engine.base, &["cart 1 emptied after 3 ms"]).await;
    let list = templates(&engine.base, 1).await;
    assert_eq!(list.len(), 1, "{list:?}");
    engine.stop().await;

    // the new learning replaced the broken document
    let db = IncidentDb::connect(&database).await.expect("db");
    let stored = db.get_state("log_templates").await.expect("get");
    let stored: Value = serde_json::from_str(stored.as_deref().unwrap_or("")).expect("json");
    assert_eq!(stored["miners"][0]["service"], "cart");
    db.close().await;
}

#[tokio::test]
async fn templates_api_refuses_bad_parameters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite:{}", dir.path().join("engine.db").display());
    let engine = start(&database).await;
    let client = reqwest::Client::new();
    for query in ["limit=0", "limit=abc", "limit=100000", "service="] {
        let response = client
            .get(format!("{}/api/v1/templates?{query}", engine.base))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.expect("json");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    engine.stop().await;
}
