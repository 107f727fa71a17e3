//! Killed at any step, the engine never repeats an action it carried out,
//! and a pending approval outlives it. A real `aiops serve` (killed with
//! SIGKILL, started again on the same database) acts through a real
//! supervisor's control API on a real process; the supervisor counts every
//! restart it was asked for, so "exactly once" is counted, not assumed.
//!
//! An Alertmanager alert opens the incident (a critical alert of service
//! `target`); the playbook restarts `target`. The target ignores SIGTERM, so
//! each restart takes the supervisor's whole stop grace (6 s): long enough
//! to kill the engine while the action runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::free_port;
use serde_json::{Value, json};
use supervisor::{Options, Output, Spec, Supervisor};

const CONTROL_TOKEN: &str = "control-token-for-the-test";
const API_TOKEN: &str = "responder-token-0123456";

struct Engine {
    child: Child,
}

impl Engine {
    fn start(config: &Path, log: &Path) -> Engine {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("engine log");
        let child = Command::new(env!("CARGO_BIN_EXE_aiops"))
            .args(["serve", "--config"])
            .arg(config)
            .env("AIOPS_LOG", "info")
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start aiops serve");
        Engine { child }
    }

    /// SIGKILL: no shutdown, no last write.
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn setup(dir: &Path, mode: &str, engine_port: u16, control_port: u16) -> PathBuf {
    let playbooks = dir.join("playbooks");
    std::fs::create_dir_all(&playbooks).expect("dir");
    std::fs::write(
        playbooks.join("restart.yaml"),
        format!(
            "name: restart-target\nmode: {mode}\nwhen:\n  alerts: [{{alertname: TargetBroken}}]\nsteps:\n  - action: restart\nguardrails:\n  verify_within: 5m\n"
        ),
    )
    .expect("playbook");
    let config = dir.join("aiops.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: \"127.0.0.1:{engine_port}\"\n\
             auth:\n  api_tokens:\n    - {{name: rita, role: responder, token: {API_TOKEN}}}\n\
             scrape:\n  interval: 1s\n  jobs:\n    - {{job: engine, targets: [\"127.0.0.1:{engine_port}\"]}}\n\
             incidents:\n  database: \"sqlite:{}\"\n  evaluation_interval: 1s\n\
             remediation:\n  playbooks: {}\n  executor: process\n  supervisor: {{url: \"http://127.0.0.1:{control_port}\", token: {CONTROL_TOKEN}}}\n",
            dir.join("incidents.db").display(),
            playbooks.display()
        ),
    )
    .expect("config");
    config
}

async fn wait_up(client: &reqwest::Client, engine: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if client
            .get(format!("{engine}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the engine did not come up");
}

async fn fire_alert(client: &reqwest::Client, engine: &str) {
    let alert = json!({"version":"4","groupKey":"{}:{alertname=\"TargetBroken\"}","truncatedAlerts":0,"status":"firing","receiver":"aiops",
        "groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
        "alerts":[{"status":"firing","labels":{"alertname":"TargetBroken","service":"target","severity":"critical"},
        "annotations":{"summary":"target is broken"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z",
        "generatorURL":"http://prom","fingerprint":"00000000000000aa"}]});
    let r = client
        .post(format!("{engine}/api/v1/alerts/alertmanager"))
        .json(&alert)
        .send()
        .await
        .expect("alert");
    assert!(r.status().is_success(), "{}", r.status());
}

async fn actions(client: &reqwest::Client, engine: &str) -> Vec<Value> {
    let Ok(r) = client.get(format!("{engine}/api/v1/actions")).send().await else {
        return Vec::new();
    };
    r.json::<Value>()
        .await
        .ok()
        .and_then(|v| v["data"].as_array().cloned())
        .unwrap_or_default()
}

async fn until_action(
    client: &reqwest::Client,
    engine: &str,
    state: &str,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        if let Some(a) = actions(client, engine)
            .await
            .into_iter()
            .find(|a| a["action"] == "restart" && a["state"] == state)
        {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no restart action {state} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A supervisor with one process that ignores SIGTERM, its control API
/// served on `port`.
async fn target(port: u16) -> (Arc<Supervisor>, tokio::task::JoinHandle<()>) {
    let sup = Supervisor::new();
    sup.start(
        "target",
        Spec {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "trap '' TERM; while true; do sleep 1; done".into(),
            ],
            env: vec![],
        },
        Options {
            output: Output::Discard,
            stop_grace: Duration::from_secs(6),
            ..Options::default()
        },
    )
    .expect("start the target");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("control port");
    let served = sup.clone();
    let handle = tokio::spawn(async move {
        let _ = supervisor::control::serve(listener, served, CONTROL_TOKEN, std::future::pending())
            .await;
    });
    (sup, handle)
}

fn restarts(sup: &Supervisor) -> u64 {
    sup.state("target").map_or(0, |s| s.restarts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_an_action_runs_it_is_never_carried_out_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine_port, control_port) = (free_port(), free_port());
    let (sup, control) = target(control_port).await;
    let config = setup(dir.path(), "auto", engine_port, control_port);
    let log = dir.path().join("engine.log");
    let engine = format!("http://127.0.0.1:{engine_port}");
    let client = reqwest::Client::new();

    let mut first = Engine::start(&config, &log);
    wait_up(&client, &engine).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // fresh telemetry
    fire_alert(&client, &engine).await;
    let running = until_action(&client, &engine, "running", Duration::from_secs(30)).await;
    // kill -9 while the supervisor is still stopping the target
    first.kill9();
    let id = running["id"].as_str().expect("id").to_owned();

    let mut second = Engine::start(&config, &log);
    wait_up(&client, &engine).await;
    let failed = until_action(&client, &engine, "failed", Duration::from_secs(30)).await;
    assert_eq!(failed["id"], id.as_str(), "the same action, not a new one");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap_or("")
            .contains("not carried out again"),
        "{failed}"
    );
    // long enough for any repeat: the incident still matches, the alert still fires
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(
        restarts(&sup),
        1,
        "the supervisor was asked once: {:?}",
        actions(&client, &engine).await
    );
    let all = actions(&client, &engine).await;
    assert_eq!(
        all.iter().filter(|a| a["action"] == "restart").count(),
        1,
        "{all:?}"
    );

    // and after the action finished: killed again, still once
    second.kill9();
    let _third = Engine::start(&config, &log);
    wait_up(&client, &engine).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(restarts(&sup), 1);
    control.abort();
    sup.stop_all(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_approval_outlives_the_engine_and_runs_once_approved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine_port, control_port) = (free_port(), free_port());
    let (sup, control) = target(control_port).await;
    let config = setup(dir.path(), "approve", engine_port, control_port);
    let log = dir.path().join("engine.log");
    let engine = format!("http://127.0.0.1:{engine_port}");
    let client = reqwest::Client::new();

    let mut first = Engine::start(&config, &log);
    wait_up(&client, &engine).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    fire_alert(&client, &engine).await;
    let pending = until_action(
        &client,
        &engine,
        "pending_approval",
        Duration::from_secs(30),
    )
    .await;
    let id = pending["id"].as_str().expect("id").to_owned();
    first.kill9();
    assert_eq!(restarts(&sup), 0);

    let _second = Engine::start(&config, &log);
    wait_up(&client, &engine).await;
    let still = until_action(
        &client,
        &engine,
        "pending_approval",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(still["id"], id.as_str(), "the approval survived");
    // a viewer-less anonymous caller may not approve; a responder may
    let refused = client
        .post(format!("{engine}/api/v1/actions/{id}/approve"))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    let approved = client
        .post(format!("{engine}/api/v1/actions/{id}/approve"))
        .bearer_auth(API_TOKEN)
        .json(&json!({"note": "go"}))
        .send()
        .await
        .expect("approve");
    assert!(
        approved.status().is_success(),
        "{}",
        approved.text().await.unwrap_or_default()
    );
    let done = until_action(&client, &engine, "succeeded", Duration::from_secs(40)).await;
    assert_eq!(done["id"], id.as_str());
    assert!(
        done["history"]
            .as_array()
            .is_some_and(|h| h.iter().any(|t| t["by"] == "rita")),
        "who approved is recorded: {done}"
    );
    let again = client
        .post(format!("{engine}/api/v1/actions/{id}/approve"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("approve again");
    assert_eq!(again.status(), reqwest::StatusCode::CONFLICT);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(restarts(&sup), 1, "approved once, carried out once");
    control.abort();
    sup.stop_all(&[]).await;
}
